"""A meter as one value: its time signature, its steps per bar, and the group a model is trained on.

Steps are sixteenth notes: a bar of ``n/d`` holds ``n * 16 / d`` steps (4/4 and 2/2: 16; 3/4 and
6/8: 12; 2/4: 8; 9/8: 18; 3/8: 6). Meters whose bars have the same length and are counted the same
way share a model: 4/4 and 2/2 are one group, as in the paper. Every other meter is its own group
(3/4 and 6/8 both have 12 steps, but a waltz and a jig accent them differently).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from clsm_cli.constants import BARS_PER_WINDOW, MAX_TARGET_BARS, STEPS_PER_QUARTER
from clsm_cli.errors import UsageError

STEPS_PER_WHOLE_NOTE = 4 * STEPS_PER_QUARTER  # 16 sixteenths
_METER_TEXT = re.compile(r"^\s*(\d{1,3})\s*/\s*(\d{1,3})\s*$")
# Meters that count the same bar the same way: a model of one edits the others.
_SAME_GROUP = {(2, 2): (4, 4)}


@dataclass(frozen=True, order=True)
class Meter:
    """A time signature ``numerator/denominator`` whose bar is a whole number of sixteenths."""

    numerator: int
    denominator: int

    def __post_init__(self) -> None:
        if not (isinstance(self.numerator, int) and isinstance(self.denominator, int)):
            raise ValueError(f"a meter is two integers, got {self.numerator!r}/{self.denominator!r}")
        if self.numerator < 1 or self.denominator < 1:
            raise ValueError(f"a meter needs positive numbers, got {self.numerator}/{self.denominator}")
        steps = Fraction(self.numerator * STEPS_PER_WHOLE_NOTE, self.denominator)
        if steps.denominator != 1:
            raise ValueError(f"a {self} bar is not a whole number of sixteenth notes")

    @classmethod
    def parse(cls, text: str) -> "Meter":
        """``"3/4"`` -> Meter(3, 4); a UsageError naming the expected form otherwise."""
        match = _METER_TEXT.match(str(text))
        if not match:
            raise UsageError(f"a meter is written like 3/4 or 6/8, got '{text}'")
        try:
            return cls(int(match.group(1)), int(match.group(2)))
        except ValueError as error:
            raise UsageError(str(error)) from None

    @property
    def steps_per_bar(self) -> int:
        return self.numerator * STEPS_PER_WHOLE_NOTE // self.denominator

    @property
    def window_steps(self) -> int:
        """Steps in an 8-bar window of this meter (128 in 4/4, the paper's K)."""
        return BARS_PER_WINDOW * self.steps_per_bar

    @property
    def target_lengths(self) -> tuple[int, ...]:
        """Target lengths in steps: 1..4 whole bars (the paper's T)."""
        return tuple(bars * self.steps_per_bar for bars in range(1, MAX_TARGET_BARS + 1))

    @property
    def group(self) -> "Meter":
        """The meter that stands for this one's group (4/4 for 2/2)."""
        return Meter(*_SAME_GROUP.get(self.as_tuple(), self.as_tuple()))

    def as_tuple(self) -> tuple[int, int]:
        return (self.numerator, self.denominator)

    def __str__(self) -> str:
        return f"{self.numerator}/{self.denominator}"


def group_members(meter: Meter) -> tuple[Meter, ...]:
    """Every meter of ``meter``'s group, its representative first: 4/4 -> (4/4, 2/2); 3/4 -> (3/4,)."""
    group = meter.group
    others = sorted(Meter(*member) for member, representative in _SAME_GROUP.items() if Meter(*representative) == group)
    return (group, *others)


FOUR_FOUR = Meter(4, 4)
DEFAULT_METER = FOUR_FOUR  # the MIDI default when a file has no time signature


def meters_text(meters) -> str:
    """``[Meter(4, 4), Meter(2, 2)]`` -> ``"4/4 and 2/2"`` for sentences."""
    names = [str(meter) for meter in meters]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]
