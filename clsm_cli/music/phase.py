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
* :attr:`GridPhase.applied_ticks`: the part of it clsm applies by default, when a song is read
  (``editing/prepare.open_song``): only what the evidence makes safe. The offset, when at least
  ``MIN_OFFSET_SHARE`` of the onsets share it and it is at least ``MIN_APPLIED_OFFSET`` of a step
  (abc2midi's one tick is rounding noise the quantizer absorbs either way); plus, in such a
  shifted file only, the step within the beat where the beats fall, when the 8th grid is clear
  (:func:`confident_beat_step`). Together they put clsm's beat lines on the music's beats. Never
  the bar phase among the beats: on the POP909 dev songs it matched the annotated downbeats in 4
  of 8, and a wrong one renumbers bars. So each bar line moves to a beat of the music less than a
  beat before it, or under half a step after it (a phase of half a step or more is applied as a
  negative one: bar 1 then starts before tick 0, ``music/bars.py`` pads it, and bar numbers stay
  those of a DAW). A file whose onsets sit on the grid from tick 0 is never moved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

MIN_OFFSET_SHARE = 0.8  # the offset counts only when this share of the onsets sit at it
MIN_APPLIED_OFFSET = 1 / 16  # of a step: smaller offsets are not applied by default (timing noise)
CLEAR_EIGHTHS = 2.0  # the beat's 8th grid must carry this many times the weight of the off-8ths
MIN_BEAT_ONSETS = 16  # fewer onsets: no beat phase by default
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
    beat_steps: int = 0  # the confident step within the beat where beats fall (0: none or not confident)
    steps_per_beat: int = 4  # grid steps in one beat: the applied phase moves bar lines by less than this

    @property
    def ticks(self) -> int:
        return self.offset_ticks + self.bar_steps * self.unit_ticks

    @property
    def offset_applies(self) -> bool:
        """Whether the offset is large enough to apply by default (see the module's rule)."""
        return self.offset_ticks >= max(1, math.ceil(MIN_APPLIED_OFFSET * self.unit_ticks))

    @property
    def beat_ticks(self) -> int:
        return self.unit_ticks * self.steps_per_beat

    @property
    def applied_ticks(self) -> int:
        """The phase applied when ``--phase`` is not given, in a file whose onsets are off the grid
        counted from tick 0: the offset within a 16th plus the confident beat step. Under half a
        step it is applied as it is (onsets just before it round onto bar 1's first step); from
        half a step on, a beat earlier (negative: the bar lines move back to the music's beat
        before them, bar 1 starts before tick 0 and is padded there, so no bar is renumbered and
        no short lead bar opens the song). 0 for a file on the grid from tick 0."""
        if not self.offset_applies:
            return 0
        ticks = self.offset_ticks + self.beat_steps * self.unit_ticks  # 0 .. beat_ticks - 1
        return ticks if 2 * ticks < self.unit_ticks else ticks - self.beat_ticks

    def describe_applied(self) -> str:
        """What the default applied, in words (``clsm show`` and the editing commands' warnings)."""
        parts = [f"onsets {self.offset_ticks} ticks after the 16th grid ({100 * self.offset_share:.0f}% share it)"]
        if self.beat_steps:
            parts.append(f"beats {self.beat_steps} 16th{'s' if self.beat_steps > 1 else ''} later")
        applied = self.applied_ticks
        padded = (f" (a beat before tick {applied + self.beat_ticks}: bar 1 starts {-applied} ticks before the file, "
                  "padded with rests)") if applied < 0 else ""
        return f"bars counted from tick {applied}{padded}: " + ", ".join(parts)

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
    beat_step = confident_beat_step(onsets - offset, durations, unit, beat)
    return GridPhase(offset, share, steps, unit, beat_step, beat)


def confident_beat_step(onset_ticks: np.ndarray, durations: np.ndarray, unit_ticks: int, steps_per_beat: int) -> int:
    """The step within a 4-step beat where the beats fall, when the evidence is clear; else 0.

    Onsets (already on the grid) weigh as in :func:`bar_phase`. The 8th grid (steps b and b + 2)
    must carry at least ``CLEAR_EIGHTHS`` times the weight of the other two steps; the beat is the
    heavier of its two steps. Other beat sizes (a triplet grid's) and songs of fewer than
    ``MIN_BEAT_ONSETS`` onsets give 0. On the POP909 dev songs this matched the annotated beats in
    7 of 8 and left the eighth (a syncopated song whose 8ths are unclear) at 0.
    """
    if steps_per_beat != 4 or len(onset_ticks) < MIN_BEAT_ONSETS:
        return 0
    steps = np.asarray(onset_ticks, dtype=np.int64) // unit_ticks
    weights = 1.0 + np.asarray(durations, dtype=np.float64) / (unit_ticks * steps_per_beat)
    profile = np.bincount(steps % steps_per_beat, weights=weights, minlength=steps_per_beat)
    eighths = profile[:2] + profile[2:]  # (2,): the 8th grid through step 0, through step 1
    grid = int(np.argmax(eighths))
    if eighths[grid] < CLEAR_EIGHTHS * eighths[1 - grid]:
        return 0
    return grid if profile[grid] >= profile[grid + 2] else grid + 2


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
