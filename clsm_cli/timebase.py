"""The time base: meters, the step grid, and every conversion between ticks, steps and bars.

This is the one place that knows how long things are. It sits at the bottom of the package (it
imports nothing of clsm but ``constants`` and ``errors``), so that the music code, the data build,
the model configs and the editing commands all count time the same way.

* A :class:`Meter` is a time signature ``n/d``. Its bar lasts ``n * 4 / d`` quarter notes (a MIDI
  beat is a quarter note, so ``n * 4 * ticks_per_beat / d`` ticks): :func:`bar_ticks`.
* A :class:`Grid` is how a model cuts a quarter note into tokens: ``steps_per_quarter`` tokens a
  quarter (4: the paper's sixteenth notes) and an ``encoding``. ``"16th"`` is the paper's grid (a
  token per sixteenth). ``"triplet"`` keeps four tokens a quarter in simple meters, but a quarter is
  either four sixteenths or a triplet marker and three eighth-note triplets
  (``music/triplets.py``). Both grids have the same steps per bar and the same windows.
* Ticks to steps round to the nearest step, exactly half a step rounding *later* (half-up), in
  integer arithmetic so that it is exact at every resolution (:func:`tick_offset_to_step`,
  :func:`tick_offsets_to_steps`); steps to ticks round the same way (:func:`step_offset_to_tick`).
* The window rule (the paper's 4/4 case in every meter): windows of ``BARS_PER_WINDOW`` (8) bars,
  targets of 1..``MAX_TARGET_BARS`` (4) whole bars, starting on a bar line.

Meters whose bars have the same length and are counted the same way share a model: 4/4 and 2/2 are
one group, as in the paper. Every other meter is its own group (3/4 and 6/8 both have 12 steps, but
a waltz and a jig accent them differently).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Mapping, Optional

import numpy as np

from clsm_cli.constants import BARS_PER_WINDOW, MAX_TARGET_BARS, NUM_MUSIC_TOKENS, STEPS_PER_QUARTER, TRIPLET_TOKEN
from clsm_cli.errors import UsageError

QUARTERS_PER_WHOLE_NOTE = 4
STEPS_PER_WHOLE_NOTE = QUARTERS_PER_WHOLE_NOTE * STEPS_PER_QUARTER  # 16 sixteenths
_METER_TEXT = re.compile(r"^\s*(\d{1,3})\s*/\s*(\d{1,3})\s*$")
# Meters that count the same bar the same way: a model of one edits the others.
_SAME_GROUP = {(2, 2): (4, 4)}


# --- meters ---------------------------------------------------------------------------------------


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
        if bar_steps(self.numerator, self.denominator) is None:
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
        """Sixteenth-note steps in a bar (4/4: 16, 3/4 and 6/8: 12, 2/4: 8)."""
        return self.numerator * STEPS_PER_WHOLE_NOTE // self.denominator

    @property
    def window_steps(self) -> int:
        """Steps in an 8-bar window of this meter (128 in 4/4, the paper's K)."""
        return window_steps(self.steps_per_bar)

    @property
    def target_lengths(self) -> tuple[int, ...]:
        """Target lengths in steps: 1..4 whole bars (the paper's T)."""
        return target_lengths(self.steps_per_bar)

    @property
    def group(self) -> "Meter":
        """The meter that stands for this one's group (4/4 for 2/2)."""
        return Meter(*_SAME_GROUP.get(self.as_tuple(), self.as_tuple()))

    @property
    def is_simple_quarter_meter(self) -> bool:
        """x/4 and 2/2: meters counted in quarter notes (or half notes of two quarters), where a
        beat may be played as a triplet. 6/8 and 9/8 divide their beats in three already."""
        return self.denominator == 4 or self.as_tuple() == (2, 2)

    @property
    def beat_steps(self) -> int:
        """16th steps in a beat: a quarter in x/1, x/2 and x/4; a dotted quarter in 6/8, 9/8 and
        12/8; an eighth in other x/8 meters (3/8, 5/8, 7/8); a 16th in x/16."""
        if self.denominator <= 4:
            return STEPS_PER_QUARTER
        if self.denominator == 8 and self.numerator % 3 == 0 and self.numerator > 3:
            return 6
        return STEPS_PER_WHOLE_NOTE // self.denominator

    def as_tuple(self) -> tuple[int, int]:
        return (self.numerator, self.denominator)

    def __str__(self) -> str:
        return f"{self.numerator}/{self.denominator}"


def bar_steps(numerator: int, denominator: int) -> int | None:
    """Sixteenth steps in a bar of ``numerator/denominator``; None when it is not a whole number."""
    steps = Fraction(numerator * STEPS_PER_WHOLE_NOTE, denominator)
    return int(steps) if steps.denominator == 1 else None


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


# --- the grid -------------------------------------------------------------------------------------

SIXTEENTH_ENCODING = "16th"
TRIPLET_ENCODING = "triplet"
GRID_ENCODINGS = (SIXTEENTH_ENCODING, TRIPLET_ENCODING)


@dataclass(frozen=True)
class Grid:
    """How a model cuts time into tokens: ``steps_per_quarter`` tokens a quarter, and the encoding."""

    steps_per_quarter: int = STEPS_PER_QUARTER
    encoding: str = SIXTEENTH_ENCODING

    def __post_init__(self) -> None:
        if self.encoding not in GRID_ENCODINGS:
            raise ValueError(f"a grid's encoding is one of {', '.join(GRID_ENCODINGS)}, got {self.encoding!r}")
        if self.steps_per_quarter != STEPS_PER_QUARTER:
            raise ValueError(f"a grid has {STEPS_PER_QUARTER} steps a quarter note, got {self.steps_per_quarter!r}")

    @property
    def has_triplets(self) -> bool:
        return self.encoding == TRIPLET_ENCODING

    def steps_per_bar(self, meter: Meter) -> int:
        """Tokens in a bar of ``meter`` (the same on both encodings: a triplet quarter is 4 tokens)."""
        return meter.numerator * QUARTERS_PER_WHOLE_NOTE * self.steps_per_quarter // meter.denominator

    def supports(self, meter: Meter) -> bool:
        """Whether a model on this grid can read ``meter``: triplets are defined in x/4 and 2/2 only."""
        return not self.has_triplets or meter.is_simple_quarter_meter

    def allowed_tokens(self, step_in_target: int, num_classes: int) -> Optional[np.ndarray]:
        """What a decoder may draw ``step_in_target`` steps into a target (targets start on a bar
        line, so on a quarter line): ``(num_classes,)`` bool for ``sampling.choose_tokens``'s
        ``allowed``, or None on the 16th grid (its decoders emit music tokens only). On the triplet
        grid: the music tokens at every step, the ``3:`` marker only at a quarter's first step, the
        specials (``<s>``, ``<p>``, ``<pad>``) never; every sequence drawn so decodes."""
        if not self.has_triplets:
            return None
        allowed = np.zeros(num_classes, dtype=bool)
        allowed[:NUM_MUSIC_TOKENS] = True
        allowed[TRIPLET_TOKEN] = step_in_target % self.steps_per_quarter == 0
        return allowed

    def allowed_matrix(self, length: int, num_classes: int) -> Optional[np.ndarray]:
        """:meth:`allowed_tokens` for every step of a target of ``length``: (length, num_classes) or None."""
        if not self.has_triplets:
            return None
        return np.stack([self.allowed_tokens(step, num_classes) for step in range(length)])

    def is_music_window(self, tokens: np.ndarray) -> bool:
        """Whether ``tokens`` hold this grid's music tokens only (pitches, R, __, and ``3:`` on triplets)."""
        tokens = np.asarray(tokens)
        music = (tokens >= 0) & (tokens < NUM_MUSIC_TOKENS)
        if self.has_triplets:
            music |= tokens == TRIPLET_TOKEN
        return bool(music.all())

    def as_dict(self) -> dict[str, Any]:
        """What configs, manifests and provenance record: ``{"steps_per_quarter": 4, "encoding": ...}``."""
        return {"steps_per_quarter": self.steps_per_quarter, "encoding": self.encoding}

    def __str__(self) -> str:
        return "16th-note grid" if not self.has_triplets else "16th-note and triplet grid"


SIXTEENTH_GRID = Grid()
TRIPLET_GRID = Grid(encoding=TRIPLET_ENCODING)


def grid_from_record(record: Optional[Mapping[str, Any] | str]) -> Grid:
    """The grid a config, manifest or provenance recorded; an old one without a grid is on 16ths.

    Accepts the dict :meth:`Grid.as_dict` writes or an encoding name. Raises ValueError for
    anything else (callers turn it into their own error: a model, data or input problem).
    """
    if record is None:
        return SIXTEENTH_GRID
    if isinstance(record, str):
        return Grid(encoding=record)
    if not isinstance(record, Mapping) or set(record) - {"steps_per_quarter", "encoding"}:
        raise ValueError(f"a grid is recorded as {{'steps_per_quarter': 4, 'encoding': '16th'}}, got {record!r}")
    return Grid(
        steps_per_quarter=record.get("steps_per_quarter", STEPS_PER_QUARTER),
        encoding=record.get("encoding", SIXTEENTH_ENCODING),
    )


# --- the window rule ------------------------------------------------------------------------------


def window_steps(steps_per_bar: int) -> int:
    """Steps in a window: ``BARS_PER_WINDOW`` bars (128 in 4/4, the paper's K)."""
    return BARS_PER_WINDOW * steps_per_bar


def target_lengths(steps_per_bar: int) -> tuple[int, ...]:
    """Target lengths in steps: 1..``MAX_TARGET_BARS`` whole bars (16, 32, 48, 64 in 4/4)."""
    return tuple(bars * steps_per_bar for bars in range(1, MAX_TARGET_BARS + 1))


def bars_per_window(window_steps_: int, steps_per_bar: int) -> int:
    """Bars in a window of ``window_steps_`` steps (a model's config records both)."""
    return window_steps_ // steps_per_bar


# --- ticks, steps and bars ------------------------------------------------------------------------


def round_half_up(value: float | Fraction) -> int:
    """Round to the nearest integer, halves upwards (Python's round() goes to even)."""
    return math.floor(value + Fraction(1, 2)) if isinstance(value, Fraction) else math.floor(value + 0.5)


def bar_ticks(meter: Meter, ticks_per_beat: int) -> int | None:
    """Ticks in a bar of ``meter`` (a MIDI beat is a quarter note); None when not a whole number."""
    ticks = Fraction(meter.numerator * QUARTERS_PER_WHOLE_NOTE * ticks_per_beat, meter.denominator)
    return int(ticks) if ticks.denominator == 1 else None


def tick_offset_to_step(ticks: int, ticks_per_beat: int, steps_per_quarter: int = STEPS_PER_QUARTER) -> int:
    """The nearest step to ``ticks`` (counted from a step boundary), halves rounding up, exactly."""
    return (2 * steps_per_quarter * ticks + ticks_per_beat) // (2 * ticks_per_beat)


def tick_offsets_to_steps(ticks: np.ndarray, ticks_per_beat: int, steps_per_quarter: int = STEPS_PER_QUARTER) -> np.ndarray:
    """:func:`tick_offset_to_step` on an integer array."""
    ticks = np.asarray(ticks, dtype=np.int64)
    return (2 * steps_per_quarter * ticks + ticks_per_beat) // (2 * ticks_per_beat)


def step_offset_to_tick(steps: int, ticks_per_beat: int, steps_per_quarter: int = STEPS_PER_QUARTER) -> int:
    """The tick of ``steps`` steps (whole ticks: halves round up at resolutions a step does not divide)."""
    return (2 * steps * ticks_per_beat + steps_per_quarter) // (2 * steps_per_quarter)


def step_offsets_to_ticks(steps: np.ndarray, ticks_per_beat: int, steps_per_quarter: int = STEPS_PER_QUARTER) -> np.ndarray:
    """:func:`step_offset_to_tick` on an integer array."""
    steps = np.asarray(steps, dtype=np.int64)
    return (2 * steps * ticks_per_beat + steps_per_quarter) // (2 * steps_per_quarter)


def is_off_step(ticks: np.ndarray, steps: np.ndarray, ticks_per_beat: int, tolerance_steps: Fraction = Fraction(1, 8)) -> np.ndarray:
    """Whether each tick lies further than ``tolerance_steps`` from its step (integer arithmetic)."""
    ticks = np.asarray(ticks, dtype=np.int64)
    steps = np.asarray(steps, dtype=np.int64)
    scale = STEPS_PER_QUARTER * tolerance_steps.denominator
    # |ticks - steps * tpb / 4| > tolerance * tpb / 4, multiplied through by 4 * denominator.
    return np.abs(scale * ticks - tolerance_steps.denominator * steps * ticks_per_beat) > tolerance_steps.numerator * ticks_per_beat
