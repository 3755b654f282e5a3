"""POP909 songs (``clsm data build --corpus pop909 DIR``): the MELODY track on the annotated beats.

DIR is a checkout of ``music-x-lab/POP909-Dataset`` (MIT licence): ``POP909/NNN/NNN.mid`` with
``beat_midi.txt``, ``chord_midi.txt`` and ``key_audio.txt`` beside it. Only ``NNN.mid`` is read
(never the ``versions/`` files); the song identity is ``NNN``. POP909's MIDI files need their
annotations to be read right (issue 24): every melody sits a constant number of ticks off a 16th
grid, durations are human-played, and many files are labelled 1/4 or 2/4 although the music is in
4/4. So a song is read as:

* the MELODY track (a song without one is skipped);
* the beats of ``beat_midi.txt`` (seconds, mapped to ticks through the file's tempo map); its
  third column marks the first beat of each 4/4 bar. A bar with another number of beats (and a
  pickup before the first downbeat) is kept out of every window: windows are cut only inside runs
  of 4-beat bars;
* the song's constant offset (:func:`clsm_cli.music.phase.grid_offset`) is removed from the beats,
  which are snapped onto the offset grid, then every note is placed *within its beat*: tick ``t``
  between beats ``k`` and ``k + 1`` becomes ``k + (t - beat_k) / (beat_k+1 - beat_k)`` quarters,
  and the project's quantizer (``melody.quantize_line`` with bars built from the downbeats) puts it
  on the model grid, so a grid with triplets keeps them;
* pitches are shifted by octaves into 55..84 as editing does (the most notes inside; the rest
  folded), instead of dropping a song for one high note;
* the key segments of ``key_audio.txt`` and the chords of ``chord_midi.txt``, on the song step grid,
  go beside the windows (``sources.json``: ``annotations``) for evaluation and the harmony figure.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Collection

import numpy as np

from clsm_cli.constants import STEPS_PER_QUARTER
from clsm_cli.data.song_notes import MeterSection, SongNotes, SongSkipped, TrackNotes, triplet_tokens
from clsm_cli.errors import UsageError
from clsm_cli.music import melody
from clsm_cli.music.bars import Bar
from clsm_cli.music.meter import FOUR_FOUR, Meter
from clsm_cli.music.midi_read import read_note_table
from clsm_cli.music.phase import grid_offset
from clsm_cli.music.song import NoteArrays, NoteTable, NoteTrack
from clsm_cli.music.tokens import StepNote, fold_into_range, octave_shift_into_range
from clsm_cli.timebase import SIXTEENTH_GRID, Grid

MELODY_TRACK_NAME = "MELODY"
BEATS_FILE, CHORDS_FILE, KEYS_FILE = "beat_midi.txt", "chord_midi.txt", "key_audio.txt"
BEATS_PER_BAR = 4  # the third column of beat_midi.txt marks 4/4 downbeats


def pop909_songs_root(root: Path | str) -> Path:
    """The folder holding the ``NNN`` song folders: ``root/POP909`` of a checkout, or ``root`` itself."""
    root = Path(root)
    return root / "POP909" if (root / "POP909").is_dir() else root


def song_folders(root: Path | str) -> list[Path]:
    """``POP909/NNN`` folders holding ``NNN.mid`` under a checkout (or its ``POP909`` folder), sorted."""
    root = Path(root)
    base = pop909_songs_root(root)
    if not base.is_dir():
        raise UsageError(f"{root} is not a POP909 checkout (no POP909/NNN/NNN.mid folders)")
    folders = sorted(p for p in base.iterdir() if p.is_dir() and (p / f"{p.name}.mid").is_file())
    if not folders:
        raise UsageError(f"{root} holds no POP909/NNN/NNN.mid songs; give a checkout of music-x-lab/POP909-Dataset")
    return folders


# --- the text annotations ----------------------------------------------------------------------


def read_table(path: Path, columns: int) -> list[list[str]]:
    """Whitespace-separated rows with at least ``columns`` fields (blank lines skipped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SongSkipped("unreadable", f"cannot read {path.name}: {error.strerror or error}") from None
    rows = [line.split() for line in text.splitlines() if line.strip()]
    if any(len(row) < columns for row in rows):
        raise SongSkipped("unreadable", f"{path.name} has a line with fewer than {columns} fields")
    return rows


def read_beats(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Beat times in seconds and whether each starts a 4/4 bar (third column of beat_midi.txt)."""
    rows = read_table(path, 3)
    try:
        times = np.array([float(row[0]) for row in rows])
        downbeats = np.array([float(row[2]) > 0.5 for row in rows])
    except ValueError:
        raise SongSkipped("unreadable", f"{path.name} holds a field that is not a number") from None
    if len(times) < 2 or np.any(np.diff(times) <= 0):
        raise SongSkipped("unreadable", f"{path.name} needs at least two beats in increasing time")
    return times, downbeats


def read_segments(path: Path) -> list[tuple[float, float, str]]:
    """(start seconds, end seconds, label) rows of chord_midi.txt or key_audio.txt."""
    try:
        return [(float(row[0]), float(row[1]), row[2]) for row in read_table(path, 3)]
    except ValueError:
        raise SongSkipped("unreadable", f"{path.name} holds a time that is not a number") from None


# --- time ----------------------------------------------------------------------------------------


def seconds_to_ticks(seconds: np.ndarray, tempos: list[tuple[int, int]], ticks_per_beat: int) -> np.ndarray:
    """Ticks (float) of times in seconds through a tempo map of (tick, microseconds per beat)."""
    tempos = sorted(tempos) or [(0, 500_000)]
    if tempos[0][0] > 0:
        tempos.insert(0, (0, 500_000))
    ticks = np.array([tick for tick, _ in tempos], dtype=np.float64)
    per_tick = np.array([tempo for _, tempo in tempos], dtype=np.float64) / 1e6 / ticks_per_beat  # seconds a tick
    starts = np.concatenate([[0.0], np.cumsum(np.diff(ticks) * per_tick[:-1])])
    seconds = np.asarray(seconds, dtype=np.float64)
    index = np.maximum(np.searchsorted(starts, seconds, side="right") - 1, 0)
    return ticks[index] + (seconds - starts[index]) / per_tick[index]


def beat_phase_ticks(beat_ticks: np.ndarray, ticks_per_beat: int) -> int:
    """Where annotated beats fall within a beat counted from tick 0: their median offset, in ticks."""
    return int(round(float(np.median(np.asarray(beat_ticks) % ticks_per_beat))))


def beat_positions(ticks: np.ndarray, beat_ticks: np.ndarray) -> np.ndarray:
    """Where each tick falls in beats: ``k + (t - beat_k) / (beat_k+1 - beat_k)``, extrapolated by
    the first and last beat lengths before and after the annotated beats."""
    index = np.clip(np.searchsorted(beat_ticks, ticks, side="right") - 1, 0, len(beat_ticks) - 2)
    lengths = beat_ticks[index + 1] - beat_ticks[index]
    return index + (np.asarray(ticks, dtype=np.float64) - beat_ticks[index]) / lengths


# --- a song ------------------------------------------------------------------------------------


def song_bars_from_downbeats(downbeats: np.ndarray, ticks_per_beat: int, steps_per_quarter: int) -> list[Bar]:
    """Bars on the beat grid (beat ``k`` at tick ``k * ticks_per_beat``): one bar from each downbeat to
    the next, a pickup bar before the first, the last bar of the beats left (4 at most).

    4-beat bars are 4/4; a bar of n other beats is written n/4 (kept out of windows)."""
    marks = list(np.flatnonzero(downbeats))
    if not marks:
        raise SongSkipped("meter", "beat_midi.txt marks no downbeat")
    edges = ([0] if marks[0] > 0 else []) + marks + [min(marks[-1] + BEATS_PER_BAR, max(len(downbeats), marks[-1] + 1))]
    bars = []
    for number, (start, end) in enumerate(zip(edges[:-1], edges[1:]), start=1):
        beats = end - start
        bars.append(Bar(number, int(start) * ticks_per_beat, int(end) * ticks_per_beat, int(beats), 4,
                        int(start) * steps_per_quarter, int(beats) * steps_per_quarter))
    return bars


def four_four_sections(bars: list[Bar]) -> tuple[MeterSection, ...]:
    """Runs of 4-beat bars (windows are cut inside them only)."""
    sections, run = [], []
    for bar in bars + [None]:
        if bar is not None and bar.numerator == BEATS_PER_BAR:
            run.append(bar)
            continue
        if run:
            sections.append(MeterSection(FOUR_FOUR, (FOUR_FOUR,), run[0].number - 1, len(run), run[0].first_step))
            run = []
    return tuple(sections)


def melody_track(table: NoteTable) -> NoteTrack:
    for track in table.tracks:
        if track.name.strip().upper() == MELODY_TRACK_NAME and len(track.notes):
            return track
    raise SongSkipped("no usable track", "no MELODY track with notes")


def read_song(midi_path: str | Path, meter_groups: Collection[Meter] | None = None,
              steps_per_quarter: int = STEPS_PER_QUARTER, grid: Grid = SIXTEENTH_GRID) -> SongNotes:
    """One POP909 song folder's ``NNN.mid`` and annotations as step notes (see the module docstring)."""
    midi_path = Path(midi_path)
    if meter_groups is not None and FOUR_FOUR not in meter_groups:
        raise SongSkipped("meter", "POP909 songs are read in 4/4, not among the meters asked for")
    folder = midi_path.parent
    table = read_note_table(midi_path)
    track = melody_track(table)
    tpb = table.ticks_per_beat
    unit = max(1, tpb // steps_per_quarter)
    offset, _ = grid_offset(track.notes.start_ticks, unit)

    times, downbeats = read_beats(folder / BEATS_FILE)
    beat_ticks = seconds_to_ticks(times, table.tempos, tpb)
    beat_ticks = np.round((beat_ticks - offset) / unit) * unit + offset  # onto the song's offset grid
    if np.any(np.diff(beat_ticks) <= 0):
        raise SongSkipped("unreadable", f"{BEATS_FILE} has beats closer than one grid step")

    def to_beat_grid(ticks):  # ticks -> ticks on the beat grid (a beat = ticks_per_beat)
        return np.rint(beat_positions(ticks, beat_ticks) * tpb).astype(np.int64)

    notes = track.notes
    starts, ends = to_beat_grid(notes.start_ticks), to_beat_grid(notes.end_ticks)
    keep = starts >= 0
    warped = NoteTrack(track.number, track.chunk, track.channel, track.name, track.program, False,
                       NoteArrays(starts[keep], np.maximum(ends[keep], starts[keep] + 1), notes.pitches[keep],
                                  notes.velocities[keep]))
    bars = song_bars_from_downbeats(downbeats, tpb, steps_per_quarter)
    sections = four_four_sections(bars)
    if not sections:
        raise SongSkipped("irregular bars", "no bar of 4 beats between its downbeats")
    total_steps = sections[-1].end_step
    line, _ = melody.quantize_line(warped, bars, tpb)
    line = [replace(note, end_step=min(note.end_step, total_steps)) for note in line if note.start_step < total_steps]
    shift = octave_shift_into_range(note.pitch for note in line)
    line = [replace(note, pitch=fold_into_range(note.pitch + shift)) for note in line]

    def to_steps(seconds):
        return np.rint(beat_positions(seconds_to_ticks(seconds, table.tempos, tpb), beat_ticks) * steps_per_quarter)

    annotations = {
        "offset_ticks": int(offset),
        "octave_shift": int(shift),
        "irregular_bars": int(sum(bar.numerator != BEATS_PER_BAR for bar in bars)),
        "bar_first_steps": [int(bar.first_step) for bar in bars],
        "chords": _segments_on_steps(read_segments(folder / CHORDS_FILE), to_steps),
        "keys": _segments_on_steps(read_segments(folder / KEYS_FILE), to_steps),
    }
    tokens = None
    if grid.has_triplets:  # the same beat-warped melody, octave-shifted, placed on the triplet grid
        folded = np.array([fold_into_range(int(pitch) + shift) for pitch in warped.notes.pitches], dtype=np.int64)
        shifted = replace(warped, notes=replace(warped.notes, pitches=folded))
        tokens = triplet_tokens(shifted, bars, tpb)[:total_steps]
    tracks = [TrackNotes(track.number, track.name, line, tokens=tokens)]
    return SongNotes(num_bars=len(bars), tracks=tracks, sections=sections, annotations=annotations)


def _segments_on_steps(segments: list[tuple[float, float, str]], to_steps) -> list[list]:
    """[start_step, end_step, label] of time segments (empty ones and "N", no chord, left out)."""
    if not segments:
        return []
    starts = to_steps(np.array([s for s, _, _ in segments])).astype(int).tolist()
    ends = to_steps(np.array([e for _, e, _ in segments])).astype(int).tolist()
    return [[s, e, label] for s, e, (_, _, label) in zip(starts, ends, segments) if e > s and label != "N"]
