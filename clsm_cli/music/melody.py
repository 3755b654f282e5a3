"""Tracks for ``clsm show``, the melody as notes on the 16th-note step grid, and its top voice.

* :func:`track_summaries` describes every track (a (chunk, channel) pair) for ``clsm show``.
* :func:`choose_melody_track` picks the melody track, one per song whatever bars are edited: the
  ``--track`` the user gave, or the best guess of ``track_choice.choose_melody`` (which also says
  why, and lists the runners-up).
* :func:`quantize_track` moves a track's notes onto the *song step grid* (``bars.song_bars``:
  steps counted on from bar to bar, 16 per 4/4 bar) and reports what moved. Pitches stay real MIDI
  pitches and chords stay chords; :func:`reduce_to_monophony` makes the single line the model
  reads (the top voice, see ``voices``) and counts what it dropped.
* :func:`split_top_voice` splits a track with chords into its top voice (the melody, what an edit
  replaces) and the notes under it (kept), each note with its original ticks and its index.

**Which bar a note belongs to.** A note belongs to the bar its *quantized onset* falls in. An onset
tick is rounded to the nearest 16th step of the bar holding it, ``round((tick - bar.start_tick) /
(ticks_per_beat / 4))``, with exactly half a step rounding *later* (half-up), in integer arithmetic
so that it is exact at every resolution. A note played a few ticks before a bar line therefore
belongs to the bar after it (its onset rounds onto the bar line); the tail of a bar cut short by a
time signature rounds onto the next bar's first step. Releases are rounded the same way, and a
note shorter than a step after rounding lasts one step.

:func:`polyphony_share`, :func:`quantize_track` and :func:`quantize_line` (quantize, then reduce
to one line) work on numpy columns of the notes, so they take either kind of track, a ``MidiTrack``
(editing commands) or a ``NoteTrack`` (``clsm data build``), with the same result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from clsm_cli.music.bars import Bar, BarRange, song_bars
from clsm_cli.music.song import MidiNote, MidiSong, MidiTrack, NoteTrack, note_arrays
from clsm_cli.music.tokens import StepNote
from clsm_cli.timebase import is_off_step, tick_offsets_to_steps
from clsm_cli.music.track_choice import (  # noqa: F401  (older callers import these from here)
    LEGATO_TOLERANCE_BEATS,
    MOSTLY_MONOPHONIC_SHARE,
    MelodyChoice,
    choose_melody,
    find_track,
    is_bass_track,
    polyphony_share,
)
from clsm_cli.music.voices import top_line, top_voice_mask

# Reported as moved: onsets or releases more than 1/8 step from a 16th line. Reported as triplets:
# onsets within 1/48 beat of a triplet position (k/6 of a beat) and of no 16th (see _place_on_grid).


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


def choose_melody_track(
    song: MidiSong,
    requested: str | None,
    bar_range: tuple[int, int] | None = None,
    bars: Sequence[Bar] | None = None,
) -> MidiTrack:
    """``choose_melody(song, requested, bars).track``: the melody track, one per song.

    ``bar_range`` is accepted for old callers and ignored: the choice never depends on the bars
    being edited (see ``track_choice``).
    """
    return choose_melody(song, requested, bars).track


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

    def summary(self, triplet_grid: bool = False) -> str:
        """One sentence for a warning, or "" when nothing moved. On the ``triplet_grid`` (a model
        that reads 8th-note triplets) the notes on triplets are not moved, so they go unmentioned."""
        parts = []
        off_grid = self.off_grid - self.triplets if triplet_grid else self.off_grid
        if off_grid > 0:
            parts.append(f"{off_grid} of {self.notes} notes were off the 16th-note grid and moved onto it")
        if self.triplets and not triplet_grid:
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
    steps = tick_offsets_to_steps(offset, tpb)  # halves up
    # A cut-short bar's tail belongs to the next bar's first step (the last bar has no next one).
    steps = np.where((index < len(bars) - 1) & (steps > bar_steps[index]), bar_steps[index], steps)
    off_grid = is_off_step(offset, steps, tpb)  # more than 1/8 step away
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
    the bar holding the tick, exactly half a step rounding later (see the module docstring: the
    note then belongs to the bar its rounded onset falls in); a note shorter than a step after rounding lasts one step. Same-pitch
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

    The line is the top voice (``voices.top_line``): at each onset the highest sounding note; notes
    under it are dropped, and a note still sounding when the next line note starts ends there.
    ``tied_from_before`` is kept on the notes that remain.
    """
    line = top_line(notes)
    return line, len(notes) - len(line)


# --- the top voice of a part with chords ----------------------------------------------------------


@dataclass(frozen=True)
class VoicedNote:
    """A note of a track with its place on the song step grid; ``note`` is untouched."""

    index: int  # position in the track's notes (MidiTrack.notes order): the note's identity
    note: MidiNote  # ticks, pitch and velocity as read
    start_step: int  # quantized onset: the note belongs to the bar this step falls in
    end_step: int  # quantized release (at least one step after start_step)


@dataclass(frozen=True)
class VoiceSplit:
    """A track's notes split into its top voice (the melody) and the voices under it."""

    top: tuple[VoicedNote, ...]  # by onset
    others: tuple[VoicedNote, ...]  # by onset, then highest first

    def line(self) -> list[StepNote]:
        """The top voice as one monophonic line on the song step grid."""
        return top_line([StepNote(n.start_step, n.end_step, n.note.pitch) for n in self.top])


def split_top_voice(
    track: MidiTrack | NoteTrack, bars: Sequence[Bar], ticks_per_beat: int | None = None
) -> VoiceSplit:
    """Split ``track``'s notes into its top voice and the rest by the rule of ``voices``: at each
    (quantized) onset the highest sounding note is the melody, every note under it accompanies.

    Onsets and releases are placed as :func:`quantize_track` places them; nothing is merged or
    trimmed, so every note of the track is in exactly one of the two parts, with its original ticks.
    A monophonic track is all top voice.
    """
    if ticks_per_beat is None:
        ticks_per_beat = _ticks_per_beat_from_bars(bars)
    notes = note_arrays(track)  # in MidiTrack.notes order
    starts, _, _ = _place_on_grid(notes.start_ticks, bars, ticks_per_beat)
    ends, _, _ = _place_on_grid(notes.end_ticks, bars, ticks_per_beat)
    ends = np.maximum(ends, starts + 1)
    voiced = [
        VoicedNote(index, note, start, end)
        for index, (note, start, end) in enumerate(zip(notes.to_notes(), starts.tolist(), ends.tolist()))
    ]
    is_top = top_voice_mask(starts.tolist(), ends.tolist(), notes.pitches.tolist())
    by_onset = sorted(range(len(voiced)), key=lambda i: (voiced[i].start_step, -voiced[i].note.pitch, i))
    return VoiceSplit(
        top=tuple(voiced[i] for i in by_onset if is_top[i]),
        others=tuple(voiced[i] for i in by_onset if not is_top[i]),
    )


def in_bars(note: VoicedNote, bars: Sequence[Bar], first_bar: int, last_bar: int) -> bool:
    """Whether ``note`` belongs to bars ``first_bar..last_bar`` (1-based, inclusive): whether its
    quantized onset falls in them (a note played a few ticks early belongs to the bar it rounds to)."""
    return bars[first_bar - 1].first_step <= note.start_step < bars[last_bar - 1].end_step


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
