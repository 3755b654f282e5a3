"""One song in, its windows per meter group out: the work a ``clsm data build`` worker does.

:func:`process_item` reads a MIDI file or a music21 tune (:mod:`clsm_cli.data.song_notes`,
:mod:`clsm_cli.data.music21_corpus`), filters its tracks (drum, bass, empty, polyphonic, out of
range) and cuts every usable track's 8-bar windows inside each meter section
(:func:`clsm_cli.data.windows.cut_windows_at`): a window has the steps of its meter's bars
(128 tokens in 4/4, 96 in 3/4 and 6/8, 64 in 2/4) and never crosses a meter change; the window
positions that would cross one are counted. Every failure becomes a counted skip reason.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable, Collection

import numpy as np

from clsm_cli.constants import BARS_PER_WINDOW
from clsm_cli.data import cre, pop909
from clsm_cli.data.music21_corpus import Tune, read_tune
from clsm_cli.data.song_notes import MeterSection, SongNotes, SongSkipped, TrackNotes, read_midi_notes
from clsm_cli.data.windows import MAX_REST_BARS, WINDOW_STRIDE_BARS, TrackWindows, cut_windows_at, pitches_in_range
from clsm_cli.errors import InputFileError
from clsm_cli.timebase import SIXTEENTH_GRID, Grid, Meter, grid_from_record, meters_text

TRACK_FILTERS = ("drum", "bass", "empty", "polyphonic", "out of range")


@dataclass(frozen=True)
class TrackResult:
    number: int  # the track's number in its song
    meter_group: str  # "4/4", "3/4", ...: the group whose windows these are
    cut: TrackWindows  # its windows in the original key and the transpositions it allows


@dataclass
class SongResult:
    """What a worker returns for one file or tune (small: windows in the original key only)."""

    status: str  # "kept" or a reason from SKIP_REASONS
    detail: str = ""
    tracks: list[TrackResult] = field(default_factory=list)  # per usable track and meter group
    track_counts: dict[str, int] = field(default_factory=dict)  # TRACK_FILTERS + "usable"
    windows_dropped_for_rest: int = 0
    windows_dropped_at_meter_change: int = 0  # 8-bar spans of usable tracks holding two meter groups
    meters: dict[str, list[str]] = field(default_factory=dict)  # group -> the meters of its windows' bars
    annotations: dict | None = None  # kept beside the windows in sources.json (POP909 chords and keys)
    melody_digest: str = ""  # transposition-invariant: finds one tune in two corpora (melody_digest)


@dataclass(frozen=True)
class WorkItem:
    """One song source: a MIDI file or a music21 tune, with its identity and hash split fixed."""

    label: str  # how the manifest names it: path relative to its source folder, or corpus path#X
    identity: str
    split: str  # split_of(identity); a small meter group may move the song (data/splits.plan_splits)
    path: str | None = None  # MIDI file
    abc_text: str | None = None  # music21 tune
    meter_groups: tuple[str, ...] | None = None  # the groups to keep ("3/4", ...); None: every one
    test_song: bool = False  # named by --test-songs: always in the test split, never moved
    reader: str = "midi"  # how path is read: "midi", "pop909" (data/pop909) or "cre" (data/cre)
    grid: str = "16th"  # the grid's encoding (timebase.Grid): "triplet" keeps x/4 and 2/2 groups only


def track_rejection(track: TrackNotes) -> str | None:
    """Why a track cannot give training windows (one of TRACK_FILTERS), or None if it can."""
    if track.is_drum:
        return "drum"
    if track.is_bass:
        return "bass"
    if not track.is_monophonic:
        return "polyphonic"
    if not track.is_in_range:
        return "out of range"
    if not track.notes:
        return "empty"
    if not pitches_in_range(track.columns):
        return "out of range"
    return None


DIGEST_NOTES = 12  # notes from the first bar line that identify one tune in two corpora (close copies)


def melody_digest(song: SongNotes) -> str:
    """A digest of the first usable track's melody that ignores key and pickup: from its first note
    on a bar line, up to DIGEST_NOTES notes as (interval from the previous pitch, onset and length
    in steps from that note). Two corpora's copies of one tune (O'Neill's in music21 and in CRÉ)
    share it; "" for a song without such a track."""
    for track in song.tracks:
        if track_rejection(track) is not None:
            continue
        bar_lines = {section.first_step + bar * section.steps_per_bar
                     for section in song.meter_sections for bar in range(section.num_bars)}
        notes = [note for note in track.notes if note.pitch is not None]
        first = next((i for i, note in enumerate(notes) if note.start_step in bar_lines), None)
        if first is None:
            continue
        phrase = notes[first : first + DIGEST_NOTES]
        origin = phrase[0].start_step
        shape = [(b.pitch - a.pitch, b.start_step - origin, b.end_step - b.start_step) for a, b in zip(phrase, phrase[1:])]
        return hashlib.sha256(repr((phrase[0].end_step - origin, shape)).encode()).hexdigest()[:16]
    return ""


def _window_starts(sections: list[MeterSection]) -> tuple[np.ndarray, np.ndarray]:
    """Start steps and 0-based start bars of the 8-bar windows lying inside ``sections``."""
    steps, bars = [], []
    for section in sections:
        offsets = np.arange(0, max(section.num_bars - BARS_PER_WINDOW + 1, 0), WINDOW_STRIDE_BARS)
        steps.append(section.first_step + offsets * section.steps_per_bar)
        bars.append(section.first_bar + offsets)
    return np.concatenate(steps).astype(np.int64), np.concatenate(bars).astype(np.int32)


def _positions_across_changes(song: SongNotes) -> int:
    """8-bar spans of the song that hold bars of two meter groups."""
    every = max(song.num_bars - BARS_PER_WINDOW + 1, 0)
    inside = sum(max(section.num_bars - BARS_PER_WINDOW + 1, 0) for section in song.meter_sections)
    return every - inside


def song_result(song: SongNotes, meter_groups: Collection[Meter] | None = None, grid: Grid = SIXTEENTH_GRID) -> SongResult:
    """Filter the tracks of a song and cut their windows per meter group (pure).

    ``meter_groups`` (None: every group) are the groups whose windows are kept; a ``grid`` keeps
    only the groups it is defined in (the triplet grid: x/4 and 2/2).
    """
    by_group: dict[Meter, list[MeterSection]] = {}
    for section in song.meter_sections:
        if (meter_groups is None or section.group in meter_groups) and grid.supports(section.group):
            by_group.setdefault(section.group, []).append(section)
    if not by_group and not any(grid.supports(section.group) for section in song.meter_sections):
        written = sorted({meter for section in song.meter_sections for meter in section.meters})
        return SongResult("meter", f"in {meters_text(written)}, which the {grid.encoding} grid does not hold")
    counts = {name: 0 for name in TRACK_FILTERS + ("usable",)}
    tracks: list[TrackResult] = []
    meters: dict[str, set] = {}
    dropped = across = 0
    for track in song.tracks:
        rejection = track_rejection(track)
        counts[rejection or "usable"] += 1
        if rejection:
            continue
        across += _positions_across_changes(song)
        for group, sections in sorted(by_group.items()):
            starts, start_bars = _window_starts(sections)
            cut = cut_windows_at(
                track.columns,
                total_steps=song.total_steps,
                start_steps=starts,
                start_bars=start_bars,
                window_steps=group.window_steps,
                max_rest_steps=MAX_REST_BARS * group.steps_per_bar,
                tokens=track.tokens,
            )
            dropped += cut.dropped_for_rest
            if len(cut):
                tracks.append(TrackResult(track.number, str(group), cut))
                meters.setdefault(str(group), set()).update(m for s in sections for m in s.meters)
    if not counts["usable"]:
        filtered = ", ".join(f"{counts[name]} {name}" for name in TRACK_FILTERS if counts[name])
        return SongResult("no usable track", filtered or "no tracks", track_counts=counts)
    result = SongResult(
        "kept",
        tracks=tracks,
        track_counts=counts,
        windows_dropped_for_rest=dropped,
        windows_dropped_at_meter_change=across,
        meters={group: [str(m) for m in sorted(found)] for group, found in sorted(meters.items())},
        annotations=song.annotations,
        melody_digest=melody_digest(song),
    )
    if not tracks:
        result.status, result.tracks, result.meters = "no window", [], {}
        result.detail = _no_window_detail(song, list(by_group.values()), dropped)
    return result


def _no_window_detail(song: SongNotes, sections_kept: list[list[MeterSection]], dropped_for_rest: int) -> str:
    if song.num_bars < BARS_PER_WINDOW:
        return f"{song.num_bars} bars, fewer than {BARS_PER_WINDOW}"
    longest = max((section.num_bars for sections in sections_kept for section in sections), default=0)
    if longest < BARS_PER_WINDOW:
        return f"no {BARS_PER_WINDOW} bars in a row in one meter (the longest run is {longest})"
    return "every 8-bar window holds more than one bar of rest"


def process_item(item: WorkItem) -> SongResult:
    """Worker entry point: one file or tune in, one SongResult out; never raises."""
    groups = None if item.meter_groups is None else frozenset(Meter.parse(g) for g in item.meter_groups)
    grid = grid_from_record(item.grid)
    if item.reader == "pop909":
        return result_of_reading(lambda: pop909.read_song(item.path, groups, grid=grid), groups, grid)
    if item.reader == "cre":
        return result_of_reading(lambda: cre.read_tune(item.path, groups, grid), groups, grid)
    if item.path is not None:
        return result_of_reading(lambda: read_midi_notes(item.path, groups, grid), groups, grid)
    return result_of_reading(lambda: read_tune(Tune(item.identity, item.abc_text or ""), groups, grid), groups, grid)


def result_of_reading(read_song: Callable[[], SongNotes], meter_groups: Collection[Meter] | None = None,
                      grid: Grid = SIXTEENTH_GRID) -> SongResult:
    """song_result of what ``read_song()`` returns, with every failure turned into a counted skip."""
    try:
        return song_result(read_song(), meter_groups, grid)
    except SongSkipped as skipped:
        return SongResult(skipped.reason, skipped.detail)
    except InputFileError as error:
        return SongResult("unreadable", error.message)
    except Exception as error:  # noqa: BLE001 - one bad file must never stop a corpus build
        return SongResult("error", f"{type(error).__name__}: {error}")
