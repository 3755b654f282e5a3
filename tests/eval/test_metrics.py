"""The paper's metrics on hand-computed examples: edit distance, R(J) with its exclusions, NLL, accuracy."""

import math
import random

import numpy as np
import pytest

from clsm_cli.eval.metrics import (
    LEFT_ONLY_CASE,
    OTHER_CASE,
    AccuracyTotals,
    NllTotals,
    case_of,
    edit_distance,
    edit_distances,
    interpolation_ratio,
    interpolation_ratio_from_distances,
    interpolation_ratios_for_series,
    mean_of_included,
    mean_pairwise_edit_ratio,
    nll_per_token,
    splice_targets,
    subseries_indices,
    token_accuracy,
)


def reference_levenshtein(first, second):
    row = list(range(len(second) + 1))
    for i, a in enumerate(first, 1):
        previous, row[0] = row[:], i
        for j, b in enumerate(second, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a != b))
    return row[-1]


@pytest.mark.parametrize(
    "first, second, expected",
    [
        ([], [], 0),
        ([1, 2, 3], [], 3),
        ([], [4, 4], 2),
        ([5, 6, 7], [5, 6, 7], 0),
        ([1, 2, 3, 4], [1, 9, 3, 4], 1),  # one substitution
        ([1, 2, 3, 4], [2, 3, 4, 5], 2),  # shift: delete the first, insert at the end
        # "kitten" -> "sitting" as token ids: k=1 i=2 t=3 e=4 n=5 s=6 g=7
        ([1, 2, 3, 3, 4, 5], [6, 2, 3, 3, 2, 5, 7], 3),
    ],
)
def test_edit_distance_on_hand_computed_pairs(first, second, expected):
    assert edit_distance(first, second) == expected
    assert edit_distance(second, first) == expected


def test_batched_edit_distances_match_the_textbook_recurrence():
    rng = random.Random(7)
    first = np.array([[rng.randint(0, 3) for _ in range(9)] for _ in range(300)])
    second = np.array([[rng.randint(0, 3) for _ in range(6)] for _ in range(300)])
    expected = [reference_levenshtein(a.tolist(), b.tolist()) for a, b in zip(first, second)]
    assert edit_distances(first, second).tolist() == expected


def test_edit_distances_rejects_mismatched_batches():
    with pytest.raises(ValueError):
        edit_distances(np.zeros((2, 4)), np.zeros((3, 4)))


# One J = 4 series, steps 1, 1, 0, 1 (one zero step), endpoints 3 apart: R = 3 / (3 * (4 - 1)).
SMOOTH_SERIES = [[1, 1, 1, 1], [1, 1, 1, 2], [1, 1, 2, 2], [1, 1, 2, 2], [1, 2, 2, 2]]


def test_ratio_divides_by_J_minus_the_zero_steps():
    assert interpolation_ratio(SMOOTH_SERIES) == pytest.approx(1 / 3)
    assert interpolation_ratio_from_distances([1, 1, 0, 1], 3) == pytest.approx(1 / 3)


def test_ratio_of_a_jagged_series_is_large():
    # J = 2: d(s0, s1) = 4, d(s1, s2) = 3, D = d(s0, s2) = 1 -> 7 / (1 * 2)
    assert interpolation_ratio([[1, 1, 1, 1], [2, 2, 2, 2], [1, 1, 1, 2]]) == pytest.approx(3.5)


def test_ratio_excludes_identical_endpoints_and_constant_series():
    assert interpolation_ratio([[1, 2], [3, 4], [1, 2]]) is None  # D = 0
    assert interpolation_ratio([[1, 2]] * 5) is None  # every step zero: J - n = 0
    assert interpolation_ratio_from_distances([0, 0], 0) is None


def test_mean_ratio_skips_excluded_cases():
    mean, count = mean_of_included([1 / 3, None, 3.5, float("nan")])
    assert count == 2
    assert mean == pytest.approx((1 / 3 + 3.5) / 2)
    assert mean_of_included([None]) == (None, 0)


def test_nested_series_give_the_same_ratios_as_separate_ones():
    rng = np.random.default_rng(3)
    series = rng.integers(0, 4, size=(5, 9, 6))  # 5 series, J = 8, targets of 6 tokens
    series[1] = series[1, 0]  # a constant series: excluded for every J
    ratios = interpolation_ratios_for_series(series, (2, 4, 8))
    assert ratios.shape == (5, 3)
    for row in range(5):
        for column, divisions in enumerate((2, 4, 8)):
            expected = interpolation_ratio([series[row, i] for i in subseries_indices(8, divisions)])
            if expected is None:
                assert math.isnan(ratios[row, column])
            else:
                assert ratios[row, column] == pytest.approx(expected)
    assert np.isnan(ratios[1]).all()


def test_subseries_indices():
    assert subseries_indices(8, 2) == [0, 4, 8]
    assert subseries_indices(8, 8) == list(range(9))
    with pytest.raises(ValueError):
        subseries_indices(8, 3)


def test_cases_split_on_whether_the_target_ends_the_window():
    assert case_of(64, 64) == LEFT_ONLY_CASE
    assert case_of(112, 16) == LEFT_ONLY_CASE
    assert case_of(0, 64) == OTHER_CASE
    assert case_of(48, 32) == OTHER_CASE


def test_splice_puts_the_target_between_the_contexts_without_touching_the_input():
    windows = np.arange(8, dtype=np.uint8).reshape(1, 8)
    spliced = splice_targets(windows, 2, np.array([[9, 9, 9]]))
    assert spliced.tolist() == [[0, 1, 9, 9, 9, 5, 6, 7]]
    assert windows.tolist() == [list(range(8))]


def test_nll_of_windows_and_targets_from_known_token_scores():
    # Two windows of 4 tokens; the target is positions 1..2.
    token_nll = np.array([[1.0, 2.0, 4.0, 1.0], [0.0, 0.5, 0.5, 3.0]])
    window, target = nll_per_token(token_nll, 1, 2)
    assert window.tolist() == pytest.approx([2.0, 1.0])
    assert target.tolist() == pytest.approx([3.0, 0.5])

    totals = NllTotals()
    totals.add(token_nll, 1, 2)
    totals.add(np.array([[1.0, 1.0, 1.0, 1.0]]), 0, 1)  # a target of one token
    assert totals.samples == 3
    assert totals.window_per_token == pytest.approx((8.0 + 4.0 + 4.0) / 12)
    assert totals.target_per_token == pytest.approx((6.0 + 1.0 + 1.0) / 5)  # token-weighted
    assert NllTotals().window_per_token is None


def test_reconstruction_accuracy_counts_tokens():
    assert token_accuracy(np.array([[1, 2, 3, 4]]), np.array([[1, 2, 0, 4]])) == pytest.approx(0.75)
    totals = AccuracyTotals()
    totals.add(np.array([1, 1]), np.array([1, 1]))
    totals.add(np.array([1, 2, 3]), np.array([0, 0, 3]))
    assert totals.accuracy == pytest.approx(3 / 5)
    with pytest.raises(ValueError):
        totals.add(np.array([1, 2]), np.array([1, 2, 3]))


def test_pairwise_edit_ratio_of_candidates():
    candidates = np.array([[1, 1, 1, 1], [1, 1, 1, 2], [2, 2, 2, 2]])
    # distances: (0,1) = 1, (0,2) = 4, (1,2) = 3 -> mean 8/3 over 4 tokens
    assert mean_pairwise_edit_ratio(candidates) == pytest.approx(8 / 12)
    assert mean_pairwise_edit_ratio(candidates[:1]) is None


def test_copy_reference_takes_the_bars_before_or_after():
    windows = np.arange(12).reshape(1, 12)
    from clsm_cli.eval.metrics import copied_targets

    assert copied_targets(windows, 6, 3).tolist() == [[3, 4, 5]]  # the 3 steps before
    assert copied_targets(windows, 2, 5).tolist() == [[0, 1, 0, 1, 0]]  # too few before: repeated
    assert copied_targets(windows, 0, 4).tolist() == [[4, 5, 6, 7]]  # at the start: the steps after


def test_random_reference_keeps_the_rhythm():
    from clsm_cli.constants import HOLD_TOKEN, REST_TOKEN
    from clsm_cli.eval.metrics import random_pitch_targets

    targets = np.array([[5, HOLD_TOKEN, REST_TOKEN, 7, 9, HOLD_TOKEN] * 20], dtype=np.uint8)
    randomised = random_pitch_targets(targets, np.random.default_rng(0))
    is_note = targets < 30
    assert (randomised[~is_note] == targets[~is_note]).all()
    assert (randomised[is_note] < 30).all()
    assert len(set(randomised[is_note].tolist())) > 10  # pitches really are redrawn
    again = random_pitch_targets(targets, np.random.default_rng(0))
    assert (again == randomised).all()
