"""Bar lines of a MIDI song, in ticks, from its time-signature events.

How bars are found:

* Bar lines come from time signatures alone; tempo changes never move them (they change how long
  a tick lasts, not how many ticks a bar has). A file without time signatures is in 4/4, the MIDI
  default (``song.had_time_signature`` is False then, and callers tell the user).
* A bar of ``n/d`` lasts ``n * 4 * ticks_per_beat / d`` ticks (a MIDI beat is a quarter note) and
  holds ``n * 16 / d`` sixteenth-note steps: 4/4 and 2/2 have 16, 3/4 and 6/8 have 12.
* A time signature that does not fall on a bar line starts a new bar where it is; the bar it
  interrupts is cut short (``Bar.is_complete`` is False for it).
* ``--meter`` (``song_bars(song, meter)``) replaces the file's time signatures: bars of that meter
  from tick 0, for files whose labels are wrong (4/4 music written as 1/4 throughout). Only the
  bar arithmetic changes; the file's own time-signature events stay in every output.
* A grid phase (``song_bars(song, meter, phase_ticks)``, ``music/phase.py``) moves the bar lines
  off tick 0. Bar 1 is then the bar holding tick 0: a whole bar starting before tick 0 when the
  line falls half a step or more after tick 0, its steps before tick 0 silent padding where no
  note is ever written (:func:`first_sounding_step`).
* Bars are numbered from 1 as ``clsm show`` prints them, and cover the song up to the end of its
  last note. Steps count on from bar to bar, so every bar has a ``first_step`` on one grid for the
  whole song (the *song step grid* that ``melody.quantize_track`` and the writer use).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Collection, Iterator, Optional, Sequence, Union

from clsm_cli.constants import BARS_PER_WINDOW
from clsm_cli.errors import InputFileError, UsageError
from clsm_cli.music.song import MidiSong, NoteTable
from clsm_cli.timebase import DEFAULT_METER, Meter, bar_ticks, step_offset_to_tick, tick_offset_to_step

MAX_SONG_BARS = 100_000  # a longer "song" is a corrupt file; refuse before building the list


@dataclass(frozen=True)
class Bar:
    """One bar: ticks ``start_tick`` up to (not including) ``end_tick``, steps from ``first_step``."""

    number: int  # 1-based, as clsm show prints it
    start_tick: int
    end_tick: int
    numerator: int
    denominator: int
    first_step: int  # on the song step grid: the sum of the steps of all earlier bars
    steps: int  # sixteenth-note steps in this bar (fewer than the meter's when cut short)

    @property
    def meter(self) -> tuple[int, int]:
        return (self.numerator, self.denominator)

    @property
    def time_signature(self) -> Meter:
        return Meter(self.numerator, self.denominator)

    @property
    def end_step(self) -> int:
        return self.first_step + self.steps

    @property
    def length_ticks(self) -> int:
        return self.end_tick - self.start_tick

    @property
    def is_complete(self) -> bool:
        """False for a bar cut short by a time signature that was not on a bar line."""
        return self.steps == self.time_signature.steps_per_bar


def _normalized_signatures(song: Union[MidiSong, NoteTable]) -> list[tuple[int, int, int]]:
    """Time signatures sorted by tick, one per tick (the last one written wins), starting at 0 (a
    phased song's at its phase)."""
    by_tick: dict[int, tuple[int, int]] = {}
    for tick, numerator, denominator in song.time_signatures:
        by_tick[tick] = (numerator, denominator)
    signatures = [(tick, *meter) for tick, meter in sorted(by_tick.items())]
    if isinstance(song, _Signatures):
        return signatures
    if not signatures or signatures[0][0] > 0:
        signatures.insert(0, (0, *DEFAULT_METER.as_tuple()))
    return signatures


def song_bars(song: Union[MidiSong, NoteTable], meter: Optional[Meter] = None, phase_ticks: int = 0) -> list[Bar]:
    """The bars of ``song``, numbered from 1, covering it up to the end of its last note.

    ``meter`` (``--meter``), when given, stands for the file's time signatures: bars of that meter
    from tick 0 to the end. ``phase_ticks`` (``--phase``, ``music/phase.py``; negative: before tick
    0) puts a bar line there instead of at tick 0: less than half a step after a bar line of that
    grid only moves the grid (onsets before it round onto bar 1's first step); more starts bar 1, a
    whole bar, before tick 0, padded there with silence (:func:`first_sounding_step`), so bars keep
    their length and their numbers within a bar of those counted from tick 0.

    Raises InputFileError for a meter the 16th grid cannot hold (7/32), a bar that is not a whole
    number of ticks at the file's resolution, or an absurd number of bars.
    """
    ticks_per_beat = song.ticks_per_beat
    song_end = max(1, song.last_note_end)
    signatures = [(0, *meter.as_tuple())] if meter is not None else _normalized_signatures(song)
    if phase_ticks:
        return _phased_bars(song, signatures, phase_ticks)

    # Validate each meter in use and size the list before building it.
    segments = []  # (start_tick, end_tick or None, numerator, denominator, bar_ticks, steps)
    total_bars = 0
    for index, (tick, numerator, denominator) in enumerate(signatures):
        if tick >= song_end:
            break
        segment_end = signatures[index + 1][0] if index + 1 < len(signatures) else None
        if segment_end is not None and segment_end >= song_end:
            segment_end = None  # a meter change after the music does not cut the last bar short
        try:
            steps = Meter(numerator, denominator).steps_per_bar
        except ValueError:
            raise InputFileError(
                f"{song.name} has a time signature of {numerator}/{denominator} at tick {tick}, "
                "which does not fit the sixteenth-note grid clsm works on"
            ) from None
        ticks_per_bar = bar_ticks(Meter(numerator, denominator), ticks_per_beat)
        if ticks_per_bar is None:
            raise InputFileError(
                f"{song.name} has {ticks_per_beat} ticks per beat, too few for a whole "
                f"{numerator}/{denominator} bar (at tick {tick})"
            )
        covered_end = song_end if segment_end is None else min(segment_end, song_end)
        total_bars += -(-(covered_end - tick) // ticks_per_bar)
        if total_bars > MAX_SONG_BARS:
            raise InputFileError(
                f"{song.name} would have more than {MAX_SONG_BARS:,} bars; the file looks corrupt"
            )
        segments.append((tick, segment_end, numerator, denominator, ticks_per_bar, steps))

    bars: list[Bar] = []
    first_step = 0
    for start, segment_end, numerator, denominator, ticks_per_bar, steps in segments:
        tick = start
        while tick < song_end and (segment_end is None or tick < segment_end):
            end = tick + ticks_per_bar
            bar_steps = steps
            if segment_end is not None and end > segment_end:
                # The next time signature interrupts this bar: it ends there, with the steps it got.
                end = segment_end
                bar_steps = max(1, tick_offset_to_step(end - tick, ticks_per_beat))
            bars.append(Bar(len(bars) + 1, tick, end, numerator, denominator, first_step, bar_steps))
            first_step += bar_steps
            tick = end
    return bars


def _phased_bars(song: Union[MidiSong, NoteTable], signatures: list, phase_ticks: int) -> list[Bar]:
    """song_bars with bar lines at ``phase_ticks`` and a bar of the meter at tick 0 apart (until the
    next time signature, moved as much as bar 1 is): bar 1 is the bar holding tick 0. When the
    first line after tick 0 is half a step or more in, bar 1 starts before tick 0 (a whole bar: the
    ticks before the file are its silent padding, so bar 1 edits like any other:
    :func:`first_sounding_step`); under half a step in, bar 1 starts there and onsets before it
    round onto its first step.
    """
    song_end = max(1, song.last_note_end)
    if not -song_end < phase_ticks < song_end:
        raise UsageError(f"--phase must be a tick inside the song ({1 - song_end}..{song_end - 1}), got {phase_ticks}")
    _, numerator, denominator = signatures[0]
    try:
        ticks_per_bar = bar_ticks(Meter(numerator, denominator), song.ticks_per_beat)
    except ValueError:
        ticks_per_bar = None
    if ticks_per_bar is None:
        return song_bars(_Signatures(song, signatures))  # says what is wrong with the meter
    first_line = phase_ticks % ticks_per_bar
    start = first_line if tick_offset_to_step(first_line, song.ticks_per_beat) == 0 else first_line - ticks_per_bar
    # The file's later time signatures move with its grid (by bar 1's shift from tick 0), so a meter
    # change still falls on a bar line instead of cutting a sliver of a bar.
    later = [(tick + start, n, d) for tick, n, d in signatures if tick > 0]
    return song_bars(_Signatures(song, [(start, numerator, denominator)] + later))


def first_sounding_step(bars: Sequence[Bar], ticks_per_beat: int) -> int:
    """The first step on the song step grid that lies at or after tick 0: the steps before it are
    bar 1's padding before the file (bars counted from a phase, :func:`song_bars`), where no note
    may be written. 0 when bar 1 starts at or after tick 0."""
    first = bars[0]
    padded = 0
    while padded < first.steps and first.start_tick + step_offset_to_tick(padded, ticks_per_beat) < 0:
        padded += 1
    return first.first_step + padded


class _Signatures:
    """A song seen with other time signatures (the first one at the phase, no default at tick 0)."""

    def __init__(self, song: Union[MidiSong, NoteTable], signatures: list):
        self.name, self.ticks_per_beat, self.last_note_end = song.name, song.ticks_per_beat, song.last_note_end
        self.time_signatures = signatures


# --- tick <-> step on the song step grid -------------------------------------------------------


def bar_at_tick(bars: Sequence[Bar], tick: float) -> Bar:
    """The bar holding ``tick`` (the first bar before the song, the last bar after it)."""
    index = bisect.bisect_right(bars, tick, key=lambda bar: bar.start_tick) - 1
    return bars[max(0, index)]


def bar_at_step(bars: Sequence[Bar], step: int) -> Bar:
    """The bar holding ``step`` (the first bar before the song, the last bar after it)."""
    index = bisect.bisect_right(bars, step, key=lambda bar: bar.first_step) - 1
    return bars[max(0, index)]


def tick_to_step(bars: Sequence[Bar], ticks_per_beat: int, tick: int) -> int:
    """The nearest step on the song step grid (halves round up; ``timebase.tick_offset_to_step`` inside a bar)."""
    bar = bar_at_tick(bars, tick)
    offset = tick_offset_to_step(tick - bar.start_tick, ticks_per_beat)
    if bar.number < len(bars) and offset > bar.steps:
        offset = bar.steps  # a cut-short bar: its tail belongs to the next bar's first step
    return bar.first_step + offset


def step_to_tick(bars: Sequence[Bar], ticks_per_beat: int, step: int) -> int:
    """The tick of a step on the song step grid (whole ticks; rounded at odd resolutions).

    A bar's end step is the next bar's start tick; steps past the last bar continue its grid.
    """
    bar = bar_at_step(bars, step)
    if step == bar.end_step and bar.number < len(bars):
        return bars[bar.number].start_tick
    tick = bar.start_tick + step_offset_to_tick(step - bar.first_step, ticks_per_beat)
    if bar.number < len(bars):
        tick = min(tick, bar.end_tick)
    return tick


# --- bar ranges ----------------------------------------------------------------------------------

_RANGE_PATTERN = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")
_DASHES = str.maketrans({"\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2010": "-", "\u2011": "-"})


@dataclass(frozen=True, order=True)
class BarRange:
    """Bars ``first..last`` of a song, numbered from 1 as ``clsm show`` prints them, both included."""

    first: int
    last: int

    def __post_init__(self) -> None:
        if not 1 <= self.first <= self.last:
            raise ValueError(f"a bar range runs from bar 1 or later to a bar at or after it, got {self.first}-{self.last}")

    @classmethod
    def parse(cls, text: str) -> "BarRange":
        """``"3-4"`` -> bars 3-4; ``"3"`` -> bar 3; en dashes and spaces are fine.

        Malformed, zero, negative or reversed ranges raise UsageError (exit 2).
        """
        match = _RANGE_PATTERN.match(str(text).translate(_DASHES))
        problem = f"--bars must look like 3-4 (first-last, counted from 1), got '{text}'"
        if match is None:
            raise UsageError(problem)
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if first < 1 or last < first:
            raise UsageError(problem)
        return cls(first, last)

    @property
    def count(self) -> int:
        return self.last - self.first + 1

    @property
    def numbers(self) -> range:
        return range(self.first, self.last + 1)

    def __iter__(self) -> Iterator[int]:  # first, last = bar_range
        return iter((self.first, self.last))

    def __str__(self) -> str:
        """"bar 3" or "bars 3-4", for messages."""
        return f"bar {self.first}" if self.first == self.last else f"bars {self.first}-{self.last}"

    def step_span(self, bars: Sequence[Bar]) -> tuple[int, int]:
        """First step and end step of these bars on the song step grid."""
        return bars[self.first - 1].first_step, bars[self.last - 1].end_step

    def tick_span(self, bars: Sequence[Bar]) -> tuple[int, int]:
        """Start and end tick of these bars."""
        return bars[self.first - 1].start_tick, bars[self.last - 1].end_tick

    def clipped(self, num_bars: int) -> "BarRange":
        """These bars, the last one at most ``num_bars`` (the range must start inside)."""
        return BarRange(self.first, min(self.last, num_bars))

    def check_inside(self, bars: Sequence[Bar], file_name: str) -> None:
        """InputFileError (exit 3) when the range does not lie inside the song."""
        count = len(bars)
        if self.last <= count:
            return
        length = f"{count} bar" if count == 1 else f"{count} bars"
        if self.first > count:
            verb = "is" if self.first == self.last else "are"
            raise InputFileError(f"{self} {verb} past the end of {file_name} ({length})")
        raise InputFileError(f"{self} run past the end of {file_name} ({length})")

    def chunks(self, max_bars: int) -> list["BarRange"]:
        """These bars in chunks of at most ``max_bars``, left to right."""
        return [BarRange(bar, min(bar + max_bars - 1, self.last)) for bar in range(self.first, self.last + 1, max_bars)]


def window_around(
    target: BarRange, num_song_bars: int, bars_per_window: int = BARS_PER_WINDOW, within: Optional[BarRange] = None
) -> BarRange:
    """The window of ``bars_per_window`` bars centred on ``target`` and clamped to the song.

    The one window geometry of clsm: the editing commands (with the model's window, in its own
    meter: ``window_steps // steps_per_bar`` bars), track choice, velocities and ``clsm show`` all
    use it. A song no longer than the window gives the whole song (the caller pads it with rests).
    ``within`` (bars holding the target) clamps the window to those bars instead of the whole song:
    the editing commands keep the model's window off odd bars (:func:`meter_run`).
    """
    within = BarRange(1, num_song_bars) if within is None else within
    if within.count <= bars_per_window:
        return within
    before = (bars_per_window - target.count) // 2
    first = max(within.first, min(target.first - before, within.last - bars_per_window + 1))
    return BarRange(first, first + bars_per_window - 1)


def bar_fits(bar: Bar, meters: Collection[Meter], steps_per_bar: int) -> bool:
    """Whether a model of ``meters`` (bars of ``steps_per_bar``) reads ``bar`` as one of its own."""
    return bar.time_signature in meters and bar.steps == steps_per_bar


def meter_run(bars: Sequence[Bar], target: BarRange, meters: Collection[Meter], steps_per_bar: int) -> BarRange:
    """The bars around ``target`` up to the nearest odd bar on each side (pure).

    An odd bar is one a model of ``meters`` does not read as its own (:func:`bar_fits`): a pickup
    written as its own short bar, a 2/4 bar at a repeat of a 3/4 tune, a bar cut short by a meter
    change. The model's window stays inside the run (shifted off the odd bar, or padded with rests
    when the run is shorter than the window). The target's own bars are the caller's to check.
    """
    first, last = target.first, target.last
    while first > 1 and bar_fits(bars[first - 2], meters, steps_per_bar):
        first -= 1
    while last < len(bars) and bar_fits(bars[last], meters, steps_per_bar):
        last += 1
    return BarRange(first, last)
