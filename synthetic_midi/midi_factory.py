"""Build MIDI files in code, for tests anywhere in the suite.

Two tools:

* :func:`make_midi` / :func:`midi_bytes` write a file from plain descriptions: tracks as lists of
  ``(start_tick, end_tick, pitch, velocity)`` notes, time signatures ``(tick, numerator,
  denominator)`` and tempos ``(tick, microseconds_per_beat)``. Type 1 files get a conductor chunk
  (tempo, meter) first and one chunk per :class:`TrackSpec`, unless specs share a ``chunk`` number
  (a chunk that mixes channels). Type 0 files put everything in one chunk.
* :func:`random_multitrack_song` draws a whole song (melody, bass, chords, drums on channel 10,
  tempo and meter changes, controllers, held notes that cross bar lines) from a seeded
  ``random.Random``, for randomized tests of the reader and the surgical writer.

Only this module and ``clsm_cli.music.midi_write`` write MIDI bytes; this one exists for tests.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import mido

Note = tuple[int, int, int, int]  # (start_tick, end_tick, pitch, velocity)


@dataclass
class TrackSpec:
    """One part of a song: the notes of one channel, plus optional controller events.

    ``chunk`` groups specs into the same track chunk (type 1 only): specs with the same chunk
    number share one chunk, in the order given; None gives the spec a chunk of its own.
    ``note_off_as_velocity_zero`` writes releases as note-on with velocity 0 (running status).
    ``controls`` are ``(tick, control, value)`` control changes; ``pitch_bends`` ``(tick, value)``.
    ``program`` None writes no program change.
    """

    notes: Sequence[Note]
    channel: int = 0
    program: int | None = 0
    name: str | None = None
    chunk: int | None = None
    note_off_as_velocity_zero: bool = False
    controls: Sequence[tuple[int, int, int]] = ()
    pitch_bends: Sequence[tuple[int, int]] = ()

    def __post_init__(self):
        if not 0 <= self.channel <= 15:
            raise ValueError(f"channel must be in range 0..15, got {self.channel}")
        for start, end, pitch, velocity in self.notes:
            if not (0 <= start <= end and 0 <= pitch <= 127 and 1 <= velocity <= 127):
                raise ValueError(f"bad note {(start, end, pitch, velocity)}")


@dataclass
class SongSpec:
    """Everything :func:`make_midi` needs; what :func:`random_multitrack_song` returns."""

    tracks: list[TrackSpec]
    ticks_per_beat: int = 480
    time_signatures: list[tuple[int, int, int]] = field(default_factory=lambda: [(0, 4, 4)])
    tempos: list[tuple[int, int]] = field(default_factory=lambda: [(0, 500_000)])
    midi_type: int = 1
    texts: list[tuple[int, str]] = field(default_factory=list)

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_bytes(self.to_bytes())
        return path

    def to_bytes(self) -> bytes:
        return midi_bytes(
            self.tracks,
            ticks_per_beat=self.ticks_per_beat,
            time_signatures=self.time_signatures,
            tempos=self.tempos,
            midi_type=self.midi_type,
            texts=self.texts,
        )


def _absolute_events(spec: TrackSpec) -> list[tuple[int, int, mido.Message | mido.MetaMessage]]:
    """(tick, priority, message): at one tick releases come before controllers before attacks."""
    events: list[tuple[int, int, mido.Message | mido.MetaMessage]] = []
    if spec.program is not None:
        events.append((0, 1, mido.Message("program_change", channel=spec.channel, program=spec.program)))
    for tick, control, value in spec.controls:
        events.append((tick, 1, mido.Message("control_change", channel=spec.channel, control=control, value=value)))
    for tick, value in spec.pitch_bends:
        events.append((tick, 1, mido.Message("pitchwheel", channel=spec.channel, pitch=value)))
    for start, end, pitch, velocity in spec.notes:
        events.append((start, 2, mido.Message("note_on", channel=spec.channel, note=pitch, velocity=velocity)))
        if spec.note_off_as_velocity_zero:
            release = mido.Message("note_on", channel=spec.channel, note=pitch, velocity=0)
        else:
            release = mido.Message("note_off", channel=spec.channel, note=pitch, velocity=64)
        events.append((end, 0, release))
    return events


def _to_track(named_events: list[tuple[int, int, object]], name: str | None) -> mido.MidiTrack:
    track = mido.MidiTrack()
    if name is not None:
        track.append(mido.MetaMessage("track_name", name=name, time=0))
    now = 0
    # A stable sort keeps the given order among events with the same tick and priority.
    for tick, _, message in sorted(named_events, key=lambda event: (event[0], event[1])):
        track.append(message.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def build_midi_file(
    tracks: Sequence[TrackSpec],
    ticks_per_beat: int = 480,
    time_signatures: Sequence[tuple[int, int, int]] = ((0, 4, 4),),
    tempos: Sequence[tuple[int, int]] = ((0, 500_000),),
    midi_type: int = 1,
    texts: Sequence[tuple[int, str]] = (),
) -> mido.MidiFile:
    """The mido.MidiFile :func:`make_midi` writes (useful to compare against what was read)."""
    if midi_type not in (0, 1):
        raise ValueError(f"midi_type must be 0 or 1, got {midi_type}")
    conductor: list[tuple[int, int, object]] = []
    for tick, numerator, denominator in time_signatures:
        conductor.append((tick, 0, mido.MetaMessage("time_signature", numerator=numerator, denominator=denominator)))
    for tick, tempo in tempos:
        conductor.append((tick, 0, mido.MetaMessage("set_tempo", tempo=tempo)))
    for tick, text in texts:
        conductor.append((tick, 0, mido.MetaMessage("text", text=text)))

    if midi_type == 0:
        events = list(conductor)
        for spec in tracks:
            events.extend(_absolute_events(spec))
        chunks = [_to_track(events, None)]  # a type-0 chunk holds every part: no one part's name
    else:
        chunks = [_to_track(conductor, None)]
        grouped: dict[object, tuple[str | None, list]] = {}
        for index, spec in enumerate(tracks):
            key = ("own", index) if spec.chunk is None else ("shared", spec.chunk)
            name, events = grouped.setdefault(key, (spec.name, []))
            events.extend(_absolute_events(spec))
        chunks.extend(_to_track(events, name) for name, events in grouped.values())
    return mido.MidiFile(type=midi_type, ticks_per_beat=ticks_per_beat, tracks=chunks)


def midi_bytes(tracks: Sequence[TrackSpec], **options) -> bytes:
    """The bytes of :func:`make_midi`'s file, without touching the disk."""
    import io

    buffer = io.BytesIO()
    build_midi_file(tracks, **options).save(file=buffer)
    return buffer.getvalue()


def make_midi(path: str | Path, tracks: Sequence[TrackSpec], **options) -> Path:
    """Write a MIDI file; options as :func:`build_midi_file`. Returns the path."""
    path = Path(path)
    path.write_bytes(midi_bytes(tracks, **options))
    return path


def melody_track(notes: Sequence[tuple[int, int, int]], ticks_per_step: int = 120, velocity: int = 90, **spec) -> TrackSpec:
    """A TrackSpec from ``(start_step, end_step, pitch)`` notes on a 16th grid (120 ticks at 480 tpb)."""
    return TrackSpec(
        notes=[(start * ticks_per_step, end * ticks_per_step, pitch, velocity) for start, end, pitch in notes],
        **spec,
    )


# --- random songs -------------------------------------------------------------------------------

RANDOM_METERS = ((4, 4), (3, 4), (2, 2), (6, 8), (2, 4), (5, 4))
RANDOM_TICKS_PER_BEAT = (96, 120, 192, 384, 480, 960)


def _bar_plan(rng: random.Random, ticks_per_beat: int, num_bars: int, meter_changes: bool):
    """List of (start_tick, length_ticks, numerator, denominator) and the time-signature events."""
    bars = []
    signatures = []
    tick = 0
    meter = (4, 4) if not meter_changes else rng.choice(RANDOM_METERS)
    signatures.append((0, *meter))
    for bar in range(num_bars):
        if meter_changes and bar > 0 and rng.random() < 0.15:
            meter = rng.choice(RANDOM_METERS)
            signatures.append((tick, *meter))
        numerator, denominator = meter
        length = numerator * ticks_per_beat * 4 // denominator
        bars.append((tick, length, numerator, denominator))
        tick += length
    return bars, signatures


def random_multitrack_song(
    rng: random.Random | int,
    num_bars: int = 12,
    meter_changes: bool = True,
    tempo_changes: bool = True,
    midi_type: int | None = None,
    ticks_per_beat: int | None = None,
    jitter_ticks: int = 0,
) -> SongSpec:
    """A random song: melody (ch 1), bass (ch 2), chords (ch 3), drums (ch 10), optionally a
    second melody channel inside the chords' chunk, controllers and pitch bends.

    Notes sit on the 16th grid (plus up to ``jitter_ticks`` of random timing); melody and bass
    notes sometimes hold across bar lines, chords overlap, and some parts release with velocity-0
    note-ons. Everything comes from ``rng`` (a ``random.Random`` or a seed).
    """
    if isinstance(rng, int):
        rng = random.Random(rng)
    ticks_per_beat = ticks_per_beat or rng.choice(RANDOM_TICKS_PER_BEAT)
    midi_type = rng.choice((0, 1, 1, 1)) if midi_type is None else midi_type
    step = ticks_per_beat // 4
    bars, signatures = _bar_plan(rng, ticks_per_beat, num_bars, meter_changes)
    song_end = bars[-1][0] + bars[-1][1]

    def jitter(tick: int) -> int:
        return max(0, tick + (rng.randint(-jitter_ticks, jitter_ticks) if jitter_ticks else 0))

    def line(low: int, high: int, rest_chance: float, durations: Sequence[int]) -> list[Note]:
        notes: list[Note] = []
        tick = 0
        pitch = rng.randint(low, high)
        while tick < song_end:
            length = rng.choice(durations) * step
            if rng.random() >= rest_chance:
                pitch = min(high, max(low, pitch + rng.randint(-4, 4)))
                start, end = jitter(tick), min(song_end, jitter(tick + length))
                if end > start:
                    notes.append((start, end, pitch, rng.randint(50, 110)))
            tick += length
        return notes

    melody = line(60, 79, 0.2, (1, 2, 2, 3, 4, 6, 8, 12))
    bass = line(36, 50, 0.1, (4, 8, 8, 12, 16))
    chords: list[Note] = []
    for start, length, _, _ in bars:
        root = rng.randint(48, 60)
        for half in (0, length // 2):
            for interval in (0, 4, 7):
                # Chords overlap the next one by a few ticks: real polyphony, not a clean grid.
                chords.append((start + half, min(song_end, start + half + length // 2 + step // 2), root + interval, 70))
    drums: list[Note] = []
    for start, length, _, _ in bars:
        for tick in range(start, start + length, 2 * step):
            drums.append((tick, tick + step // 2, rng.choice((36, 38, 42, 42, 46)), rng.randint(60, 120)))

    tracks = [
        TrackSpec(melody, channel=0, program=rng.choice((0, 40, 73)), name="Melody",
                  note_off_as_velocity_zero=rng.random() < 0.5,
                  controls=[(rng.randrange(song_end), 64, rng.choice((0, 127))) for _ in range(3)],
                  pitch_bends=[(rng.randrange(song_end), rng.randint(-8192, 8191)) for _ in range(2)]),
        TrackSpec(bass, channel=1, program=33, name="Bass"),
        TrackSpec(chords, channel=2, program=0, name="Chords", chunk=1),
        TrackSpec(drums, channel=9, program=None, name="Drums"),
    ]
    if rng.random() < 0.5:
        # A second, sparser melody on its own channel inside the chords' chunk.
        tracks.append(TrackSpec(line(65, 84, 0.5, (2, 4, 8)), channel=3, program=71, name="Chords", chunk=1))

    tempos = [(0, rng.randint(300_000, 900_000))]
    if tempo_changes:
        for _ in range(rng.randint(1, 3)):
            tempos.append((rng.randrange(1, song_end), rng.randint(300_000, 900_000)))
        tempos.sort()
    return SongSpec(
        tracks=tracks,
        ticks_per_beat=ticks_per_beat,
        time_signatures=signatures,
        tempos=tempos,
        midi_type=midi_type,
        texts=[(0, "random song")],
    )


def random_bar_plan(spec: SongSpec) -> list[tuple[int, int, int, int]]:
    """(start_tick, length_ticks, numerator, denominator) of each bar the spec's meters imply,
    recomputed independently of clsm's bar code (signatures here always fall on bar lines)."""
    signatures = sorted(spec.time_signatures) or [(0, 4, 4)]
    end = max((note[1] for track in spec.tracks for note in track.notes), default=0)
    bars = []
    tick = 0
    while tick < end or not bars:
        meter = [s for s in signatures if s[0] <= tick][-1] if signatures[0][0] <= tick else (0, 4, 4)
        length = meter[1] * spec.ticks_per_beat * 4 // meter[2]
        bars.append((tick, length, meter[1], meter[2]))
        tick += length
    return bars


# --- songs for the editing tests -----------------------------------------------------------------

STEP_TICKS = 120  # one 16th at 480 ticks per quarter


def scale_melody(num_bars: int, first_pitch: int = 60) -> list[tuple[int, int, int]]:
    """Quarter notes up and down a C major scale: (start_step, end_step, pitch), none crossing a bar."""
    scale = [0, 2, 4, 5, 7, 9, 11, 12, 11, 9, 7, 5, 4, 2]
    return [(step, step + 4, first_pitch + scale[index % len(scale)])
            for index, step in enumerate(range(0, num_bars * 16, 4))]


def write_song(path, notes, meter=(4, 4), accompaniment=True, extra_melody_notes=()):
    """A type-1 song: the melody (ch 1, "Melody") plus, optionally, a bass, drums and a tempo change."""
    tracks = [melody_track(list(notes) + list(extra_melody_notes), ticks_per_step=STEP_TICKS, name="Melody")]
    if accompaniment:
        end = max(note[1] for note in notes)
        bass = [(step, step + 8, 36 + (step // 16) % 5) for step in range(0, end, 8)]
        drums = [(step * STEP_TICKS, step * STEP_TICKS + 60, 42, 80) for step in range(0, end, 2)]
        tracks += [
            melody_track(bass, ticks_per_step=STEP_TICKS, name="Bass", channel=1, program=33),
            TrackSpec(drums, channel=9, program=None, name="Drums"),
        ]
    return make_midi(path, tracks, time_signatures=[(0, *meter)], tempos=[(0, 500_000), (16 * STEP_TICKS, 450_000)])


def melody_of(song):
    """The track named "Melody" of a song read by clsm."""
    return next(track for track in song.tracks if track.name == "Melody")


def output_line(path):
    """The melody line of a written file, quantized and reduced to one line as clsm does."""
    from clsm_cli.music import melody
    from clsm_cli.music.bars import song_bars
    from clsm_cli.music.midi_read import read_midi

    song = read_midi(path)
    line, _ = melody.reduce_to_monophony(melody.quantize_track(melody_of(song), song_bars(song), song.ticks_per_beat).notes)
    return line

