"""The evaluation harness on tiny random models: determinism, batching, NLL bookkeeping, references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clsm_cli.constants import TARGET_LENGTHS_STEPS, WINDOW_STEPS
from clsm_cli.data.shards import open_split
from clsm_cli.errors import UsageError
from clsm_cli.eval import harness
from clsm_cli.eval.harness import ARNN_T, CLSM, DATA, EvalModel, evaluate, family_of, plan_evaluation
from clsm_cli.eval.metrics import CASES, LEFT_ONLY_CASE, OTHER_CASE, case_of, copied_targets

from .conftest import tiny_model


class KnownLM(torch.nn.Module):
    """A stand-in LM whose NLL of token t is 0.1 * t nats, whatever comes before it."""

    def token_nll(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens.double() * 0.1


@pytest.fixture(scope="module")
def members():
    return [
        EvalModel("clsm", CLSM, tiny_model("clsm", 0)),
        EvalModel("vae", "VAE", tiny_model("vae", 1)),
        EvalModel("arnn-t", ARNN_T, tiny_model("arnn-t", 2)),
    ]


def test_plan_draws_targets_like_training_and_is_seeded(eval_data):
    windows = open_split(eval_data, "test")
    plan = plan_evaluation(windows, 30, seed=5)
    again = plan_evaluation(windows, 30, seed=5)
    other = plan_evaluation(windows, 30, seed=6)
    assert len(plan) == 30
    assert np.array_equal(plan.windows, windows[plan.dataset_indices])
    assert np.array_equal(plan.target_starts, again.target_starts) and np.array_equal(plan.windows, again.windows)
    assert not np.array_equal(plan.dataset_indices, other.dataset_indices)
    assert set(plan.target_lengths.tolist()) <= set(TARGET_LENGTHS_STEPS)
    assert ((plan.target_starts % 16 == 0) & (plan.target_starts + plan.target_lengths <= WINDOW_STEPS)).all()
    grouped = np.concatenate([rows for _, _, rows in plan.groups()])
    assert sorted(grouped.tolist()) == list(range(30))  # every window in exactly one τ group
    for start, length, _ in plan.reconstruction_groups():
        assert case_of(start, length) == LEFT_ONLY_CASE
    assert len(plan_evaluation(windows, 1000, seed=5)) == len(windows)  # capped at the split size


def test_target_draw_covers_every_start_uniformly():
    starts, lengths = harness.draw_targets(np.random.default_rng(0), 40_000)
    for length in TARGET_LENGTHS_STEPS:
        chosen = starts[lengths == length]
        choices = (WINDOW_STEPS - length) // 16 + 1
        counts = np.bincount(chosen // 16, minlength=choices)
        assert len(counts) == choices and counts.min() > 0.8 * len(chosen) / choices
    assert abs((lengths == 16).mean() - 0.25) < 0.02


def test_nll_and_references_add_up_under_a_known_lm(eval_data):
    plan = plan_evaluation(open_split(eval_data, "test"), 40, seed=1)
    result = evaluate([], KnownLM(), plan)
    for case in CASES:
        groups = [(start, length, rows) for start, length, rows in plan.groups() if case_of(start, length) == case]
        assert groups, "the seed should give windows in both cases"
        data = result.row(DATA, case)
        windows = np.concatenate([plan.windows[r] for _, _, r in groups]).astype(float)
        assert data.windows == data.samples == len(windows)
        assert data.nll_window == pytest.approx(0.1 * windows.mean())
        target_tokens = np.concatenate([plan.windows[r][:, s : s + n].reshape(-1) for s, n, r in groups]).astype(float)
        assert data.nll_target == pytest.approx(0.1 * target_tokens.mean())
        copies = np.concatenate(
            [copied_targets(plan.windows[r], s, n).reshape(-1) for s, n, r in groups]
        ).astype(float)
        assert result.row("Copy", case).nll_target == pytest.approx(0.1 * copies.mean())
        assert data.recon_left_contextual is None and data.r8 is None
    assert {row.model for row in result.rows} == {"Data", "Copy", "Random"}


def test_every_model_gets_both_case_rows_with_its_measures(eval_data, members):
    plan = plan_evaluation(open_split(eval_data, "test"), 12, seed=1)
    result = evaluate(members, tiny_model("lm", 9), plan, batch_size=64)
    assert [(row.model, row.case) for row in result.rows] == [
        (model, case) for model in ("Data", "Copy", "Random", "clsm", "vae", "arnn-t") for case in CASES
    ]
    for case in CASES:
        clsm, arnn, data = result.row("clsm", case), result.row("arnn-t", case), result.row("Data", case)
        assert clsm.samples == 9 * clsm.windows  # the 9 points of each J = 8 series
        assert arnn.samples == 2 * arnn.windows  # two temperature-1.0 samples
        assert clsm.windows + result.row("clsm", OTHER_CASE if case == LEFT_ONLY_CASE else LEFT_ONLY_CASE).windows == 12
        assert clsm.r8_cases <= clsm.windows and clsm.nll_window > 0 and 0 <= clsm.recon_case <= 1
        assert arnn.r8 is None and arnn.recon_left_contextual is None and arnn.nll_window > 0
        assert clsm.well_formed_share is not None and arnn.pairwise_edit_ratio is not None
        assert data.pairwise_edit_ratio is None
    left, other = result.row("clsm", LEFT_ONLY_CASE), result.row("clsm", OTHER_CASE)
    assert left.recon_left_contextual == other.recon_left_contextual  # one number per model


def test_results_are_deterministic_and_independent_of_the_other_models(eval_data, members):
    plan = plan_evaluation(open_split(eval_data, "test"), 8, seed=2)
    lm = tiny_model("lm", 9)
    together = evaluate(members, lm, plan, batch_size=64, include_references=False)
    alone = evaluate(members[:1], lm, plan, batch_size=7, include_references=False)  # other batch split too
    again = evaluate(members[:1], lm, plan, batch_size=64, include_references=False)
    for case in CASES:
        assert alone.row("clsm", case) == again.row("clsm", case)
        first, second = together.row("clsm", case), alone.row("clsm", case)
        assert first.r2 == second.r2 and first.r8 == second.r8 and first.recon_case == second.recon_case
        assert first.nll_window == pytest.approx(second.nll_window)


def test_quality_check_measures_candidates_against_the_real_bars(eval_data, members):
    plan = plan_evaluation(open_split(eval_data, "test"), 8, seed=3)
    result = harness.evaluate_quality(members[0], plan, lm=KnownLM(), candidates=3, temperature=1.0, top_p=0.9)
    assert result.generated.targets == 24 and result.real.targets == 8
    assert result.real.well_formed_share == 1.0
    assert 0 <= result.posterior_accuracy <= 1 and 0 <= result.prior_accuracy <= 1
    assert result.nll["generated"].samples == 24 and result.nll[DATA].samples == 8
    assert len(result.checks) == 11
    argmax = harness.evaluate_quality(members[0], plan, candidates=3, temperature=0.0)
    assert argmax.nll == {} and argmax.temperature == 0.0
    with pytest.raises(UsageError):
        harness.evaluate_quality(members[1], plan)  # a VAE has no contextual prior


def test_model_families_and_bad_inputs(eval_data):
    arnn_t = tiny_model("arnn-t", 0)
    assert family_of("arnn", arnn_t.config) == ARNN_T
    assert family_of("arnn", tiny_model("arnn", 0).config) == "ARNN"
    with pytest.raises(UsageError):
        family_of("lm")
    plan = plan_evaluation(open_split(eval_data, "test"), 4, seed=0)
    with pytest.raises(UsageError):
        evaluate([EvalModel("a", CLSM, tiny_model("clsm", 0)), EvalModel("a", CLSM, tiny_model("clsm", 0))], None, plan)
    with pytest.raises(UsageError):
        plan_evaluation(open_split(eval_data, "test"), 0)


def test_three_four_windows_get_targets_of_whole_three_four_bars():
    windows = np.full((50, 96), 31, dtype=np.uint8)
    plan = plan_evaluation(windows, 50, seed=3)
    assert set(plan.target_lengths.tolist()) <= {12, 24, 36, 48} and set(plan.reconstruction_lengths.tolist()) <= {12, 24, 36, 48}
    assert ((plan.target_starts % 12 == 0) & (plan.target_starts + plan.target_lengths <= 96)).all()


def test_a_model_of_another_meter_is_refused(eval_data):
    plan = plan_evaluation(np.full((4, 96), 31, dtype=np.uint8), 4, seed=0)
    with pytest.raises(UsageError, match="reads 128-step windows, but the test windows have 96 steps"):
        evaluate([EvalModel("clsm", CLSM, tiny_model("clsm", 0))], None, plan)
