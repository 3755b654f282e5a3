"""Rules at a target's first steps, composed around a command's masks (``steering.line_rules``).

Both are ``sampling.StepMask`` wrappers (pure): every later step is left to the wrapped masks.

* :class:`RestsBeforeTheFile`: when bars are counted from a grid phase (``music/phase.py``), bar 1
  may start before tick 0, a whole bar whose steps before the file are silent padding
  (``music/bars.first_sounding_step``). A target starting there draws only rests on them, so no
  new note is ever written before tick 0.
* :class:`NoHoldUnderKept`: a hold (``__``) at the target's first step becomes a new note of the
  pitch sounding just before the target (``splice``). Where a kept note (under the top voice)
  starts on that step at or above that pitch, the hold would sink the new line under it, so it
  is not drawn there (a rest is, where nothing else is left).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from clsm_cli.constants import HOLD_TOKEN, REST_TOKEN, TRIPLET_TOKEN
from clsm_cli.music.bars import Bar, first_sounding_step
from clsm_cli.music.tokens import StepNote
from clsm_cli.sampling import StepMask, is_weights


@dataclass(frozen=True)
class RestsBeforeTheFile:
    """``rules`` for every target step from ``padded_steps`` on; only a rest before it."""

    rules: StepMask
    padded_steps: int  # target steps 0 .. padded_steps - 1 lie before tick 0
    num_classes: int  # the decoder's classes

    def __call__(self, step: int, generated: np.ndarray):
        if step >= self.padded_steps:
            return self.rules(step, generated)
        allowed = np.zeros(self.num_classes, dtype=bool)  # (C,): shared by every row
        allowed[REST_TOKEN] = True
        return allowed


@dataclass(frozen=True)
class NoHoldUnderKept:
    """``rules`` without a hold at the target's first step (also as a triplet quarter's first
    triplet, after its ``3:`` marker); a row left with no token may rest."""

    rules: StepMask
    num_classes: int

    def __call__(self, step: int, generated: np.ndarray):
        allowed = self.rules(step, generated)
        if step > 1:
            return allowed
        generated = np.asarray(generated, dtype=np.int64)
        batch = generated.shape[0]
        leading = np.ones(batch, dtype=bool) if step == 0 else generated[:, 0] == TRIPLET_TOKEN  # (B,)
        if not leading.any():
            return allowed
        leaning = allowed is not None and is_weights(allowed)  # log-weights (the chords), or a mask
        forbidden, free = (-np.inf, 0.0) if leaning else (False, True)
        rows = np.full((batch, self.num_classes), free) if allowed is None else \
            np.array(np.broadcast_to(allowed, (batch, self.num_classes)), dtype=np.float64 if leaning else bool)  # (B, C)
        rows[leading, HOLD_TOKEN] = forbidden
        rows[leading & ~(rows != forbidden).any(axis=1), REST_TOKEN] = free
        return rows


def edge_rules(rules: StepMask, bars: Sequence[Bar], ticks_per_beat: int, target_start_step: int,
               line: Sequence[StepNote], kept: Sequence[tuple[int, int]], num_classes: int) -> StepMask:
    """``rules`` wrapped in the rules above that apply to a target starting at ``target_start_step``
    (``line``: the melody around it; ``kept``: (start step, pitch) of the notes kept under it)."""
    padded = first_sounding_step(bars, ticks_per_beat) - target_start_step
    if padded > 0:
        rules = RestsBeforeTheFile(rules, padded, num_classes)
    held = _sounding_pitch(line, target_start_step - 1)
    floor = max((pitch for start, pitch in kept if start == target_start_step), default=None)
    if held is not None and floor is not None and held <= floor:
        rules = NoHoldUnderKept(rules, num_classes)
    return rules


def _sounding_pitch(line: Sequence[StepNote], step: int) -> Optional[int]:
    """The highest pitch sounding at ``step`` in ``line`` (None: a rest), as ``splice.sounding_note``."""
    sounding = [note.pitch for note in line if note.start_step <= step < note.end_step and note.pitch is not None]
    return max(sounding) if sounding else None
