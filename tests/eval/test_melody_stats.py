"""Melody statistics on hand-made windows (token ids: pitch p is p - 55, R = 30, __ = 31)."""

import numpy as np
import pytest

from clsm_cli.constants import HOLD_TOKEN, MIN_PITCH, PLACEHOLDER_TOKEN, REST_TOKEN
from clsm_cli.eval.melody_stats import (
    MelodyStats,
    MelodyStatsTotals,
    in_key_counts,
    melody_stats,
    pairwise_ratios,
    quality_checks,
)

__, R = HOLD_TOKEN, REST_TOKEN


def p(pitch):
    return pitch - 55


# Left context: 60 held; target (8 steps): 62 __ 62 64 R __ 67 __; right context: 65 held.
WINDOW = [p(60), __, __, __, p(62), __, p(62), p(64), R, __, p(67), __, p(65), __, __, __]


def test_statistics_of_one_hand_made_target():
    stats = melody_stats(np.array([WINDOW]), 4, 8)
    assert stats.targets == 1
    assert stats.repeated_note_share == pytest.approx(1 / 3)  # 62-62 of (62-62, 62-64, 64-67)
    assert stats.step_share == pytest.approx(1 / 3)  # only 62-64 is a 1-2 semitone step
    assert stats.distinct_pitches == 3
    assert stats.pitch_range_semitones == 5
    assert stats.onsets_per_bar == pytest.approx(8.0)  # 4 notes in half a bar
    assert stats.jump_in_semitones == 2  # 60 -> 62
    assert stats.jump_out_semitones == 2  # 67 -> 65
    assert stats.well_formed_share == 1.0
    assert stats.pairwise_edit_ratio is None


def test_rests_and_holds_between_notes_do_not_break_note_pairs():
    window = [p(72), __, R, __, p(60), R, __, __, p(61), __, __, __, R, __, p(79), __]
    stats = melody_stats(np.array([window]), 4, 8)  # target: 60 R __ __ 61 __ __ __
    assert stats.repeated_note_share == 0.0
    assert stats.step_share == 1.0
    assert stats.jump_in_semitones == 12  # the last note before the target, over the rest
    assert stats.jump_out_semitones == 18  # the first note after the target, over the rest


def test_targets_without_notes_or_context_skip_the_jumps():
    window = [R, __, __, __, p(70), __, __, __]
    stats = melody_stats(np.array([window]), 0, 4)  # an all-rest target at the window start
    assert stats.distinct_pitches == 0
    assert stats.pitch_range_semitones == 0
    assert stats.repeated_note_share is None and stats.step_share is None
    assert stats.jump_in_semitones is None and stats.jump_out_semitones is None
    assert stats.well_formed_share == 1.0


def test_well_formed_share():
    tie_after_context = [p(60), __, __, __, __, p(62), __, __]  # leading __ ties the 60 over
    tie_at_window_start = [__, p(62), __, __, p(60), __, __, __]
    special_symbol = [p(60), __, __, __, PLACEHOLDER_TOKEN, p(62), __, __]
    assert melody_stats(np.array([tie_after_context]), 4, 4).well_formed_share == 1.0
    assert melody_stats(np.array([tie_at_window_start]), 0, 4).well_formed_share == 0.0
    assert melody_stats(np.array([special_symbol]), 4, 4).well_formed_share == 0.0


def test_totals_pool_targets_and_batches():
    totals = MelodyStatsTotals()
    totals.add(np.array([WINDOW, WINDOW]), 4, 8)
    other = MelodyStatsTotals()
    flat = [p(60), __, __, __, p(60), p(60), p(60), p(60), p(60), p(60), p(60), p(60), R, __, __, __]
    other.add(np.array([flat]), 4, 8)
    merged = totals.merge(other).stats()
    assert merged.targets == 3
    assert merged.repeated_note_share == pytest.approx((1 + 1 + 7) / (3 + 3 + 7))
    assert merged.distinct_pitches == pytest.approx((3 + 3 + 1) / 3)
    assert merged.onsets_per_bar == pytest.approx((4 + 4 + 8) / 1.5)
    assert merged.jump_in_semitones == pytest.approx((2 + 2 + 0) / 3)
    assert merged.jump_out_semitones == pytest.approx((2 + 2) / 2)  # the flat target has nothing after


def test_pairwise_ratio_over_calls():
    calls = [np.array([[1, 1, 1, 1], [1, 1, 2, 2]]), np.array([[3, 3, 3, 3], [3, 3, 3, 3]]), np.array([[1, 2, 3, 4]])]
    assert pairwise_ratios(calls) == pytest.approx((0.5 + 0.0) / 2)


def stats(**overrides):
    base = dict(
        targets=10, repeated_note_share=0.17, distinct_pitches=5.8, pitch_range_semitones=9.4,
        onsets_per_bar=5.0, step_share=0.51, jump_in_semitones=2.6, jump_out_semitones=2.6,
        well_formed_share=1.0, pairwise_edit_ratio=None, in_key_share=0.95,
    )
    base.update(overrides)
    return MelodyStats(**base)


def test_quality_checks_flag_the_dull_prototype_and_pass_a_good_model():
    real = stats()
    dull = stats(repeated_note_share=0.37, distinct_pitches=3.9, pitch_range_semitones=6.4, step_share=0.32,
                 jump_in_semitones=3.3, jump_out_semitones=3.7, pairwise_edit_ratio=0.1, in_key_share=0.7)
    failed = {check.name for check in quality_checks(dull, real, 0.60, 0.57) if check.passed is False}
    assert failed == {
        "repeated-note share", "distinct pitches per target", "pitch range (semitones)",
        "1-2 semitone step share", "jump out of target (semitones)",  # 3.3 <= 2.6 + 1 passes
        "pairwise edit-distance ratio", "in key (new notes in the tune's scale)",
        "reconstruction: posterior mean vs prior mean",
    }
    good = stats(repeated_note_share=0.2, pairwise_edit_ratio=0.4)
    assert all(check.passed for check in quality_checks(good, real, 0.70, 0.55))
    missing = quality_checks(good, real, None, 0.55)[-1]
    assert missing.passed is None


def test_batched_candidate_sets_equal_one_call_at_a_time():
    rng = np.random.default_rng(1)
    sets = rng.integers(0, 5, size=(6, 4, 8))
    batched, one_by_one = MelodyStatsTotals(), MelodyStatsTotals()
    batched.add_candidate_sets(sets)
    for candidates in sets:
        one_by_one.add_candidates(candidates)
    assert batched.pairwise_calls == one_by_one.pairwise_calls == 6
    assert batched.pairwise_sum == pytest.approx(one_by_one.pairwise_sum)


def _window_of(pitches, target_pitches, steps_per_note=2):
    """A window: context notes, then the target's notes, then the context again (each a pitch + hold)."""
    tokens = []
    for pitch in list(pitches) + list(target_pitches) + list(pitches):
        tokens += [pitch - MIN_PITCH] + [HOLD_TOKEN] * (steps_per_note - 1)
    return np.array(tokens, dtype=np.uint8)


def test_in_key_share_counts_target_notes_inside_the_contexts_diatonic_scale():
    c_major = [60, 62, 64, 65, 67, 69, 71, 72]
    in_key_window = _window_of(c_major, [64, 65, 67, 60])  # all four in C major
    half_window = _window_of(c_major, [61, 63, 64, 67])  # C# and D# are outside
    target_start, target_length = 16, 8
    assert in_key_counts(in_key_window[None], target_start, target_length) == (4, 4)
    assert in_key_counts(half_window[None], target_start, target_length) == (2, 4)
    stats = melody_stats(np.stack([in_key_window, half_window]), target_start, target_length)
    assert stats.in_key_share == pytest.approx(6 / 8)


def test_a_dorian_tune_is_in_key_and_a_window_without_context_is_skipped():
    d_dorian = [62, 64, 65, 67, 69, 71, 72, 74]  # the C-major set: modal tunes count as in key
    assert in_key_counts(_window_of(d_dorian, [62, 65, 69, 72])[None], 16, 8) == (4, 4)
    silent_context = np.full(40, REST_TOKEN, dtype=np.uint8)
    silent_context[16] = 61 - MIN_PITCH
    assert in_key_counts(silent_context[None], 16, 8) == (0, 0)
