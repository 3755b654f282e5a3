"""Rests on bar 1's padding before the file, so no new note is ever written before tick 0.

When bars are counted from a grid phase (``music/phase.py``), bar 1 may start before tick 0: a
whole bar whose steps before the file are silent padding (``music/bars.first_sounding_step``). A
target that starts there is drawn under :class:`RestsBeforeTheFile`, which allows only a rest on
those steps and leaves every later step to the command's own masks (``steering.line_rules``
composes it; pure, like every ``sampling.StepMask``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from clsm_cli.constants import REST_TOKEN
from clsm_cli.music.bars import Bar, first_sounding_step
from clsm_cli.sampling import StepMask


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


def rests_before_the_file(rules: StepMask, bars: Sequence[Bar], ticks_per_beat: int, target_start_step: int,
                          num_classes: int) -> StepMask:
    """``rules``, wrapped in :class:`RestsBeforeTheFile` when the target starts on bar 1's padding."""
    padded = first_sounding_step(bars, ticks_per_beat) - target_start_step
    return RestsBeforeTheFile(rules, padded, num_classes) if padded > 0 else rules
