"""Where a file's grid sits: the offset within a grid step most onsets share, and the bar phase.

Transcribed and performed files often do not start their beats at tick 0 (issue 24 item 5): every
POP909 melody sits a constant number of ticks off a 16th grid counted from tick 0 (41, 51, ...),
abc2midi writes every CRÉ onset one tick late, and a tune whose pickup is not padded starts its
first full bar where the pickup ends. Pure functions on numpy tick arrays (no files, no torch):

* :func:`grid_offset`: the offset within one grid unit (a 16th: ``ticks_per_beat // 4``) that the
  most onsets share, when at least ``MIN_OFFSET_SHARE`` of them share it; 0 otherwise.
* :func:`bar_phase`: the shift in grid steps (0 .. steps per bar - 1) whose bar lines best match
  where the music's weight falls: onsets, long notes, bass notes and drum hits (kick and snare).
* :func:`detect_phase`: both, as one :class:`GridPhase` (``ticks``: the total shift of the bar
  grid from tick 0, what ``--phase TICKS`` sets).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

MIN_OFFSET_SHARE = 0.8  # the offset counts only when this share of the onsets sit at it
KICK_AND_SNARE = (35, 36, 38, 40)  # General MIDI drum keys that mark beats 1 and 3 / 2 and 4


@dataclass(frozen=True)
class GridPhase:
    """How far the file's grid sits from the grid counted from tick 0.

    ``offset_ticks`` (0 .. unit - 1) is the offset within a grid step that ``offset_share`` of the
    onsets share; ``bar_steps`` the whole steps the first bar line sits after tick 0 (mod a bar).
    ``ticks`` is the whole shift: bars are counted from it.
    """

    offset_ticks: int
    offset_share: float
    bar_steps: int
    unit_ticks: int

    @property
    def ticks(self) -> int:
        return self.offset_ticks + self.bar_steps * self.unit_ticks

    def describe(self) -> str:
        if not self.ticks:
            return "on the grid from tick 0"
        parts = []
        if self.offset_ticks:
            parts.append(f"onsets {self.offset_ticks} ticks after the grid ({100 * self.offset_share:.0f}% share it)")
        if self.bar_steps:
            parts.append(f"bars start {self.bar_steps} steps later")
        return f"{self.ticks} ticks: " + ", ".join(parts)


def grid_offset(onset_ticks: np.ndarray, unit_ticks: int, min_share: float = MIN_OFFSET_SHARE) -> tuple[int, float]:
    """The offset (0 .. unit_ticks - 1) the most onsets share within a grid unit, and that share.

    Returns ``(0, share)`` when fewer than ``min_share`` of the onsets share one offset (a file
    played freely has no constant offset), and ``(0, 1.0)`` for no onsets.
    """
    onsets = np.asarray(onset_ticks, dtype=np.int64)
    if unit_ticks < 1:
        raise ValueError(f"unit_ticks must be at least 1, got {unit_ticks}")
    if not len(onsets):
        return 0, 1.0
    counts = np.bincount(onsets % unit_ticks, minlength=unit_ticks)
    offset = int(counts.argmax())
    share = float(counts[offset]) / len(onsets)
    return (offset, share) if share >= min_share else (0, share)


PREFER_UNSHIFTED = 0.9  # a shift must score over 1/0.9 of no shift to be taken: the file's own grid wins ties


def bar_phase(
    onset_ticks: np.ndarray,
    durations: np.ndarray,
    unit_ticks: int,
    steps_per_bar: int,
    steps_per_beat: int,
    accent_ticks: Sequence[np.ndarray] = (),
) -> int:
    """The bar lines' shift in steps (0 .. steps_per_bar - 1) that puts the music's weight on them.

    Each onset (already on the grid: ticks minus the grid offset) weighs 1 plus its length in
    beats (long notes sit on strong beats); ``accent_ticks`` (bass notes, kick and snare hits) weigh
    2 each. First the beat phase (the step within a beat where the most weight falls), then the
    bar phase among the beats (the beat where the most weight falls); each is taken only when it
    scores clearly above no shift (``PREFER_UNSHIFTED``), so a file already on its bars keeps 0.
    """
    steps = np.asarray(onset_ticks, dtype=np.int64) // unit_ticks
    weights = 1.0 + np.asarray(durations, dtype=np.float64) / (unit_ticks * steps_per_beat)
    for accents in accent_ticks:
        accents = np.asarray(accents, dtype=np.int64)
        steps = np.concatenate([steps, accents // unit_ticks])
        weights = np.concatenate([weights, np.full(len(accents), 2.0)])
    if not len(steps):
        return 0
    profile = np.bincount(steps % steps_per_bar, weights=weights, minlength=steps_per_bar)
    beat_profile = profile.reshape(-1, steps_per_beat).sum(axis=0) if steps_per_bar % steps_per_beat == 0 else profile
    beat = _clear_winner(beat_profile[:steps_per_beat])
    on_beats = profile[beat::steps_per_beat]
    return beat + steps_per_beat * _clear_winner(on_beats)


def _clear_winner(scores: np.ndarray) -> int:
    best = int(np.argmax(scores))
    return 0 if scores[0] >= PREFER_UNSHIFTED * scores[best] else best


def detect_phase(
    onset_ticks: np.ndarray,
    end_ticks: np.ndarray,
    ticks_per_beat: int,
    steps_per_bar: int,
    steps_per_quarter: int = 4,
    steps_per_beat: int | None = None,
    accent_ticks: Sequence[np.ndarray] = (),
) -> GridPhase:
    """The grid offset and bar phase of a melody's notes (``accent_ticks``: bass notes and drum hits).

    The grid unit is one step: ``ticks_per_beat // steps_per_quarter`` ticks (a 16th by default;
    the grid is a parameter so a triplet grid keeps its own steps).
    """
    unit = max(1, ticks_per_beat // steps_per_quarter)
    onsets = np.asarray(onset_ticks, dtype=np.int64)
    offset, share = grid_offset(onsets, unit)
    beat = steps_per_beat or steps_per_quarter
    shifted = [np.asarray(a, dtype=np.int64) - offset for a in accent_ticks]
    durations = np.asarray(end_ticks, dtype=np.int64) - onsets
    steps = bar_phase(onsets - offset, durations, unit, steps_per_bar, beat, shifted)
    return GridPhase(offset, share, steps, unit)


def song_grid_phase(song, melody_track, steps_per_bar: int, steps_per_quarter: int = 4) -> GridPhase:
    """The phase of a read song (``MidiSong``): its melody track's notes, with its bass tracks' onsets
    and its drum tracks' kicks and snares as accents."""
    from clsm_cli.music.melody import is_bass_track
    from clsm_cli.music.song import note_arrays

    accents = []
    for track in song.tracks:
        if track is melody_track or not len(track.notes):
            continue
        notes = note_arrays(track)
        if track.is_drum:
            accents.append(notes.start_ticks[np.isin(notes.pitches, KICK_AND_SNARE)])
        elif is_bass_track(track):
            accents.append(notes.start_ticks)
    notes = note_arrays(melody_track)
    return detect_phase(notes.start_ticks, notes.end_ticks, song.ticks_per_beat, steps_per_bar,
                        steps_per_quarter, accent_ticks=accents)
