"""The per-batch training distribution: τ sampling, KL annealing, free bits, batch conditions."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from clsm_cli.constants import WINDOW_STEPS
from clsm_cli.models.config import preset_config
from clsm_cli.models.registry import build_model
from clsm_cli.train.objectives import (
    BatchConditions,
    MetricSums,
    Objective,
    ObjectiveSettings,
    TargetSpan,
    allowed_target_spans,
    anneal_steps_for,
    apply_free_bits,
    kl_weight_at,
    sample_target_span,
)


def test_allowed_spans_are_the_papers_set():
    spans = allowed_target_spans()
    # |x_T| in {16, 32, 48, 64}; |x_CL| in {0, 16, ..., 128 - |x_T|}: 8 + 7 + 6 + 5 choices.
    assert len(spans) == 26
    assert {span.length for span in spans} == {16, 32, 48, 64}
    assert all(span.start % 16 == 0 and span.start + span.length <= WINDOW_STEPS for span in spans)


def test_sampled_spans_cover_exactly_the_allowed_set():
    generator = torch.Generator().manual_seed(0)
    samples = [sample_target_span(generator) for _ in range(3000)]
    assert set(samples) == set(allowed_target_spans())


def test_target_length_is_uniform_then_start_uniform_given_length():
    generator = torch.Generator().manual_seed(1)
    samples = [sample_target_span(generator) for _ in range(8000)]
    lengths = Counter(span.length for span in samples)
    for length in (16, 32, 48, 64):
        assert abs(lengths[length] / len(samples) - 0.25) < 0.03
    # Given |x_T| = 64 there are 5 starts, each about 1/5 (not 1/26: the paper samples |x_T| first).
    starts = Counter(span.start for span in samples if span.length == 64)
    assert sorted(starts) == [0, 16, 32, 48, 64]
    for count in starts.values():
        assert abs(count / lengths[64] - 0.2) < 0.05


def test_span_sampling_is_reproducible_from_the_generator():
    first = [sample_target_span(torch.Generator().manual_seed(7)) for _ in range(3)]
    second = [sample_target_span(torch.Generator().manual_seed(7)) for _ in range(3)]
    assert first == second


def test_target_span_rejects_spans_outside_the_window():
    with pytest.raises(ValueError):
        TargetSpan(start=112, length=32)


def test_kl_weight_grows_linearly_to_its_final_value():
    anneal = anneal_steps_for(2.0, steps_per_epoch=50)
    assert anneal == 100
    assert kl_weight_at(0, final_weight=0.012, anneal_steps=anneal) == 0.0
    assert kl_weight_at(25, final_weight=0.012, anneal_steps=anneal) == pytest.approx(0.003)
    assert kl_weight_at(50, final_weight=0.012, anneal_steps=anneal) == pytest.approx(0.006)
    assert kl_weight_at(100, final_weight=0.012, anneal_steps=anneal) == pytest.approx(0.012)
    assert kl_weight_at(1000, final_weight=0.012, anneal_steps=anneal) == pytest.approx(0.012)
    assert kl_weight_at(0, final_weight=0.4, anneal_steps=0) == 0.4  # --anneal-epochs 0: no warm-up


def test_objective_kl_weight_is_zero_for_models_without_a_latent():
    lm = Objective(ObjectiveSettings(kind="lm", final_kl_weight=0.5, anneal_steps=10))
    vae = Objective(ObjectiveSettings(kind="vae", final_kl_weight=0.4, anneal_steps=10))
    assert lm.kl_weight(5) == 0.0
    assert vae.kl_weight(5) == pytest.approx(0.2)


def test_free_bits_stop_the_kl_gradient_below_the_threshold_only():
    kl = torch.tensor(2.0, requires_grad=True)
    reconstruction = torch.tensor(1.0)
    loss = apply_free_bits(reconstruction + 0.5 * kl, kl, 0.5, threshold_nats=3.0)
    loss.backward()
    assert kl.grad.item() == 0.0
    assert loss.item() == pytest.approx(1.0 + 0.5 * 3.0)

    kl = torch.tensor(4.0, requires_grad=True)
    loss = apply_free_bits(reconstruction + 0.5 * kl, kl, 0.5, threshold_nats=3.0)
    loss.backward()
    assert kl.grad.item() == pytest.approx(0.5)
    assert loss.item() == pytest.approx(1.0 + 0.5 * 4.0)


def test_free_bits_threshold_scales_with_latent_size():
    settings = ObjectiveSettings(kind="clsm", final_kl_weight=0.012, free_bits=0.25, latent_dim=8)
    assert settings.free_bits_threshold == 2.0


def test_batch_conditions_rows_slice_the_constraint_mask():
    mask = torch.arange(8 * WINDOW_STEPS).reshape(8, WINDOW_STEPS) % 3 == 0
    conditions = BatchConditions(TargetSpan(16, 32), mask)
    part = conditions.rows(4, 8)
    assert part.target == TargetSpan(16, 32)
    assert torch.equal(part.constraint_mask, mask[4:8])


@pytest.mark.parametrize("kind", ["clsm", "vae"])
def test_latent_noise_drawn_for_the_global_batch_splits_across_ranks_exactly(kind):
    """Ranks taking their rows of the global batch's noise reproduce the one-process loss."""
    torch.manual_seed(0)
    model = build_model(preset_config(kind, "tiny")).eval()
    objective = Objective(ObjectiveSettings(kind=kind, final_kl_weight=0.5))
    tokens = torch.randint(0, 30, (8, WINDOW_STEPS), generator=torch.Generator().manual_seed(1))
    conditions = objective.sample_conditions(
        model, 8, torch.Generator().manual_seed(2), noise_generator=torch.Generator().manual_seed(3)
    )
    assert conditions.latent_noise.shape == (8, model.config.z_dim)
    whole = objective.training_loss(model, tokens, conditions, 0.5, None)

    # One process before the noise moved into the conditions: the model drew it itself, from a
    # generator with the same seed. The draws (and so the loss) are the same.
    without_noise = objective.sample_conditions(model, 8, torch.Generator().manual_seed(2))
    assert without_noise.latent_noise is None and without_noise.target == conditions.target
    drawn_by_model = objective.training_loss(model, tokens, without_noise, 0.5, torch.Generator().manual_seed(3))
    torch.testing.assert_close(drawn_by_model["loss"], whole["loss"])

    # Two ranks of 4 rows: the mean of their losses is the whole batch's loss.
    halves = [
        objective.training_loss(model, tokens[a:b], conditions.rows(a, b), 0.5, None) for a, b in ((0, 4), (4, 8))
    ]
    assert torch.equal(torch.cat([conditions.rows(0, 4).latent_noise, conditions.rows(4, 8).latent_noise]),
                       conditions.latent_noise)
    for name in ("loss", "reconstruction", "kl"):
        torch.testing.assert_close((halves[0][name] + halves[1][name]) / 2, whole[name])


@pytest.mark.parametrize("kind", ["arnn", "arnn-t"])
def test_arnn_conditions_follow_the_models_constraint_mode(kind):
    model = build_model(preset_config(kind, "tiny"))
    objective = Objective(ObjectiveSettings(kind=kind))
    conditions = objective.sample_conditions(model, 16, torch.Generator().manual_seed(0))
    mask = conditions.constraint_mask
    assert mask.shape == (16, WINDOW_STEPS) and mask.dtype == torch.bool
    if kind == "arnn-t":
        # Constraints are the complement of one bar-aligned CLSM target per row.
        free = ~mask
        for row in free:
            positions = torch.nonzero(row).flatten()
            assert positions.numel() in (16, 32, 48, 64)
            assert positions[0] % 16 == 0
            assert torch.equal(positions, torch.arange(int(positions[0]), int(positions[-1]) + 1))


def test_validation_conditions_are_fixed_per_batch_index():
    model = build_model(preset_config("clsm", "tiny"))
    objective = Objective(ObjectiveSettings(kind="clsm", final_kl_weight=0.012))
    first = [objective.validation_conditions(model, index, 8).target for index in range(6)]
    again = [objective.validation_conditions(model, index, 8).target for index in range(6)]
    assert first == again
    assert len(set(first)) > 1  # different batches see different targets


def test_clsm_validation_reports_posterior_and_prior_mean_accuracy():
    torch.manual_seed(0)
    model = build_model(preset_config("clsm", "tiny")).eval()
    objective = Objective(ObjectiveSettings(kind="clsm", final_kl_weight=0.012, latent_dim=8))
    tokens = torch.randint(0, 32, (4, WINDOW_STEPS))
    conditions = BatchConditions(TargetSpan(32, 16))
    sums = objective.validation_metrics(model, tokens, conditions, torch.Generator().manual_seed(0))
    means = sums.means()
    assert {"loss", "reconstruction", "kl", "accuracy", "accuracy_posterior_mean", "accuracy_prior_mean"} <= set(means)
    assert sums.weights["accuracy_prior_mean"] == 4 * 16
    assert 0.0 <= means["accuracy_posterior_mean"] <= 1.0


def test_metric_sums_weight_batches_by_their_size():
    sums = MetricSums()
    sums.add("loss", 2.0 * 10, 10)
    other = MetricSums()
    other.add("loss", 4.0 * 30, 30)
    sums.merge(other)
    assert sums.means() == {"loss": pytest.approx(3.5)}
