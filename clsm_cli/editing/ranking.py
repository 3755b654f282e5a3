"""The fit score that ranks a pool of candidates, with its parts (pure).

``total = log_likelihood + EDGE_WEIGHT * edge_leaps + KEY_WEIGHT * key_fit
+ REGISTER_WEIGHT * register_fit + REPEAT_WEIGHT * repeat_fit + SPREAD_WEIGHT * spread_fit
+ HARMONY_WEIGHT * harmony_fit``,
higher is better:

* ``log_likelihood``: the model's mean log-probability per target token under the distribution the
  token was drawn from (masked by the controls, at the decoding's temperature and nucleus);
* ``edge_leaps``: minus how far the leaps into and out of the target exceed the context's usual
  leap (the median leap between its consecutive notes), in octaves (0 when they do not);
* ``key_fit``: minus how far the share of new notes in the song's key falls under the context's
  own share (0 when it does not);
* ``register_fit``: minus how far the middle (median) of the new notes lies from the middle of
  the context's notes, in octaves (a line sunk an octave costs 1; a wide line in place costs
  nothing: the range itself is a control);
* ``spread_fit``: minus how far the new notes' range (highest minus lowest) falls under the usual
  range of the context's stretches of the target's length, in octaves (likelihood alone favours
  lines that hug one note);
* ``repeat_fit``: minus how far the share of new notes repeating the note before them exceeds
  the context's own share (the likelihood alone favours repeated notes);
* ``harmony_fit`` (songs with other pitched tracks): the share of new notes on beats (or a 16th
  off one) whose pitch class sounds in the other tracks at that moment, minus the same share of
  the context's notes (capped at 0 from above: agreeing more than the context does earns nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np

from clsm_cli.music.key import Key
from clsm_cli.music.tokens import StepNote

EDGE_WEIGHT = 1.0
KEY_WEIGHT = 2.0
REGISTER_WEIGHT = 1.0
REPEAT_WEIGHT = 2.0
SPREAD_WEIGHT = 1.0
HARMONY_WEIGHT = 0.5
SEMITONES_PER_OCTAVE = 12


@dataclass(frozen=True)
class FitContext:
    """What a candidate is judged against: the song around the target, in file pitches."""

    key: Optional[Key]
    before: Optional[int]  # the melody's last note before the target
    after: Optional[int]  # its first note after the target
    context_pitches: tuple[int, ...]  # the window's melody notes outside the target, in order
    harmony: Optional[Mapping[int, frozenset[int]]] = None  # beat step -> pitch classes of other tracks
    context_onsets: tuple[tuple[int, int], ...] = ()  # (step, pitch) of the context notes, in order
    target_steps: int = 0  # the target's length: the stretch the context's usual range is taken over

    @property
    def usual_spread(self) -> Optional[float]:
        """The median range of the context's notes over stretches of the target's length."""
        if self.target_steps <= 0 or not self.context_onsets:
            return None
        stretches: dict[int, list[int]] = {}
        for step, pitch in self.context_onsets:
            stretches.setdefault(step // self.target_steps, []).append(pitch)
        spreads = [max(p) - min(p) for p in stretches.values() if len(p) >= 2]
        return float(np.median(spreads)) if spreads else None

    @property
    def usual_leap(self) -> float:
        pitches = self.context_pitches
        leaps = [abs(b - a) for a, b in zip(pitches, pitches[1:])]
        return float(np.median(leaps)) if leaps else float(SEMITONES_PER_OCTAVE // 2)

    @property
    def repeat_share(self) -> Optional[float]:
        return _repeat_share(self.context_pitches)

    @property
    def key_share(self) -> Optional[float]:
        if self.key is None or not self.context_pitches:
            return None
        return sum(self.key.contains(p) for p in self.context_pitches) / len(self.context_pitches)


@dataclass(frozen=True)
class Score:
    total: float
    log_likelihood: float
    edge_leaps: float
    key_fit: float
    register_fit: float
    harmony_fit: Optional[float]
    repeat_fit: float = 0.0
    spread_fit: float = 0.0

    def to_json(self) -> dict:
        parts = {"total": self.total, "log_likelihood": self.log_likelihood, "edge_leaps": self.edge_leaps,
                 "key_fit": self.key_fit, "register_fit": self.register_fit, "repeat_fit": self.repeat_fit, "spread_fit": self.spread_fit,
                 "harmony_fit": self.harmony_fit}
        return {name: None if value is None else round(float(value), 4) for name, value in parts.items()}


def score_candidate(new_notes: Sequence[StepNote], mean_log_prob: float, fit: FitContext) -> Score:
    """The fit score of one candidate's new target notes (file pitches, tied notes ignored)."""
    started = sorted((n for n in new_notes if not n.tied_from_before), key=lambda n: n.start_step)
    pitches = [n.pitch for n in started]
    edge = 0.0
    if pitches:
        usual = fit.usual_leap
        for outside, inside in ((fit.before, pitches[0]), (fit.after, pitches[-1])):
            if outside is not None:
                edge -= max(0.0, abs(inside - outside) - usual) / SEMITONES_PER_OCTAVE
    key_fit = 0.0
    context_share = fit.key_share
    if pitches and context_share is not None:
        share = sum(fit.key.contains(p) for p in pitches) / len(pitches)
        key_fit = -max(0.0, context_share - share)
    register_fit = 0.0
    if pitches and fit.context_pitches:
        register_fit = -abs(float(np.median(pitches)) - float(np.median(fit.context_pitches))) / SEMITONES_PER_OCTAVE
    repeat_fit = 0.0
    context_repeats, new_repeats = fit.repeat_share, _repeat_share(pitches)
    if context_repeats is not None and new_repeats is not None:
        repeat_fit = -max(0.0, new_repeats - context_repeats)
    spread_fit = 0.0
    usual_spread = fit.usual_spread
    if pitches and usual_spread is not None:
        spread_fit = -max(0.0, usual_spread - (max(pitches) - min(pitches))) / SEMITONES_PER_OCTAVE
    harmony_fit = None
    if fit.harmony is not None:
        new_share = _harmony_share([(n.start_step, n.pitch) for n in started], fit.harmony)
        context = _harmony_share(fit.context_onsets, fit.harmony)
        if new_share is not None:
            harmony_fit = min(0.0, new_share - (context if context is not None else 1.0))
    total = (float(mean_log_prob) + EDGE_WEIGHT * edge + KEY_WEIGHT * key_fit + REGISTER_WEIGHT * register_fit
             + REPEAT_WEIGHT * repeat_fit + SPREAD_WEIGHT * spread_fit + HARMONY_WEIGHT * (harmony_fit or 0.0))
    return Score(total, float(mean_log_prob), edge, key_fit, register_fit, harmony_fit, repeat_fit, spread_fit)


def _repeat_share(pitches: Sequence[int]) -> Optional[float]:
    """The share of consecutive notes with the same pitch (None with fewer than two notes)."""
    pairs = list(zip(pitches, pitches[1:]))
    return sum(a == b for a, b in pairs) / len(pairs) if pairs else None


STEPS_PER_BEAT = 4  # a quarter note on the 16th grid
BEAT_TOLERANCE_STEPS = 1  # a note a 16th off the beat (a push, a triplet rounded) still counts as on it


def _harmony_share(onsets: Sequence[tuple[int, int]], harmony: Mapping[int, frozenset[int]]) -> Optional[float]:
    """The share of notes on (or a 16th off) a beat whose pitch class sounds in the other tracks at
    their onset; notes where the other tracks are silent are not judged (None: no note judged)."""
    def on_beat(step: int) -> bool:
        offset = step % STEPS_PER_BEAT
        return min(offset, STEPS_PER_BEAT - offset) <= BEAT_TOLERANCE_STEPS

    judged = [(pitch % 12) in harmony[step] for step, pitch in onsets if on_beat(step) and step in harmony]
    return sum(judged) / len(judged) if judged else None


def rank_order(scores: Sequence[Score], rank: bool = True) -> list[int]:
    """Indices best first (ties keep draw order); draw order itself with ``rank`` False."""
    if not rank:
        return list(range(len(scores)))
    return sorted(range(len(scores)), key=lambda index: (-scores[index].total, index))
