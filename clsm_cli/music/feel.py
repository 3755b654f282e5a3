"""The tune's feel on new notes: where the context's notes sit against the grid, per grid position.

A model writes notes on its grid; players (and some notation programs) do not. New notes take the
timing of the melody around them, as they take its accents (``edit_plan.accent_velocity``):

* **Feel**: for each position in the beat (the 16th step from the beat's start; a beat is a quarter
  note in simple meters, a dotted quarter in compound ones, an eighth otherwise), the median offset
  in ticks of the context notes' onsets from their grid step. A hornpipe swung as triplets
  (320 + 160 ticks at 480 a quarter) has its off-beat 8ths 40 ticks early: new off-beat notes are
  40 ticks early too. Releases stay on the grid (a release is the next onset in a legato line, and
  the clamp keeps it there), so articulation is not guessed from a few notes.
* **Shift**: a constant offset of every note (a whole file a tick late, as abc2midi writes) is not
  feel but a shift: the median offset of the notes on the beat, applied to new notes at positions
  the context has no note on.
* **Clamp**: no new onset moves before the target's first tick or to (or past) the next note's
  onset; a release comes after its onset and at the latest at the next onset.

A quantized context has every offset 0, so new notes sit exactly on the grid.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from clsm_cli.music.bars import Bar, bar_at_step, step_to_tick
from clsm_cli.music.triplets import triplet_tick
from clsm_cli.timebase import round_half_up


def position_in_beat(bars: Sequence[Bar], step: int) -> int:
    """The 16th step from the start of the beat holding ``step`` (``Meter.beat_steps``)."""
    bar = bar_at_step(bars, step)
    return (step - bar.first_step) % bar.time_signature.beat_steps


@dataclass(frozen=True)
class Feel:
    """Median onset offsets (ticks) from the grid by position in the beat, and the shift elsewhere."""

    onsets: dict[int, int] = field(default_factory=dict)
    shift: int = 0  # for positions the context has no note on: the beat's own offset

    def onset_offset(self, position: int) -> int:
        return self.onsets.get(position, self.shift)


def context_feel(notes: Iterable[tuple[int, int]], bars: Sequence[Bar], ticks_per_beat: int) -> Feel:
    """The feel of context notes given as ``(start_tick, start_step)`` (their onset and its step)."""
    samples: dict[int, list[int]] = {}
    for start_tick, start_step in notes:
        samples.setdefault(position_in_beat(bars, start_step), []).append(
            start_tick - step_to_tick(bars, ticks_per_beat, start_step))
    medians = {position: _median(values) for position, values in samples.items()}
    everything = [value for values in samples.values() for value in values]
    return Feel(medians, medians.get(0, _median(everything) if everything else 0))


def _median(values: Sequence[int]) -> int:
    return round_half_up(statistics.median(values))


def felt_ticks(
    steps: Sequence[tuple[int, int]], feel: Feel, bars: Sequence[Bar], ticks_per_beat: int,
    first_tick: int, next_onset_tick: int, triplet_steps: frozenset[int] = frozenset(),
) -> list[tuple[int, int]]:
    """Ticks ``(start, end)`` of new notes of one line given as ``(start_step, end_step)`` in onset
    order, with the feel applied and clamped: every onset at or after ``first_tick`` (the target's
    first tick), before the next new note's onset and before ``next_onset_tick`` (the first note
    after them); every release after its onset and at most the next onset. In a quarter of
    ``triplet_steps`` the 16th steps 1 and 3 stand for triplet steps: they sit at 1/3 and 2/3 of the
    quarter, moved by the shift alone (the context's offsets were measured against 16ths)."""

    def grid_tick(step: int) -> tuple[int, bool]:
        tick = triplet_tick(step, bars, ticks_per_beat, triplet_steps) if triplet_steps else None
        return (step_to_tick(bars, ticks_per_beat, step), False) if tick is None else (tick, True)

    grid_starts = [grid_tick(start)[0] for start, _ in steps]
    placed: list[tuple[int, int]] = []
    for index, (start_step, end_step) in enumerate(steps):
        following = grid_starts[index + 1] if index + 1 < len(steps) else next_onset_tick
        on_triplet = grid_tick(start_step)[1]
        start = grid_starts[index] + (feel.shift if on_triplet else feel.onset_offset(position_in_beat(bars, start_step)))
        start = min(max(start, first_tick), following - 1)
        if placed:
            start = max(start, placed[-1][0] + 1)  # onsets stay in order
        end = grid_tick(end_step)[0]
        placed.append((start, end))
    result = []
    for index, (start, end) in enumerate(placed):
        limit = placed[index + 1][0] if index + 1 < len(placed) else next_onset_tick
        result.append((start, max(start + 1, min(end, limit))))
    return result
