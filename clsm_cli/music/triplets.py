"""The triplet grid: a quarter note is four 16th steps, or a triplet marker and three triplet steps.

A model on the triplet grid (``timebase.TRIPLET_GRID``, x/4 and 2/2 only) reads four tokens a
quarter note, as on the paper's 16th grid, so its windows are no longer:

* a *16th quarter* is four steps at 0, 1/4, 2/4 and 3/4 of the quarter, as on the 16th grid;
* a *triplet quarter* is ``3:`` (``TRIPLET_TOKEN``, which takes no time) and three steps at 0,
  1/3 and 2/3 of the quarter.

Each step token means what it means on the 16th grid (a pitch starts, ``R`` a rest starts, ``__``
what sounds goes on). Times are counted in *fine positions*, 12 a quarter (the common multiple of
4 sixteenths and 3 triplet eighths): a 16th step ``s`` of the song step grid is fine position
``3 * s``, so a quarter that starts at song step ``q`` spans fine positions ``3q .. 3q + 12``.
Notes on fine positions are :class:`~clsm_cli.music.tokens.StepNote` values whose steps are fine
positions.

Placing a track (:func:`place_on_triplet_grid`): each note's onset and release (the events) goes to
the quarter it is nearest to (within half a fine position before its start), then every quarter
takes the grid that moves its events least in total: 16ths unless triplets move them strictly less
(and never triplets in a quarter cut short by a time signature). A quarter with an event only 16ths
hold and another only triplets hold is *mixed*: it is counted (``GridPlacement.mixed_quarters``).
All arithmetic is in integers, exact at every resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from clsm_cli.constants import FIRST_PITCH_TOKEN, HOLD_TOKEN, MAX_PITCH, MIN_PITCH, REST_TOKEN, TRIPLET_TOKEN
from clsm_cli.music.bars import Bar, bar_at_step
from clsm_cli.music.tokens import TOKEN_DTYPE, StepNote, token_to_pitch
from clsm_cli.timebase import STEPS_PER_QUARTER, Meter

FINE_PER_QUARTER = 12  # fine positions a quarter: 3 per 16th step, 4 per triplet step
FINE_PER_STEP = FINE_PER_QUARTER // STEPS_PER_QUARTER  # 3
TRIPLET_STEP_FINE = FINE_PER_QUARTER // 3  # 4


def _on_grid(error_twelfths: np.ndarray, ticks_per_beat: int) -> np.ndarray:
    """Whether an error (in twelfths of a tick) is within 1/48 of a quarter: 12 * tpb / 48 = tpb / 4."""
    return 4 * error_twelfths <= ticks_per_beat


@dataclass(frozen=True)
class Quarters:
    """The quarter notes of a song, in order: where each starts and whether it may be a triplet."""

    start_ticks: np.ndarray  # (Q,) int64
    first_steps: np.ndarray  # (Q,) int64, on the song step grid (the token index of its first step)
    may_be_triplet: np.ndarray  # (Q,) bool: a whole quarter of a bar whose meter has triplets


def song_quarters(bars: Sequence[Bar], ticks_per_beat: int) -> Quarters:
    """Every quarter of every bar, counted from the bar's start (a bar cut short ends with a part
    quarter, which stays on 16ths)."""
    starts, steps, whole = [], [], []
    for bar in bars:
        meter_has_triplets = Meter(bar.numerator, bar.denominator).is_simple_quarter_meter
        for offset in range(0, bar.steps, STEPS_PER_QUARTER):
            starts.append(bar.start_tick + offset // STEPS_PER_QUARTER * ticks_per_beat)
            steps.append(bar.first_step + offset)
            whole.append(meter_has_triplets and offset + STEPS_PER_QUARTER <= bar.steps)
    return Quarters(np.array(starts, dtype=np.int64), np.array(steps, dtype=np.int64), np.array(whole, dtype=bool))


@dataclass(frozen=True)
class GridPlacement:
    """A track's notes on fine positions, and which quarters are triplets."""

    notes: list[StepNote]  # fine positions (12 a quarter), sorted by start then highest pitch
    triplet_steps: frozenset[int]  # song steps (token indices) where a triplet quarter starts
    moved_events: int  # onsets and releases not on a line of their quarter's grid (beyond 1/48 quarter)
    mixed_quarters: int  # quarters holding both 16th-only and triplet-only events


def place_events(ticks: np.ndarray, quarters: Quarters, ticks_per_beat: int):
    """For each tick: its quarter index, the 16th step (0..4) and triplet step (0..3) nearest it in
    that quarter, and the two errors in 12ths of a tick."""
    tpb = ticks_per_beat
    ticks = np.asarray(ticks, dtype=np.int64)
    # Nearest quarter: a tick half a fine position (tpb/24) before a quarter belongs to it.
    index = np.searchsorted(24 * quarters.start_ticks, 24 * ticks + tpb, side="right") - 1
    index = np.clip(index, 0, len(quarters.start_ticks) - 1)
    offset = ticks - quarters.start_ticks[index]
    sixteenth = np.clip((8 * offset + tpb) // (2 * tpb), 0, 4)  # round(offset * 4 / tpb), halves up
    triplet = np.clip((6 * offset + tpb) // (2 * tpb), 0, 3)  # round(offset * 3 / tpb), halves up
    error_sixteenth = np.abs(12 * offset - 3 * tpb * sixteenth)
    error_triplet = np.abs(12 * offset - 4 * tpb * triplet)
    return index, sixteenth, triplet, error_sixteenth, error_triplet


def place_on_triplet_grid(
    start_ticks: np.ndarray, end_ticks: np.ndarray, pitches: np.ndarray, bars: Sequence[Bar], ticks_per_beat: int
) -> GridPlacement:
    """Notes (tick columns) on fine positions, each quarter on the grid that moves its events least.

    A note that would last no time after placing lasts one step of its quarter's grid; same-pitch
    notes starting together are merged (the longest stays). Notes may still overlap (chords): the
    caller reduces them to one line (``voices.top_line`` works on fine positions too).
    """
    tpb = ticks_per_beat
    quarters = song_quarters(bars, tpb)
    count = len(start_ticks)
    events = np.concatenate([np.asarray(start_ticks, dtype=np.int64), np.asarray(end_ticks, dtype=np.int64)])
    index, sixteenth, triplet, error_sixteenth, error_triplet = place_events(events, quarters, tpb)

    cost_sixteenth = np.zeros(len(quarters.start_ticks), dtype=np.int64)
    cost_triplet = np.zeros(len(quarters.start_ticks), dtype=np.int64)
    np.add.at(cost_sixteenth, index, error_sixteenth)
    np.add.at(cost_triplet, index, error_triplet)
    is_triplet = quarters.may_be_triplet & (cost_triplet < cost_sixteenth)

    on_sixteenth, on_triplet = _on_grid(error_sixteenth, tpb), _on_grid(error_triplet, tpb)
    only_sixteenth = np.zeros(len(is_triplet), dtype=bool)
    only_triplet = np.zeros(len(is_triplet), dtype=bool)
    np.logical_or.at(only_sixteenth, index, on_sixteenth & ~on_triplet)
    np.logical_or.at(only_triplet, index, on_triplet & ~on_sixteenth)
    mixed = int((only_sixteenth & only_triplet & quarters.may_be_triplet).sum())

    chosen_triplet = is_triplet[index]
    fine = FINE_PER_STEP * quarters.first_steps[index] + np.where(
        chosen_triplet, TRIPLET_STEP_FINE * triplet, FINE_PER_STEP * sixteenth)
    moved = int((~np.where(chosen_triplet, on_triplet, on_sixteenth)).sum())

    starts, ends = fine[:count], fine[count:]
    step_of_start = np.where(chosen_triplet[:count], TRIPLET_STEP_FINE, FINE_PER_STEP)
    ends = np.where(ends <= starts, starts + step_of_start, ends)
    pitches = np.asarray(pitches, dtype=np.int64)
    notes = _merged_notes(starts, ends, pitches)
    triplet_steps = frozenset(int(step) for step in quarters.first_steps[is_triplet])
    return GridPlacement(notes, triplet_steps, moved, mixed)


def _merged_notes(starts: np.ndarray, ends: np.ndarray, pitches: np.ndarray) -> list[StepNote]:
    """Same-pitch notes on one start merged (the longest stays), same-pitch overlaps trimmed."""
    order = np.lexsort((-ends, starts, pitches))
    starts, ends, pitches = starts[order], ends[order], pitches[order]
    duplicate = np.zeros(len(order), dtype=bool)
    duplicate[1:] = (pitches[1:] == pitches[:-1]) & (starts[1:] == starts[:-1])
    starts, ends, pitches = starts[~duplicate], ends[~duplicate], pitches[~duplicate]
    next_starts = np.append(starts[1:], 0)
    trimmed = np.append(pitches[1:] == pitches[:-1], False) & (ends > next_starts)
    ends = np.where(trimmed, next_starts, ends)
    order = np.lexsort((-pitches, starts))
    return [StepNote(int(s), int(e), int(p)) for s, e, p in zip(starts[order], ends[order], pitches[order])]


# --- tokens -----------------------------------------------------------------------------------------


def slot_positions(num_steps: int, start_step: int, triplet_steps: frozenset[int] | set[int]) -> np.ndarray:
    """The fine position each token of steps ``start_step ..`` stands for; -1 for a ``3:`` marker."""
    steps = np.arange(start_step, start_step + num_steps, dtype=np.int64)
    positions = FINE_PER_STEP * steps
    for quarter in sorted(step for step in triplet_steps if start_step <= step < start_step + num_steps):
        slot = quarter - start_step
        positions[slot] = -1
        positions[slot + 1 : slot + STEPS_PER_QUARTER] = FINE_PER_STEP * quarter + TRIPLET_STEP_FINE * np.arange(3)[
            : max(0, min(3, num_steps - slot - 1))]
    return positions


def encode_fine_notes(
    notes: Sequence[StepNote], triplet_steps: frozenset[int] | set[int], num_steps: int, start_step: int = 0
) -> np.ndarray:
    """Tokens of steps ``start_step .. start_step + num_steps`` (16th-step indices) of one line on
    fine positions, with ``3:`` where a triplet quarter starts.

    Every note's onset must lie on a line of its quarter's grid (ValueError otherwise); a release
    between lines lasts to the next line. Notes must not overlap; the first token (after a marker)
    carries what already sounds, so the result is canonical.
    """
    positions = slot_positions(num_steps, start_step, triplet_steps)
    timed = positions >= 0
    slot_fine = positions[timed]
    tokens = np.full(num_steps, HOLD_TOKEN, dtype=TOKEN_DTYPE)
    slot_tokens = np.full(len(slot_fine), HOLD_TOKEN, dtype=TOKEN_DTYPE)
    covered = np.zeros(len(slot_fine), dtype=bool)
    first_fine = FINE_PER_STEP * start_step
    end_fine = FINE_PER_STEP * (start_step + num_steps)
    latest_end = None
    for note in sorted(notes, key=lambda note: note.start_step):
        if note.end_step <= first_fine or note.start_step >= end_fine:
            continue
        if latest_end is not None and note.start_step < latest_end:
            raise ValueError(f"notes overlap at fine position {note.start_step}; reduce to one line first")
        latest_end = note.end_step
        if not MIN_PITCH <= note.pitch <= MAX_PITCH:
            raise ValueError(f"pitch must be in range {MIN_PITCH}..{MAX_PITCH}, got {note.pitch}")
        inside = (slot_fine >= note.start_step) & (slot_fine < note.end_step)
        covered |= inside
        if note.start_step >= first_fine:
            slot = np.flatnonzero(slot_fine == note.start_step)
            if not len(slot):
                raise ValueError(f"a note starts at fine position {note.start_step}, off its quarter's grid")
            slot_tokens[slot[0]] = FIRST_PITCH_TOKEN + note.pitch - MIN_PITCH
        elif inside.any():  # began before the window: its first step carries its pitch (canonical)
            slot_tokens[np.flatnonzero(inside)[0]] = FIRST_PITCH_TOKEN + note.pitch - MIN_PITCH
    rest_starts = ~covered
    rest_starts[1:] &= covered[:-1]
    slot_tokens[rest_starts] = REST_TOKEN
    tokens[timed] = slot_tokens
    tokens[~timed] = TRIPLET_TOKEN
    return tokens


def decode_fine_tokens(tokens: Sequence[int], start_step: int = 0) -> tuple[list[StepNote], frozenset[int]]:
    """Notes on fine positions and the triplet quarters' steps of a token sequence (rests omitted).

    ValueError when ``3:`` is anywhere but a quarter's first token (counted from ``start_step``,
    which is on a quarter line), or a special token appears. A leading ``__`` is a note tied from
    before with an unknown pitch, as in ``tokens.decode_tokens``.
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    markers = np.flatnonzero(tokens == TRIPLET_TOKEN)
    bad = markers[(markers % STEPS_PER_QUARTER) != 0]
    if len(bad):
        raise ValueError(f"a triplet marker at step {start_step + int(bad[0])} is not at the start of a quarter note")
    triplet_steps = frozenset(int(start_step + marker) for marker in markers)
    positions = slot_positions(len(tokens), start_step, triplet_steps)
    notes: list[StepNote] = []
    open_note: tuple[int, int | None, bool] | None = None  # (start, pitch, tied_from_before)
    leading = True
    for token, position in zip(tokens.tolist(), positions.tolist()):
        if position < 0:
            continue
        if token == HOLD_TOKEN:
            if leading:
                open_note = (position, None, True)
            leading = False
            continue
        leading = False
        if token not in (REST_TOKEN,) and token_to_pitch(token) is None:
            raise ValueError(f"token {token} at fine position {position} is not a music token")
        if open_note is not None:
            notes.append(StepNote(open_note[0], position, open_note[1], open_note[2]))
        pitch = token_to_pitch(token)
        open_note = (position, pitch, False) if pitch is not None else None
    if open_note is not None:
        notes.append(StepNote(open_note[0], FINE_PER_STEP * (start_step + len(tokens)), open_note[1], open_note[2]))
    return notes, triplet_steps


def fine_to_ticks(positions: np.ndarray, bars: Sequence[Bar], ticks_per_beat: int) -> np.ndarray:
    """Ticks of fine positions on the song grid (halves up), from the bar holding each position."""
    positions = np.asarray(positions, dtype=np.int64)
    bar_fine = FINE_PER_STEP * np.array([bar.first_step for bar in bars], dtype=np.int64)
    bar_ticks = np.array([bar.start_tick for bar in bars], dtype=np.int64)
    index = np.clip(np.searchsorted(bar_fine, positions, side="right") - 1, 0, len(bars) - 1)
    offset = positions - bar_fine[index]
    return bar_ticks[index] + (2 * offset * ticks_per_beat + FINE_PER_QUARTER) // (2 * FINE_PER_QUARTER)


# --- the triplet grid seen from the 16th grid -------------------------------------------------------
# A triplet quarter's three steps sit at 0, 1/3 and 2/3 of the quarter; rounded to the 16th grid they
# are the quarter's 16th steps 0, 1 and 3, all different. So a line on the 16th grid together with
# the set of its triplet quarters says exactly what a triplet-grid line says, provided nothing starts
# or ends on the quarter's third 16th: the editing commands keep their 16th-grid line and convert
# tokens at the model's edge (``to_triplet_tokens`` / ``from_triplet_tokens``).

SIXTEENTH_OF_TRIPLET_STEP = (0, 1, 3)  # the 16th step (in its quarter) each triplet step rounds to


def to_triplet_tokens(tokens: np.ndarray, triplet_offsets: Iterable[int]) -> np.ndarray:
    """16th-grid tokens with the quarters starting at ``triplet_offsets`` (indices into ``tokens``)
    written as triplet quarters ``[3:, t0, t1, t3]``; ValueError when such a quarter has something
    on its third 16th (``t2`` is not a hold)."""
    tokens = np.asarray(tokens, dtype=TOKEN_DTYPE).copy()
    for offset in sorted(triplet_offsets):
        quarter = tokens[offset : offset + STEPS_PER_QUARTER].copy()
        if len(quarter) < STEPS_PER_QUARTER or quarter[2] != HOLD_TOKEN:
            raise ValueError(f"the quarter at step {offset} has a 16th a triplet cannot hold")
        tokens[offset : offset + STEPS_PER_QUARTER] = [TRIPLET_TOKEN, quarter[0], quarter[1], quarter[3]]
    return tokens


def from_triplet_tokens(tokens: np.ndarray) -> tuple[np.ndarray, frozenset[int]]:
    """The inverse of :func:`to_triplet_tokens`: 16th-grid tokens and the offsets of the triplet
    quarters (ValueError for a marker off a quarter line, as :func:`decode_fine_tokens`)."""
    tokens = np.asarray(tokens, dtype=TOKEN_DTYPE).copy()
    markers = np.flatnonzero(tokens == TRIPLET_TOKEN)
    if len(markers) and ((markers % STEPS_PER_QUARTER).any() or markers.max() + STEPS_PER_QUARTER > len(tokens)):
        raise ValueError("a triplet marker is not at the start of a whole quarter note")
    for offset in markers.tolist():
        first, second, third = tokens[offset + 1 : offset + STEPS_PER_QUARTER]
        tokens[offset : offset + STEPS_PER_QUARTER] = [first, second, HOLD_TOKEN, third]
    return tokens, frozenset(markers.tolist())


def representable_triplets(triplet_steps: Iterable[int], line: Sequence[StepNote]) -> frozenset[int]:
    """The triplet quarters (song steps) of a 16th-grid ``line`` it can be written in: those where no
    note starts or ends on the quarter's third 16th."""
    on_third = {note.start_step for note in line} | {note.end_step for note in line}
    return frozenset(step for step in triplet_steps if step + 2 not in on_third)


def triplet_tick(step: int, bars: Sequence[Bar], ticks_per_beat: int, triplet_steps: frozenset[int] | set[int]) -> int | None:
    """The tick of a 16th ``step`` that stands for a triplet step (the 2nd or 3rd of a triplet
    quarter in ``triplet_steps``); None for any other step."""
    bar = bar_at_step(bars, step)
    in_quarter = (step - bar.first_step) % STEPS_PER_QUARTER
    quarter = step - in_quarter
    if quarter not in triplet_steps or in_quarter not in (1, 3):
        return None
    thirds = SIXTEENTH_OF_TRIPLET_STEP.index(in_quarter)
    quarter_tick = bar.start_tick + (quarter - bar.first_step) // STEPS_PER_QUARTER * ticks_per_beat
    return quarter_tick + (2 * thirds * ticks_per_beat + 3) // 6
