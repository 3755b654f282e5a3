"""Which track is the melody, and the melody as notes on the 16th-note step grid.

* :func:`track_summaries` describes every track (a (chunk, channel) pair) for ``clsm show``.
* :func:`choose_melody_track` picks the melody: the ``--track`` the user gave (a number as
  ``clsm show`` prints it, or a name), or automatically the non-drum, mostly monophonic track with
  the most notes in the 8-bar window around the target (basses only when nothing else fits).
* :func:`quantize_track` moves a track's notes onto the *song step grid* (``bars.song_bars``:
  steps counted on from bar to bar, 16 per 4/4 bar) and reports what moved. Pitches stay real MIDI
  pitches and chords stay chords; :func:`reduce_to_monophony` makes the single line the model
  reads (highest note wins) and counts what it dropped.

:func:`polyphony_share`, :func:`quantize_track` and :func:`quantize_line` (quantize, then reduce
to one line) work on numpy columns of the notes, so they take either kind of track, a ``MidiTrack``
(editing commands) or a ``NoteTrack`` (``clsm data build``), with the same result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from clsm_cli.constants import BASS_PROGRAMS
from clsm_cli.errors import InputFileError, UsageError
from clsm_cli.music.bars import Bar, BarRange, song_bars, window_around
from clsm_cli.music.song import MidiSong, MidiTrack, NoteTrack, note_arrays
from clsm_cli.music.tokens import StepNote

MOSTLY_MONOPHONIC_SHARE = 0.1  # a melody track may have this share of its notes in chords
LEGATO_TOLERANCE_BEATS = 1 / 8  # overlaps shorter than a 32nd note are legato, not chords
# Reported as moved: onsets or releases more than 1/8 step from a 16th line. Reported as triplets:
# onsets within 1/48 beat of a triplet position (k/6 of a beat) and of no 16th (see _Grid.place).


@dataclass(frozen=True)
class TrackSummary:
    """What ``clsm show`` prints about one track."""

    number: int
    name: str  # the track's own name ("" if none)
    label: str  # name for people (falls back to "Drums" / "program N")
    chunk: int
    channel: int  # 0-based; people count channels from 1
    program: int
    notes: int
    polyphony: float  # share of notes that sound together with an earlier one (0 = one line)
    lowest_pitch: int
    highest_pitch: int
    is_drum: bool
    is_bass: bool
    notes_in_range: int | None  # notes starting in the requested bars (None without a range)

    @property
    def pitch_range(self) -> tuple[int, int]:
        return (self.lowest_pitch, self.highest_pitch)


_BASS_NAME = re.compile(r"bass(?!oon)", re.IGNORECASE)


def is_bass_track(track: MidiTrack | NoteTrack) -> bool:
    """General MIDI bass programs (33..40 as people count, 32..39 here) or "bass" in the name.

    "Bassoon" and "bass clarinet"-like names that merely start with "bass" as another word are not
    basses: the word must be "bass" itself.
    """
    return track.program in BASS_PROGRAMS or _BASS_NAME.search(track.name) is not None


def polyphony_share(track: MidiTrack | NoteTrack, ticks_per_beat: int) -> float:
    """Share of the track's notes that start while an earlier note still sounds (beyond a short
    legato overlap) or together with another note."""
    notes = note_arrays(track)  # sorted by start tick
    if not len(notes):
        return 0.0
    starts = notes.start_ticks
    sounding_until = np.maximum.accumulate(notes.end_ticks)[:-1]  # the latest end before each note
    tolerance = LEGATO_TOLERANCE_BEATS * ticks_per_beat
    overlapping = (starts[1:] < sounding_until - tolerance) | (starts[1:] == starts[:-1])
    return int(overlapping.sum()) / len(notes)


def _notes_starting_in(track: MidiTrack, start_tick: int, end_tick: int) -> int:
    return sum(start_tick <= note.start_tick < end_tick for note in track.notes)


def track_summaries(
    song: MidiSong, bars: Sequence[Bar] | None = None, bar_range: tuple[int, int] | None = None
) -> list[TrackSummary]:
    """One summary per track, in track-number order. ``notes_in_range`` counts the notes starting in
    ``bar_range`` (1-based, inclusive; bars beyond the song count nothing)."""
    range_ticks = None
    if bar_range is not None:
        bars = bars if bars is not None else song_bars(song)
        first, last = bar_range
        if first <= len(bars):
            range_ticks = BarRange(first, min(last, len(bars))).tick_span(bars)
        else:
            range_ticks = (0, 0)
    summaries = []
    for track in song.tracks:
        pitches = [note.pitch for note in track.notes]
        summaries.append(
            TrackSummary(
                number=track.number,
                name=track.name,
                label=track.label,
                chunk=track.chunk,
                channel=track.channel,
                program=track.program,
                notes=len(track.notes),
                polyphony=polyphony_share(track, song.ticks_per_beat),
                lowest_pitch=min(pitches),
                highest_pitch=max(pitches),
                is_drum=track.is_drum,
                is_bass=is_bass_track(track),
                notes_in_range=None if range_ticks is None else _notes_starting_in(track, *range_ticks),
            )
        )
    return summaries


def _track_list(song: MidiSong) -> str:
    return ", ".join(f"{track.number} {track.label}" for track in song.tracks)


def find_track(song: MidiSong, requested: str) -> MidiTrack:
    """The track a ``--track`` value names: its number, or its name (exact, then a unique part of
    it, ignoring case). UsageError listing the tracks otherwise."""
    text = str(requested).strip()
    if text.isdigit():
        number = int(text)
        for track in song.tracks:
            if track.number == number:
                return track
        raise UsageError(
            f"--track {text} does not exist in {song.name}; its tracks are {_track_list(song)}"
        )
    wanted = text.casefold()
    exact = [track for track in song.tracks if track.label.casefold() == wanted]
    partial = [track for track in song.tracks if wanted and wanted in track.label.casefold()]
    for matches in (exact, partial):
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            numbers = ", ".join(str(track.number) for track in matches)
            raise UsageError(f"--track '{text}' matches tracks {numbers} of {song.name}; give the number instead")
    raise UsageError(
        f"--track '{text}' is neither a track number nor a track name in {song.name}; "
        f"its tracks are {_track_list(song)}"
    )


def choose_melody_track(
    song: MidiSong,
    requested: str | None,
    bar_range: tuple[int, int] | None = None,
    bars: Sequence[Bar] | None = None,
) -> MidiTrack:
    """The melody track: ``requested`` (a number or a name) when given, else the best guess.

    The guess prefers, in order: mostly monophonic tracks, tracks that are not basses, the most
    notes in the 8-bar window around ``bar_range`` (the whole song without one), the higher line.
    Drum tracks are never chosen. UsageError for an unknown or drum ``requested`` track,
    InputFileError when the song has only drums.
    """
    if requested is not None and str(requested).strip():
        track = find_track(song, requested)
        if track.is_drum:
            raise UsageError(
                f"track {track.number} ({track.label}) of {song.name} is a drum track; "
                f"choose a melodic one: {_track_list(song)}"
            )
        return track
    candidates = [track for track in song.tracks if not track.is_drum]
    if not candidates:
        raise InputFileError(f"{song.name} has only drum tracks; clsm needs a melody")
    window = None
    if bar_range is not None:
        bars = bars if bars is not None else song_bars(song)
        first, last = bar_range
        if first <= len(bars):
            window = window_around(BarRange(first, min(last, len(bars))), len(bars)).tick_span(bars)

    def preference(track: MidiTrack):
        notes = len(track.notes) if window is None else _notes_starting_in(track, *window)
        mean_pitch = sum(note.pitch for note in track.notes) / len(track.notes)
        return (
            polyphony_share(track, song.ticks_per_beat) <= MOSTLY_MONOPHONIC_SHARE,
            not is_bass_track(track),
            notes,
            mean_pitch,
            -track.number,
        )

    return max(candidates, key=preference)


# --- quantization ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuantizeReport:
    """What moving a track onto the 16th grid changed (counts of notes)."""

    notes: int
    off_grid: int  # onset or release more than 1/8 step from a 16th line
    triplets: int  # onset on a triplet position (a 16th grid cannot hold it)
    lengthened: int  # shorter than a step after rounding: now one step long
    overlaps_trimmed: int  # a same-pitch note cut short where the next one starts
    duplicates_merged: int  # same pitch starting on the same step: kept once

    def summary(self) -> str:
        """One sentence for a warning, or "" when nothing moved."""
        parts = []
        if self.off_grid:
            parts.append(f"{self.off_grid} of {self.notes} notes were off the 16th-note grid and moved onto it")
        if self.triplets:
            parts.append(f"{self.triplets} looked like triplets, which the grid cannot hold")
        if self.lengthened:
            parts.append(f"{self.lengthened} shorter than a 16th were lengthened")
        if self.overlaps_trimmed or self.duplicates_merged:
            parts.append(
                f"{self.overlaps_trimmed + self.duplicates_merged} overlapping repeats of one pitch were trimmed"
            )
        return "; ".join(parts)


@dataclass(frozen=True)
class QuantizedTrack:
    """A track's notes on the song step grid (real MIDI pitches; chords possible)."""

    track_number: int
    notes: list[StepNote]  # sorted by (start_step, -pitch)
    report: QuantizeReport


def _place_on_grid(ticks: np.ndarray, bars: Sequence[Bar], ticks_per_beat: int):
    """(step, off the grid by more than 1/8 step, on a triplet position) for each tick, on the song
    step grid, in integer arithmetic (exact at every resolution)."""
    tpb = ticks_per_beat
    bar_starts = np.array([bar.start_tick for bar in bars], dtype=np.int64)
    bar_first_steps = np.array([bar.first_step for bar in bars], dtype=np.int64)
    bar_steps = np.array([bar.steps for bar in bars], dtype=np.int64)
    index = np.maximum(np.searchsorted(bar_starts, ticks, side="right") - 1, 0)
    offset = ticks - bar_starts[index]
    steps = (8 * offset + tpb) // (2 * tpb)  # round(offset * 4 / tpb), halves up
    # A cut-short bar's tail belongs to the next bar's first step (the last bar has no next one).
    steps = np.where((index < len(bars) - 1) & (steps > bar_steps[index]), bar_steps[index], steps)
    off_grid = np.abs(32 * offset - 8 * steps * tpb) > tpb  # |offset - steps * tpb/4| > tpb/32
    # Where in its quarter note: a triplet is within 1/48 beat of k/6 and not of any k/4.
    position = (offset % tpb)[:, None]
    near_sixteenth = (np.abs(48 * position - 12 * tpb * np.arange(5)) <= tpb).any(axis=1)
    near_triplet = (np.abs(48 * position - 8 * tpb * np.array([1, 2, 4, 5])) <= tpb).any(axis=1)
    return bar_first_steps[index] + steps, off_grid, near_triplet & ~near_sixteenth


def quantize_track(
    track: MidiTrack | NoteTrack, bars: Sequence[Bar], ticks_per_beat: int | None = None
) -> QuantizedTrack:
    """Snap ``track``'s notes to the nearest 16th step of the song step grid.

    A note's step is ``bar.first_step + round((tick - bar.start_tick) / (ticks_per_beat / 4))`` in
    the bar holding the tick; a note shorter than a step after rounding lasts one step. Same-pitch
    notes that now overlap are trimmed (the earlier ends where the later starts) and same-pitch
    notes on the same step are merged (the longest stays). Different pitches may still overlap
    (chords).

    ``ticks_per_beat`` comes from the song; it is inferred from the bars when omitted.
    """
    starts, ends, pitches, report = _quantized_columns(track, bars, ticks_per_beat)
    return QuantizedTrack(track.number, _step_notes(starts, ends, pitches), report)


def quantize_line(
    track: MidiTrack | NoteTrack, bars: Sequence[Bar], ticks_per_beat: int | None = None
) -> tuple[list[StepNote], int]:
    """``reduce_to_monophony(quantize_track(track, bars, ticks_per_beat).notes)``, faster when the
    quantized notes already form one line (no note starts before the previous one ends), as they
    mostly do for the tracks ``clsm data build`` keeps."""
    starts, ends, pitches, _ = _quantized_columns(track, bars, ticks_per_beat)
    if (starts[1:] >= ends[:-1]).all():  # sorted by start, so nothing overlaps or starts together
        return _step_notes(starts, ends, pitches), 0
    return reduce_to_monophony(_step_notes(starts, ends, pitches))


def _step_notes(starts: np.ndarray, ends: np.ndarray, pitches: np.ndarray) -> list[StepNote]:
    return [StepNote(*note) for note in zip(starts.tolist(), ends.tolist(), pitches.tolist())]


def _quantized_columns(track: MidiTrack | NoteTrack, bars: Sequence[Bar], ticks_per_beat: int | None):
    """quantize_track's notes as columns (starts, ends, pitches sorted by start, then highest
    pitch first) and its report."""
    if ticks_per_beat is None:
        ticks_per_beat = _ticks_per_beat_from_bars(bars)
    notes = note_arrays(track)
    starts, start_moved, triplets = _place_on_grid(notes.start_ticks, bars, ticks_per_beat)
    ends, end_moved, _ = _place_on_grid(notes.end_ticks, bars, ticks_per_beat)
    lengthened = ends <= starts
    ends = np.where(lengthened, starts + 1, ends)

    # By pitch, then start, longest first: a repeat on the same step goes, an overlap is cut.
    order = np.lexsort((-ends, starts, notes.pitches))
    starts, ends, pitches = starts[order], ends[order], notes.pitches[order]
    duplicates = np.zeros(len(order), dtype=bool)
    duplicates[1:] = (pitches[1:] == pitches[:-1]) & (starts[1:] == starts[:-1])
    starts, ends, pitches = starts[~duplicates], ends[~duplicates], pitches[~duplicates]
    next_starts = np.append(starts[1:], 0)
    trimmed = np.append(pitches[1:] == pitches[:-1], False) & (ends > next_starts)
    ends = np.where(trimmed, next_starts, ends)

    order = np.lexsort((-pitches, starts))
    report = QuantizeReport(
        notes=len(notes),
        off_grid=int((start_moved | end_moved).sum()),
        triplets=int(triplets.sum()),
        lengthened=int(lengthened.sum()),
        overlaps_trimmed=int(trimmed.sum()),
        duplicates_merged=int(duplicates.sum()),
    )
    return starts[order], ends[order], pitches[order], report


def _ticks_per_beat_from_bars(bars: Sequence[Bar]) -> int:
    """A complete bar of n/d has n*4*tpb/d ticks and n*16/d steps, so tpb = ticks * 4 / steps.
    (song_bars always ends with a complete bar.)"""
    for bar in bars:
        if bar.is_complete:
            return bar.length_ticks * 4 // bar.steps
    raise ValueError("cannot infer ticks per beat from bars that are all cut short; pass ticks_per_beat")


def reduce_to_monophony(notes: Sequence[StepNote]) -> tuple[list[StepNote], int]:
    """One line from possibly overlapping notes: (line, number of notes dropped).

    Of notes starting on the same step the highest wins. A later onset cuts the note before it
    short, except that a lower note lying wholly under a longer, higher one is dropped (the top
    line goes on). ``tied_from_before`` is kept on the notes that remain.
    """
    ordered = sorted(notes, key=lambda n: (n.start_step, -n.pitch))
    line: list[StepNote] = []
    dropped = 0
    for note in ordered:
        if line:
            previous = line[-1]
            if note.start_step == previous.start_step:
                dropped += 1  # a lower note of a chord
                continue
            if note.start_step < previous.end_step:
                if note.pitch < previous.pitch and note.end_step <= previous.end_step:
                    dropped += 1  # an inner voice under a held top note
                    continue
                line[-1] = StepNote(previous.start_step, note.start_step, previous.pitch, previous.tied_from_before)
        line.append(note)
    return line, dropped


def is_monophonic(notes: Sequence[StepNote], tolerance: float = 0.0) -> bool:
    """True when at most ``tolerance`` (a share, 0..1) of the notes start while another sounds."""
    if not notes:
        return True
    overlapping = 0
    sounding_until = None
    for note in sorted(notes, key=lambda n: (n.start_step, -n.end_step)):
        if sounding_until is not None and note.start_step < sounding_until:
            overlapping += 1
        sounding_until = note.end_step if sounding_until is None else max(sounding_until, note.end_step)
    return overlapping / len(notes) <= tolerance
