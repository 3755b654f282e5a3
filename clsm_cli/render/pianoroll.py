"""A text piano roll of a melody on the 16th-note step grid, as a rich renderable.

One row per pitch (only the range in use, highest at the top, named like ``C4`` or ``G#4``), one
column per step (or per 2, 4, ... steps when the terminal is narrow), a ``│`` at every bar line and
the bar numbers above. A note's first column is ``█`` and its held columns are ``━``, so repeated
notes stay distinguishable from long ones; ``·`` marks the beats of empty cells. Highlighted bars
(the bars being edited) get a ``^^^^`` line under their numbers, so they stand out without colour
too; with colour they are bright and the other bars can be dimmed (context).

The layout is computed by pure functions (:func:`choose_layout`, :func:`roll_grid`,
:func:`grid_lines`) that tests can call directly; :class:`PianoRoll` only adds styles and asks the
console for its width. Colour and escape codes are up to the rich ``Console``: piped output, or a
console made with ``color_system=None``, gets plain text.

Step numbers are absolute song steps (``StepNote.start_step``), and each bar says where it starts
(``first_step``) and how many steps it has, so bars of any meter and any subset of a song's bars
can be drawn.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Iterable, Sequence, Union

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.text import Text

from clsm_cli.constants import STEPS_PER_QUARTER
from clsm_cli.music.tokens import StepNote

START_CHAR = "█"  # the first column of a note
HOLD_CHAR = "━"  # later columns of the same note
BEAT_CHAR = "·"  # an empty cell on a beat (not the bar's first, which the bar line marks)
EMPTY_CHAR = " "
BAR_LINE_CHAR = "│"
HIGHLIGHT_CHAR = "^"  # under the numbers of highlighted bars

PITCH_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
LABEL_WIDTH = 4  # "C#-1" .. "G9": the longest pitch name
COARSEST_STEPS_PER_COLUMN = 16  # below this resolution a roll says nothing; crop instead

STYLE_LABEL = "grey62"
STYLE_LABEL_C = "bold grey85"  # C rows anchor the eye, as on a keyboard
STYLE_BAR_LINE = "grey42"
STYLE_BEAT = "grey35"
STYLE_NOTE = "green3"
STYLE_NOTE_HIGHLIGHTED = "bold bright_yellow"
STYLE_HIGHLIGHT_BACKGROUND = "on grey19"
STYLE_BAR_NUMBER = "grey62"
STYLE_BAR_NUMBER_HIGHLIGHTED = "bold bright_yellow"
STYLE_DIM = "dim"
STYLE_TITLE = "bold"


def pitch_name(pitch: int) -> str:
    """Scientific pitch name with sharps, middle C (MIDI 60) being ``C4``."""
    if not 0 <= pitch <= 127:
        raise ValueError(f"pitch must be in range 0..127, got {pitch}")
    return f"{PITCH_NAMES[pitch % 12]}{pitch // 12 - 1}"


@dataclass(frozen=True)
class RollBar:
    """One bar of the roll: its number as people see it, where it starts, how many steps it has.

    ``beat_steps`` spaces the beat dots (a quarter note, or a dotted quarter in 6/8).
    """

    number: int
    first_step: int
    steps: int
    beat_steps: int = STEPS_PER_QUARTER

    def __post_init__(self):
        if self.steps < 1:
            raise ValueError(f"bar {self.number} must have at least one step, got {self.steps}")
        if self.beat_steps < 1:
            raise ValueError(f"beat_steps must be at least 1, got {self.beat_steps}")

    @property
    def end_step(self) -> int:
        return self.first_step + self.steps


BarLike = Union[RollBar, Sequence[int]]


def as_roll_bars(bars: Iterable[BarLike]) -> list[RollBar]:
    """Accept ``RollBar``s or ``(number, first_step, steps[, beat_steps])`` tuples."""
    return [bar if isinstance(bar, RollBar) else RollBar(*bar) for bar in bars]


def roll_bars_from_song(bars: Iterable) -> list[RollBar]:
    """RollBars from ``music.bars.Bar`` objects (anything with number/first_step/steps/meter).

    Compound meters (6/8, 9/8, 12/8) get a dot every dotted quarter, everything else every quarter.
    """
    roll_bars = []
    for bar in bars:
        numerator = getattr(bar, "numerator", 4)
        denominator = getattr(bar, "denominator", 4)
        compound = denominator == 8 and numerator % 3 == 0 and numerator > 3
        beat_steps = STEPS_PER_QUARTER * 3 // 2 if compound else STEPS_PER_QUARTER
        roll_bars.append(RollBar(bar.number, bar.first_step, bar.steps, beat_steps))
    return roll_bars


# --- layout ---------------------------------------------------------------------------------


def columns_in_bar(bar: RollBar, steps_per_column: int) -> int:
    return math.ceil(bar.steps / steps_per_column)


def system_width(bars: Sequence[RollBar], steps_per_column: int) -> int:
    """Characters one line of these bars takes: label, space, a bar line before each bar, the cells
    and the closing bar line."""
    return LABEL_WIDTH + 1 + sum(columns_in_bar(bar, steps_per_column) + 1 for bar in bars) + 1


@dataclass(frozen=True)
class RollLayout:
    """How a roll fits a width: the resolution and which bars go on which line ("system")."""

    steps_per_column: int
    systems: tuple[tuple[RollBar, ...], ...]


def choose_layout(bars: Sequence[BarLike], width: int, compact: bool = False) -> RollLayout:
    """The clearest layout of ``bars`` that fits ``width`` characters.

    One step per column if everything fits on one line, otherwise two steps per column (8th-note
    resolution; the default in ``compact`` mode) on one line, otherwise bars wrapped onto several
    lines at two steps per column. Only when a single bar is wider than ``width`` does the
    resolution drop further (4, 8, 16 steps per column); beyond that lines are cropped.
    """
    bars = tuple(as_roll_bars(bars))
    if not bars:
        return RollLayout(1, ())
    resolutions = (2,) if compact else (1, 2)
    for steps_per_column in resolutions:
        if system_width(bars, steps_per_column) <= width:
            return RollLayout(steps_per_column, (bars,))
    steps_per_column = resolutions[-1]
    widest_bar = max(bars, key=lambda bar: bar.steps)
    while (
        system_width((widest_bar,), steps_per_column) > width and steps_per_column < COARSEST_STEPS_PER_COLUMN
    ):
        steps_per_column *= 2
    systems: list[tuple[RollBar, ...]] = []
    current: list[RollBar] = []
    for bar in bars:
        if current and system_width((*current, bar), steps_per_column) > width:
            systems.append(tuple(current))
            current = []
        current.append(bar)
    systems.append(tuple(current))
    return RollLayout(steps_per_column, tuple(systems))


# --- grid -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RollGrid:
    """The characters of a roll, before any styling.

    ``cells[row][bar_index]`` is the string of that pitch row's cells in that bar (one character
    per column); rows go from the highest pitch (row 0) down.
    """

    pitches: tuple[int, ...]
    bars: tuple[RollBar, ...]
    steps_per_column: int
    cells: tuple[tuple[str, ...], ...]


def pitch_rows(notes: Iterable[StepNote], bars: Sequence[RollBar], pitch_range: tuple[int, int] | None = None) -> tuple[int, ...]:
    """Pitches shown, highest first: the range the notes in ``bars`` use, widened to ``pitch_range``
    when one is given (several rolls drawn with the same rows compare at a glance)."""
    used = [note.pitch for note in notes if any(_overlaps(note, bar) for bar in bars)]
    if pitch_range is not None:
        used.extend(pitch_range)
    if not used:
        return ()
    return tuple(range(max(used), min(used) - 1, -1))


def shared_pitch_range(note_lists: Iterable[Iterable[StepNote]], bars: Sequence[BarLike]) -> tuple[int, int] | None:
    """(lowest, highest) pitch sounding in ``bars`` across several note lists, or None if silent:
    pass it as every roll's ``pitch_range`` so that rolls of several candidates line up row by row."""
    bars = as_roll_bars(bars)
    rows = pitch_rows([note for notes in note_lists for note in notes], bars)
    return (rows[-1], rows[0]) if rows else None


def _overlaps(note: StepNote, bar: RollBar) -> bool:
    return note.start_step < bar.end_step and note.end_step > bar.first_step


def roll_grid(
    notes: Iterable[StepNote],
    bars: Sequence[BarLike],
    steps_per_column: int = 1,
    pitch_range: tuple[int, int] | None = None,
) -> RollGrid:
    """The cells of a roll of ``notes`` over ``bars`` at ``steps_per_column`` steps per column.

    A column shows ``█`` when a note of that row's pitch starts in it, ``━`` when one sounds in it
    without starting (held, tied from before, or begun before the first bar shown), ``·`` on an
    empty beat and a space otherwise. Notes may overlap (chords show as several rows).
    """
    if steps_per_column < 1:
        raise ValueError(f"steps_per_column must be at least 1, got {steps_per_column}")
    bars = tuple(as_roll_bars(bars))
    notes = list(notes)
    pitches = pitch_rows(notes, bars, pitch_range)
    rows = []
    for pitch in pitches:
        row_notes = [note for note in notes if note.pitch == pitch]
        rows.append(tuple(_bar_cells(row_notes, bar, steps_per_column) for bar in bars))
    return RollGrid(pitches, bars, steps_per_column, tuple(rows))


def _bar_cells(notes: list[StepNote], bar: RollBar, steps_per_column: int) -> str:
    cells = []
    for column in range(columns_in_bar(bar, steps_per_column)):
        offset = column * steps_per_column
        first = bar.first_step + offset
        last = min(first + steps_per_column, bar.end_step)
        starts = any(first <= note.start_step < last and not note.tied_from_before for note in notes)
        sounds = any(note.start_step < last and note.end_step > first for note in notes)
        if starts:
            cells.append(START_CHAR)
        elif sounds:
            cells.append(HOLD_CHAR)
        elif offset > 0 and _holds_beat(offset, last - first, bar.beat_steps):
            cells.append(BEAT_CHAR)
        else:
            cells.append(EMPTY_CHAR)
    return "".join(cells)


def _holds_beat(offset: int, width_steps: int, beat_steps: int) -> bool:
    """True when the column starting ``offset`` steps into the bar contains a beat."""
    next_beat = math.ceil(offset / beat_steps) * beat_steps
    return next_beat < offset + width_steps


def header_line(bars: Sequence[RollBar], steps_per_column: int) -> str:
    """Bar numbers, each starting above its bar line (cropped to the bar when it would not fit)."""
    parts = []
    for bar in bars:
        span = columns_in_bar(bar, steps_per_column) + 1
        parts.append(str(bar.number)[:span].ljust(span))
    return " " * (LABEL_WIDTH + 1) + "".join(parts)


def highlight_line(bars: Sequence[RollBar], steps_per_column: int, highlighted_bars: set[int]) -> str:
    """``^`` under every cell of the highlighted bars, spaces elsewhere."""
    parts = []
    for bar in bars:
        columns = columns_in_bar(bar, steps_per_column)
        mark = HIGHLIGHT_CHAR if bar.number in highlighted_bars else " "
        parts.append(" " + mark * columns)
    return (" " * (LABEL_WIDTH + 1) + "".join(parts)).rstrip()


def grid_lines(grid: RollGrid, highlighted_bars: Iterable[int] = ()) -> list[str]:
    """The roll of one system as plain text lines: numbers, highlight marks (if any), pitch rows."""
    highlighted = set(highlighted_bars)
    lines = [header_line(grid.bars, grid.steps_per_column).rstrip()]
    if highlighted & {bar.number for bar in grid.bars}:
        lines.append(highlight_line(grid.bars, grid.steps_per_column, highlighted))
    for pitch, row in zip(grid.pitches, grid.cells):
        cells = "".join(BAR_LINE_CHAR + bar_cells for bar_cells in row)
        lines.append(f"{pitch_name(pitch):>{LABEL_WIDTH}} {cells}{BAR_LINE_CHAR}")
    return lines


# --- the renderable -------------------------------------------------------------------------


class PianoRoll:
    """A rich renderable piano roll that fits the console width.

    ``notes``: StepNotes on the song's step grid. ``bars``: the bars to draw, as ``RollBar``s or
    ``(number, first_step, steps)`` tuples. ``highlighted_bars``: bar numbers to mark (the target).
    ``dim_other_bars``: draw the bars not highlighted dimmed (context). ``pitch_range``: (low, high)
    rows to show at least, so that several rolls line up. ``compact``: two steps per column and no
    legend, for showing many rolls at once. ``max_width``: narrower than the console if given.
    """

    def __init__(
        self,
        notes: Iterable[StepNote],
        bars: Iterable[BarLike],
        highlighted_bars: Iterable[int] = (),
        dim_other_bars: bool = False,
        title: str | None = None,
        max_width: int | None = None,
        compact: bool = False,
        pitch_range: tuple[int, int] | None = None,
        legend: bool | None = None,
    ):
        self.notes = list(notes)
        self.bars = as_roll_bars(bars)
        self.highlighted_bars = set(highlighted_bars)
        self.dim_other_bars = dim_other_bars
        self.title = title
        self.max_width = max_width
        self.compact = compact
        self.pitch_range = pitch_range
        self.legend = (not compact) if legend is None else legend

    def _width(self, options: ConsoleOptions) -> int:
        return min(options.max_width, self.max_width) if self.max_width else options.max_width

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        full = system_width(self.bars, 2 if self.compact else 1) if self.bars else 1
        narrowest = min((system_width((bar,), COARSEST_STEPS_PER_COLUMN) for bar in self.bars), default=1)
        return Measurement(min(narrowest, full), full).clamp(max_width=self._width(options))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = self._width(options)
        if self.title:
            yield Text(self.title, style=STYLE_TITLE, no_wrap=True, overflow="ellipsis")
        layout = choose_layout(self.bars, width, self.compact)
        all_bars = [bar for system in layout.systems for bar in system]
        rows = pitch_rows(self.notes, all_bars, self.pitch_range)
        if not rows:
            yield Text(" " * (LABEL_WIDTH + 1) + self._no_notes_message(), style=STYLE_BEAT)
            return
        shared_range = (rows[-1], rows[0])
        for index, system in enumerate(layout.systems):
            if index:
                yield Text("")
            grid = roll_grid(self.notes, system, layout.steps_per_column, shared_range)
            yield from self._styled_lines(grid)
        if self.legend:
            yield self._legend(layout.steps_per_column)

    def _no_notes_message(self) -> str:
        if not self.bars:
            return "(no bars)"
        first, last = self.bars[0].number, self.bars[-1].number
        where = f"bar {first}" if first == last else f"bars {first}-{last}"
        return f"(no notes in {where})"

    def _bar_style(self, bar: RollBar, base: str) -> str:
        if bar.number in self.highlighted_bars:
            return f"{base} {STYLE_HIGHLIGHT_BACKGROUND}"
        if self.dim_other_bars and self.highlighted_bars:
            return f"{base} {STYLE_DIM}"
        return base

    def _styled_lines(self, grid: RollGrid):
        spc = grid.steps_per_column
        header = Text(" " * (LABEL_WIDTH + 1), no_wrap=True, overflow="crop")
        for bar in grid.bars:
            span = columns_in_bar(bar, spc) + 1
            style = STYLE_BAR_NUMBER_HIGHLIGHTED if bar.number in self.highlighted_bars else STYLE_BAR_NUMBER
            if self.dim_other_bars and self.highlighted_bars and bar.number not in self.highlighted_bars:
                style = f"{style} {STYLE_DIM}"
            header.append(str(bar.number)[:span].ljust(span), style=style)
        header.rstrip()
        yield header
        if self.highlighted_bars & {bar.number for bar in grid.bars}:
            marks = highlight_line(grid.bars, spc, self.highlighted_bars)
            yield Text(marks, style=STYLE_BAR_NUMBER_HIGHLIGHTED, no_wrap=True, overflow="crop")
        for pitch, row in zip(grid.pitches, grid.cells):
            line = Text(no_wrap=True, overflow="crop")
            name = pitch_name(pitch)
            line.append(f"{name:>{LABEL_WIDTH}} ", style=STYLE_LABEL_C if pitch % 12 == 0 else STYLE_LABEL)
            for bar, cells in zip(grid.bars, row):
                line.append(BAR_LINE_CHAR, style=STYLE_BAR_LINE)
                note_style = STYLE_NOTE_HIGHLIGHTED if bar.number in self.highlighted_bars else STYLE_NOTE
                for is_note, run in itertools.groupby(cells, key=lambda char: char in (START_CHAR, HOLD_CHAR)):
                    line.append("".join(run), style=self._bar_style(bar, note_style if is_note else STYLE_BEAT))
            line.append(BAR_LINE_CHAR, style=STYLE_BAR_LINE)
            yield line

    def _legend(self, steps_per_column: int) -> Text:
        resolution = "16th" if steps_per_column == 1 else f"{steps_per_column} 16ths"
        parts = [f"{START_CHAR} note start", f"{HOLD_CHAR} held", f"one column = {resolution}"]
        if self.highlighted_bars & {bar.number for bar in self.bars}:
            parts.append(f"{HIGHLIGHT_CHAR} selected bars")
        return Text(" " * (LABEL_WIDTH + 1) + "   ".join(parts), style=STYLE_BEAT, no_wrap=True, overflow="ellipsis")
