"""A small MIDI corpus built in code, with what a correct ``clsm data build --meters 4/4`` must make of it.

Every file is described by :class:`SongPlan`: the melody tracks it holds (step notes on the 16th
grid, 120 ticks a step), the other tracks (drums, bass, chords, out of range) and, worked out by
hand in the comments, how many windows each melody gives and which transpositions it allows.
:func:`write_corpus` writes the files; the tests compare the built dataset with the plans.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from synthetic_midi.midi_factory import TrackSpec, make_midi, melody_track

STEP_TICKS = 120  # at 480 ticks per beat


def scale_line(num_bars: int, low: int, high: int, rest_bars: tuple[int, ...] = (), note_steps: int = 4) -> list:
    """Notes of ``note_steps`` steps walking up and down between ``low`` and ``high`` (both reached),
    silent in ``rest_bars`` (0-based)."""
    pitches = list(range(low, high + 1)) + list(range(high - 1, low, -1))
    notes = []
    for index, start in enumerate(range(0, num_bars * 16, note_steps)):
        if start // 16 in rest_bars:
            continue
        notes.append((start, start + note_steps, pitches[index % len(pitches)]))
    return notes


def chords(num_bars: int) -> TrackSpec:
    notes = []
    for bar in range(num_bars):
        for pitch in (60, 64, 67):
            notes.append((bar * 16, bar * 16 + 16, pitch))
    return melody_track(notes, program=0, channel=2, name="Piano")


def drums(num_bars: int) -> TrackSpec:
    return melody_track([(step, step + 1, 36 + step % 3) for step in range(0, num_bars * 16, 4)], channel=9, program=None, name="Kit")


def bass(num_bars: int, program: int = 33, name: str = "Electric Bass") -> TrackSpec:
    # In range 55..84 and monophonic on purpose: only the bass filter may reject it.
    return melody_track([(bar * 16, bar * 16 + 8, 60) for bar in range(num_bars)], channel=1, program=program, name=name)


@dataclass
class MelodyPlan:
    notes: list  # (start_step, end_step, pitch)
    windows: int  # windows kept (original key)
    dropped_for_rest: int
    shifts: tuple[int, ...]


@dataclass
class SongPlan:
    path: str  # relative to the corpus root
    identity: str
    melodies: list[MelodyPlan] = field(default_factory=list)  # in track order
    other_tracks: list[TrackSpec] = field(default_factory=list)  # written after the melodies
    time_signatures: list = field(default_factory=lambda: [(0, 4, 4)])
    raw_bytes: bytes | None = None  # a corrupt file
    skip_reason: str | None = None
    track_counts: dict = field(default_factory=dict)  # filter -> tracks (melodies count as usable)


ALL_SHIFTS = tuple(range(-6, 6))


def corpus_plans() -> list[SongPlan]:
    plans = [
        # 12 bars of quarter notes 60..72: windows start at bars 0..4 -> 5; shifts keep 60+s >= 55
        # and 72+s <= 84: s in -5..5 (11). Drums, bass, chords and a high line are filtered.
        SongPlan(
            "pop/anthem.mid",
            "anthem",
            [MelodyPlan(scale_line(12, 60, 72), 5, 0, tuple(range(-5, 6)))],
            [drums(12), bass(12), chords(12), melody_track(scale_line(12, 80, 90), channel=3, name="Lead high")],
            track_counts={"drum": 1, "bass": 1, "polyphonic": 1, "out of range": 1},
        ),
        # 16 bars, silent in bars 8-9: windows 0..8 (9); those holding both silent bars (2..8)
        # have 32 steps of rest -> dropped 7; window 1 ends with one silent bar (16 steps) -> kept.
        # Range 55..80: s in 0..4.
        SongPlan("pop/gap.mid", "gap", [MelodyPlan(scale_line(16, 55, 80, rest_bars=(8, 9)), 2, 7, (0, 1, 2, 3, 4))]),
        # 2/2 has the 4/4 grid: 8 bars -> 1 window. Range 67..79 (-6..5 all fit).
        SongPlan("pop/cut_time.mid", "cut_time", [MelodyPlan(scale_line(8, 67, 79, note_steps=8), 1, 0, ALL_SHIFTS)],
                 time_signatures=[(0, 2, 2)]),
        # No time signature: 4/4. 9 bars -> 2 windows; two melodies (different channels): 2 + 2.
        # (Every melody of the corpus has its own rhythm or pitch cycle, so no window of one song
        # equals a window of another in any key: the held-out filter must drop nothing here.)
        SongPlan(
            "pop/no_meter.mid",
            "no_meter",
            [
                MelodyPlan(scale_line(9, 62, 74, note_steps=2), 2, 0, ALL_SHIFTS),
                MelodyPlan(scale_line(9, 63, 70, note_steps=8), 2, 0, ALL_SHIFTS),
            ],
            time_signatures=[],
        ),
        # 3/4: a 3/4 window; in a build of 4/4 only (the tests' --meters 4/4), skipped for its
        # meter before any track is looked at.
        SongPlan("folk/waltz.mid", "waltz", [MelodyPlan(scale_line(12, 60, 72), 0, 0, ())],
                 time_signatures=[(0, 3, 4)], skip_reason="meter"),
        # 4/4 then 3/4 from bar 5 (15 bars: 4 of 4/4, 11 of 3/4): with 4/4 only, no 8 bars of one
        # meter; the 4 window positions that would hold both meters are dropped at the change.
        SongPlan("folk/changes.mid", "changes", [MelodyPlan(scale_line(12, 60, 72), 0, 0, ())],
                 time_signatures=[(0, 4, 4), (4 * 1920, 3, 4)], skip_reason="no window"),
        # 6 bars: no 8-bar window.
        SongPlan("folk/short.mid", "short", [MelodyPlan(scale_line(6, 60, 72), 0, 0, ())], skip_reason="no window",
                 track_counts={}),
        # Only drums and chords: nothing usable.
        SongPlan("folk/band.mid", "band", [], [drums(10), chords(10)], skip_reason="no usable track",
                 track_counts={"drum": 1, "polyphonic": 1}),
        SongPlan("broken/corrupt.mid", "corrupt", raw_bytes=b"MThd\x00\x00\x00\x06\x00\x01\x00\x05\x01\xe0MTrk\xff",
                 skip_reason="unreadable"),
        # 8 bars of 16ths cycling 60..66 (a rhythm no other melody has): 1 window, shifts -5..5.
        # Its identity hashes to the test split, so every split holds a song by its hash.
        SongPlan("pop/landler.mid", "landler", [MelodyPlan(scale_line(8, 60, 66, note_steps=1), 1, 0, tuple(range(-5, 6)))]),
        # Two versions of one LMD song: one identity (the TR folder), so one split. 8 bars -> 1 each.
        # Range 57..84 allows only -2..0.
        SongPlan("lmd/A/B/TRAAAGR128F425B14B/one.mid", "TRAAAGR128F425B14B", [MelodyPlan(scale_line(8, 64, 71), 1, 0, ALL_SHIFTS)]),
        SongPlan("lmd/A/B/TRAAAGR128F425B14B/two.mid", "TRAAAGR128F425B14B",
                 [MelodyPlan(scale_line(8, 57, 84, note_steps=2), 1, 0, (-2, -1, 0))], [bass(8, program=0, name="Bass")],
                 track_counts={"bass": 1}),
    ]
    for plan in plans:
        usable = len(plan.melodies) if plan.skip_reason in (None, "no window") else 0
        if plan.skip_reason not in ("meter", "unreadable"):
            plan.track_counts = {**plan.track_counts, "usable": usable}
        else:
            plan.track_counts = {}
    return plans


def write_corpus(root: Path, plans: list[SongPlan] | None = None) -> list[SongPlan]:
    plans = plans if plans is not None else corpus_plans()
    for plan in plans:
        path = root / plan.path
        path.parent.mkdir(parents=True, exist_ok=True)
        if plan.raw_bytes is not None:
            path.write_bytes(plan.raw_bytes)
            continue
        tracks = [melody_track(m.notes, channel=index, program=73, name=f"Melody {index + 1}")
                  for index, m in enumerate(plan.melodies)]
        make_midi(path, tracks + plan.other_tracks, time_signatures=plan.time_signatures)
    return plans
