"""The controls as one token mask per decoding step, built from the line drawn so far (pure).

:class:`LineRules` is a ``sampling.StepMask``: given the target tokens drawn before step t (B, t) it
says which of the 32 music tokens step t may draw. It works in the window's frame (token id i is
the file pitch ``MIN_PITCH + i - octave_shift``), so every rule is stated in the file's pitches:

* pitches: the key's scale, the range (``--range`` or the default register);
* leaps: no pitch more than ``max_leap`` semitones from the line's previous note (rests skipped;
  the last note before the target counts for the first);
* rhythm (``--keep-rhythm``): where the original target has an onset only a pitch, where it holds
  only ``__``, where it rests only ``R``;
* density: per bar an onset budget; once the bar holds ``high`` onsets no pitch is allowed, and
  when the onsets still needed fill the eighth-note positions left, only a pitch is;
* top voice: at a step where a kept note (under the melody) starts, no pitch at or under it;
* chords (a song with other pitched tracks): a note landing on a beat leans towards the tones of
  the chord the other tracks play there (``pitch_weights``: log-weights, not a mask; then the
  answer is float, ``sampling``'s leaning form).

Where the rules leave a step that must sound no pitch (a forced onset), the leap rule gives way
first (the nearest allowed pitches), then the top-voice rule, so a step always has a token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np

from clsm_cli.constants import HOLD_TOKEN, MIN_PITCH, NUM_MUSIC_TOKENS, NUM_PITCHES, REST_TOKEN, TRIPLET_TOKEN

CHORD_TONE_LEAN = 3.0  # log-odds a chord tone gains on a beat (benchmarks/harmony.py --songs measures it)
UNLEANED_CHORD_TONE_SHARE = 0.5  # chord tones among the pitches drawn on a beat without the lean (0.51 measured)
ONSET, HOLD, REST, MARKER = 0, 1, 2, 3  # the token classes --keep-rhythm fixes per step (MARKER: a triplet quarter's 3:)


@dataclass(frozen=True)
class LineRules:
    """The masks of one target in one window (see the module docstring)."""

    file_pitches: np.ndarray  # (NUM_PITCHES,) int: the file pitch of each pitch token
    pitch_allowed: np.ndarray  # (NUM_PITCHES,) bool: key and range
    previous_pitch: Optional[int] = None  # file pitch of the melody's last note before the target
    max_leap: Optional[int] = None
    rhythm: Optional[np.ndarray] = None  # (L,) ONSET / HOLD / REST per step, or None
    floor: Optional[np.ndarray] = None  # (L,) int: a pitch at step t must be above floor[t] (-1: none)
    bar_starts: Optional[np.ndarray] = None  # (L,) int: the target step where step t's bar starts
    bar_ends: Optional[np.ndarray] = None  # (L,) int: the target step where step t's bar ends
    density: Optional[tuple[int, int]] = None  # onsets per bar (low, high)
    num_classes: int = NUM_MUSIC_TOKENS  # the decoder's classes: on the triplet grid also 3: (the grid's mask places it)
    pitch_weights: Optional[np.ndarray] = None  # (L, NUM_PITCHES) float: log-weight of each pitch landing on 16th step t

    def __call__(self, step: int, generated: np.ndarray) -> np.ndarray:
        """(B, C): the tokens step ``step`` may draw after ``generated`` (B, step); bool, or float
        log-weights (-inf: forbidden) when the rules lean (``pitch_weights``)."""
        generated = np.asarray(generated, dtype=np.int64)
        if self.rhythm is None and self.density is None:  # no onset rule: every row at once
            allowed = self._free_rows(step, generated)
        else:
            allowed = np.stack([self._row(step, row) for row in generated])
        if self.pitch_weights is None:
            return allowed
        weights = np.where(allowed, 0.0, -np.inf)  # (B, C)
        weights[:, :NUM_PITCHES] += self.pitch_weights[_landing_steps(step, generated)]
        return weights

    def _free_rows(self, step: int, generated: np.ndarray) -> np.ndarray:
        """:meth:`_row` for every row of ``generated`` (B, step) when no rhythm or density rule
        applies, vectorised: the decoder calls this once per step of every draw."""
        batch = generated.shape[0]
        pitches = np.repeat(self.pitch_allowed[None], batch, axis=0)  # (B, P)
        if self.floor is not None:
            floor = self.floor[_landing_steps(step, generated)]  # (B,)
            pitches &= (floor[:, None] < 0) | (self.file_pitches[None] > floor[:, None])
        if self.max_leap is not None:
            previous = np.full(batch, -1 if self.previous_pitch is None else self.previous_pitch)  # (B,) -1: none
            if generated.shape[1]:
                is_note = generated < NUM_PITCHES  # (B, step)
                last = generated.shape[1] - 1 - np.argmax(is_note[:, ::-1], axis=1)
                drawn = generated[np.arange(batch), last]
                has_note = is_note.any(axis=1)
                previous[has_note] = self.file_pitches[drawn[has_note]]
            near = np.abs(self.file_pitches[None] - previous[:, None]) <= self.max_leap
            pitches &= near | (previous[:, None] < 0)
        allowed = np.zeros((batch, self.num_classes), dtype=bool)
        allowed[:, :NUM_PITCHES] = pitches
        allowed[:, REST_TOKEN] = allowed[:, HOLD_TOKEN] = True
        allowed[:, NUM_MUSIC_TOKENS:] = True  # the grammar's own tokens (3:): the grid's mask decides
        return allowed

    def _row(self, step: int, drawn: np.ndarray) -> np.ndarray:
        pitches = self.pitch_allowed.copy()
        landing = int(_landing_steps(step, drawn[None])[0])
        if self.floor is not None and self.floor[landing] >= 0:
            pitches &= self.file_pitches > self.floor[landing]
        previous = self._previous_pitch(drawn)
        relaxed = pitches.copy()  # before the leap rule: what a forced onset may fall back on
        if self.max_leap is not None and previous is not None:
            pitches &= np.abs(self.file_pitches - previous) <= self.max_leap
        allowed = np.zeros(self.num_classes, dtype=bool)
        if self.rhythm is not None and self.rhythm[step] == MARKER:  # the original's triplet quarter
            allowed[TRIPLET_TOKEN] = True
            return allowed
        must_sound, may_sound = self._onset_rule(step, drawn)
        if may_sound:
            allowed[:NUM_PITCHES] = pitches
        if must_sound and not allowed[:NUM_PITCHES].any():
            allowed[:NUM_PITCHES] = _nearest(relaxed if relaxed.any() else self.pitch_allowed, self.file_pitches, previous)
        if not must_sound:
            rhythm = None if self.rhythm is None else self.rhythm[step]
            if rhythm is None:  # the grammar's own tokens (3: on the triplet grid): its mask decides
                allowed[NUM_MUSIC_TOKENS:] = True
            if rhythm in (None, REST):
                allowed[REST_TOKEN] = True
            if rhythm in (None, HOLD):
                allowed[HOLD_TOKEN] = True
        if not allowed.any():  # a step that must sound with no pitch at all: checked before decoding
            allowed[REST_TOKEN] = True
        return allowed

    def _previous_pitch(self, drawn: np.ndarray) -> Optional[int]:
        onsets = np.flatnonzero(drawn < NUM_PITCHES)
        if len(onsets):
            return int(self.file_pitches[drawn[onsets[-1]]])
        return self.previous_pitch

    def _onset_rule(self, step: int, drawn: np.ndarray) -> tuple[bool, bool]:
        """(must the step be an onset, may it be one) under the rhythm and the density budget."""
        if self.rhythm is not None:
            return self.rhythm[step] == ONSET, self.rhythm[step] == ONSET
        if self.density is None or self.bar_starts is None or self.bar_ends is None:
            return False, True
        low, high = self.density
        bar_start, bar_end = int(self.bar_starts[step]), int(self.bar_ends[step])
        onsets = int(np.count_nonzero(drawn[bar_start:step] < NUM_PITCHES))
        if onsets >= high:
            return False, False
        needed = low - onsets
        if needed <= 0:
            return False, True
        bar_steps = bar_end - bar_start
        every = 2 if low <= bar_steps // 2 else 1  # eighth-note positions, or every step for busy bars
        if (step - bar_start) % every:
            return False, True
        positions_left = len(range(step, bar_end, every)) if every == 1 else len(
            [s for s in range(step, bar_end) if (s - bar_start) % every == 0])
        return needed >= positions_left, True


# Where a note drawn at token k of a triplet quarter ([3:, t1, t2, t3]) starts on the 16th grid the
# editing commands keep (music/triplets.py: a triplet's steps round to the quarter's 16ths 0, 1 and 3).
_TRIPLET_LANDING = {1: 0, 2: 1, 3: 3}


def _landing_steps(step: int, generated: np.ndarray) -> np.ndarray:
    """The target's 16th step a note drawn at token ``step`` starts on, for every row of tokens
    ``generated`` (B, step) drawn before it: the step itself, or inside a triplet quarter (its
    marker drawn) the 16th its triplet rounds to. (B,) int"""
    quarter = step - step % 4
    landing = np.full(generated.shape[0], step)
    if step > quarter and generated.shape[1] > quarter:
        in_triplet = generated[:, quarter] == TRIPLET_TOKEN
        landing[in_triplet] = quarter + _TRIPLET_LANDING[step - quarter]
    return landing


def _nearest(candidates: np.ndarray, file_pitches: np.ndarray, previous: Optional[int]) -> np.ndarray:
    """The allowed pitches closest to ``previous`` (all of them when there is no previous note)."""
    if previous is None or not candidates.any():
        return candidates
    distance = np.where(candidates, np.abs(file_pitches - previous), np.iinfo(np.int64).max)
    return distance == distance.min()


def chord_weights(chords: Mapping[int, frozenset[int]], file_pitches: np.ndarray, target_start_step: int,
                  length: int, lean: float = CHORD_TONE_LEAN,
                  unleaned_share: float = UNLEANED_CHORD_TONE_SHARE) -> Optional[np.ndarray]:
    """(L, NUM_PITCHES) log-weights of each pitch token landing on each target step: at a beat with a
    chord (song step -> pitch classes), its tones ``up`` and the other pitches ``up - lean``, so the
    odds of a chord tone against another pitch grow by ``e ** lean``; 0 elsewhere. None when no
    beat of the target has a chord.

    ``up`` keeps a note on the beat as likely as before when ``unleaned_share`` of the pitch mass
    sat on chord tones (``s e^up + (1 - s) e^(up - lean) = 1``): the lean moves pitches, not the
    rhythm (an even split, ``+-lean / 2``, made onsets on beats over twice as likely)."""
    up = -math.log(unleaned_share + (1 - unleaned_share) * math.exp(-lean))
    weights = np.zeros((length, NUM_PITCHES))
    leaning = False
    for step, chord in chords.items():
        offset = step - target_start_step
        if 0 <= offset < length and chord:
            weights[offset] = np.where(np.isin(file_pitches % 12, sorted(chord)), up, up - lean)
            leaning = True
    return weights if leaning else None


def file_pitches_of(octave_shift: int) -> np.ndarray:
    """(NUM_PITCHES,) the file pitch each pitch token stands for in a window shifted by ``octave_shift``."""
    return MIN_PITCH + np.arange(NUM_PITCHES) - int(octave_shift)


def pitch_mask(file_pitches: np.ndarray, scale: Optional[frozenset[int]],
               pitch_range: Optional[tuple[int, int]]) -> np.ndarray:
    """(NUM_PITCHES,) bool: the tokens whose file pitch is in the scale and inside the range."""
    allowed = np.ones(NUM_PITCHES, dtype=bool)
    if scale is not None:
        allowed &= np.isin(file_pitches % 12, sorted(scale))
    if pitch_range is not None:
        allowed &= (file_pitches >= pitch_range[0]) & (file_pitches <= pitch_range[1])
    return allowed


def rhythm_classes(tokens: np.ndarray) -> np.ndarray:
    """(L,) ONSET / HOLD / REST / MARKER of each target token (the original's rhythm, triplets kept)."""
    tokens = np.asarray(tokens, dtype=np.int64)
    return np.where(tokens < NUM_PITCHES, ONSET, np.where(tokens == HOLD_TOKEN, HOLD,
                                                          np.where(tokens == TRIPLET_TOKEN, MARKER, REST)))


def floor_of_kept(kept: Sequence[tuple[int, int]], target_start_step: int, length: int) -> Optional[np.ndarray]:
    """(L,) the highest kept note (start step, file pitch) starting at each target step, -1 where none;
    None when no kept note starts in the target."""
    floor = np.full(length, -1, dtype=np.int64)
    for start, pitch in kept:
        offset = start - target_start_step
        if 0 <= offset < length:
            floor[offset] = max(floor[offset], pitch)
    return floor if (floor >= 0).any() else None


def bar_bounds(bar_spans: Sequence[tuple[int, int]], target_start_step: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """(L,), (L,): for each target step, the target steps where its bar starts and ends."""
    starts = np.zeros(length, dtype=np.int64)
    ends = np.full(length, length, dtype=np.int64)
    for bar_start, bar_end in bar_spans:
        first, last = bar_start - target_start_step, bar_end - target_start_step
        starts[max(first, 0) : max(last, 0)] = max(first, 0)
        ends[max(first, 0) : max(last, 0)] = min(last, length)
    return starts, ends


def density_budget(density: Optional[tuple[float, float]]) -> Optional[tuple[int, int]]:
    """Whole onsets per bar from ``--density LOW-HIGH`` (LOW rounded up, HIGH down; None: no budget)."""
    if density is None:
        return None
    low, high = density
    return int(math.ceil(low)), int(math.floor(high)) if math.isfinite(high) else 10**6
