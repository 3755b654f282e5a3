"""The triplet grid's quality check: new notes on triplet positions against the real bars'."""

import numpy as np

from clsm_cli.constants import HOLD_TOKEN, REST_TOKEN, TRIPLET_TOKEN
from clsm_cli.eval.melody_stats import (
    MIN_TRIPLET_WINDOWS,
    MelodyStatsTotals,
    melody_stats,
    triplet_check,
    triplet_position_counts,
)

T, H, R = TRIPLET_TOKEN, HOLD_TOKEN, REST_TOKEN
QUARTER = [10, H, H, H]
TRIPLET = [T, 10, 12, 14]


def window(context_triplet: bool, target: list[int]) -> np.ndarray:
    """A 32-token window (8 quarters): target at tokens 16..31, context before it."""
    context = (TRIPLET if context_triplet else QUARTER) + QUARTER * 3
    return np.array(context + target, dtype=np.int64)


def test_notes_count_on_triplet_positions_only_where_the_context_has_triplets():
    target = TRIPLET + QUARTER + [12, H, 14, H] + QUARTER  # 3 triplet notes of 7
    windows = np.stack([window(True, target), window(False, target)])
    assert triplet_position_counts(windows, 16, 16) == (3, 7, 1)


def test_a_marker_opening_a_quarter_is_well_formed_and_one_inside_it_is_not():
    good = window(True, TRIPLET + QUARTER * 3)
    bad = window(True, [10, T, 12, 14] + QUARTER * 3)
    assert melody_stats(good[None], 16, 16, steps_per_bar=16).well_formed_share == 1.0
    assert melody_stats(bad[None], 16, 16, steps_per_bar=16).well_formed_share == 0.0


def totals_of(targets: list[list[int]], copies: int) -> MelodyStatsTotals:
    totals = MelodyStatsTotals()
    windows = np.stack([window(True, target) for target in targets] * copies)
    totals.add(windows, 16, 16, 16)
    return totals


def test_the_check_passes_within_half_to_twice_the_real_share_and_needs_enough_windows():
    real = totals_of([TRIPLET + QUARTER * 3], MIN_TRIPLET_WINDOWS).stats()  # 3 of 5 notes on triplets
    close = totals_of([TRIPLET + QUARTER + [R, H, H, H] * 2], MIN_TRIPLET_WINDOWS).stats()  # 3 of 4
    none = totals_of([QUARTER * 4], MIN_TRIPLET_WINDOWS).stats()
    assert triplet_check(close, real).passed is True
    assert triplet_check(none, real).passed is False
    few = totals_of([TRIPLET + QUARTER * 3], MIN_TRIPLET_WINDOWS - 1).stats()
    assert triplet_check(close, few).passed is False
    assert triplet_check(close, none).passed is False  # the real bars have no triplet: nothing to compare
