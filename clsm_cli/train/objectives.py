"""How one batch of windows becomes a loss, for each model kind (paper sections 2.4 and 3.4).

- ``clsm``: mean target cross-entropy + β·KL (eq. 4; the paper maximizes the negative). The target
  τ is sampled once per batch: |x_T| uniformly from {16, 32, 48, 64}, then |x_CL| uniformly from
  {0, 16, ..., 128 − |x_T|} (section 3.4.1).
- ``vae``: mean cross-entropy + γ·KL against a standard normal prior (eq. 9).
- ``arnn`` / ``arnn-t``: cross-entropy of the token RNN given a constraint mask; random positions
  for ARNN, complements of CLSM target sets for ARNN_T (the model's config says which).
- ``lm``: plain next-token cross-entropy.

The KL weight grows linearly from 0 to β (or γ) over ``anneal_epochs`` epochs (section 3.4). An
optional free-bits threshold (``free_bits`` nats per latent dimension, applied to the batch-mean KL
of the whole latent, since the KL of a flow prior does not split by dimension) stops the optimiser
from pushing the KL below the threshold, a common remedy when the decoder learns to ignore z.

Randomness that defines *what* a batch trains on (τ, ARNN constraint masks) is drawn for the whole
global batch from one CPU ``torch.Generator`` that every data-parallel rank advances identically;
the reparameterisation noise of the latent models is drawn the same way, for the whole global batch
from a second generator seeded identically on every rank (kept apart so that τ's stream does not
depend on z's size). Each rank then takes its rows with ``BatchConditions.rows``, so N ranks train
on exactly the draws one process makes for the same batch. Only dropout stays per rank (its masks
come from the global RNG inside the layers); the ``small`` and ``tiny`` presets have none.
Validation uses fixed, seeded τ's per batch index so its numbers compare across epochs and runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import torch

from clsm_cli.constants import TARGET_LENGTHS_STEPS, TARGET_START_STRIDE_STEPS, WINDOW_STEPS
from clsm_cli.models.registry import DEFAULT_BETA, DEFAULT_GAMMA, ModelKind, model_kind  # noqa: F401 - re-exported

DEFAULT_ANNEAL_EPOCHS = 2.0

# Validation τ's and noise come from this seed plus the batch index, independent of the training
# seed, so that validation numbers of different runs are measured on identical conditions.
VALIDATION_SEED = 20211107


@dataclass(frozen=True)
class TargetSpan:
    """τ as the models take it: the target covers steps ``start`` .. ``start + length - 1``."""

    start: int  # |x_CL|, steps of left context
    length: int  # |x_T|, target steps
    window_steps: int = field(default=WINDOW_STEPS, compare=False)  # K of the model it is drawn for

    def __post_init__(self):
        if self.length <= 0 or self.start < 0 or self.start + self.length > self.window_steps:
            raise ValueError(f"target {self.start}+{self.length} does not fit a {self.window_steps}-step window")


def allowed_target_spans(
    window_steps: int = WINDOW_STEPS,
    target_lengths: tuple[int, ...] = TARGET_LENGTHS_STEPS,
    bar_steps: int = TARGET_START_STRIDE_STEPS,
) -> list[TargetSpan]:
    """Every τ the paper's training distribution can produce (section 3.4.1), for any meter's grid."""
    return [
        TargetSpan(start, length, window_steps)
        for length in target_lengths
        for start in range(0, window_steps - length + 1, bar_steps)
    ]


def sample_target_span(
    generator: torch.Generator,
    window_steps: int = WINDOW_STEPS,
    target_lengths: tuple[int, ...] = TARGET_LENGTHS_STEPS,
    bar_steps: int = TARGET_START_STRIDE_STEPS,
) -> TargetSpan:
    """|x_T| uniformly from the target lengths (4/4: {16, 32, 48, 64}), then |x_CL| uniformly from
    the whole-bar starts that fit (4/4: {0, 16, ..., 128 − |x_T|})."""
    length_index = int(torch.randint(len(target_lengths), (1,), generator=generator))
    length = target_lengths[length_index]
    start_choices = (window_steps - length) // bar_steps + 1
    start = int(torch.randint(start_choices, (1,), generator=generator)) * bar_steps
    return TargetSpan(start, length, window_steps)


def kl_weight_at(step: int, *, final_weight: float, anneal_steps: int) -> float:
    """Linear KL annealing: 0 at step 0, ``final_weight`` from ``anneal_steps`` on."""
    if anneal_steps <= 0:
        return final_weight
    return final_weight * min(1.0, step / anneal_steps)


def anneal_steps_for(anneal_epochs: float, steps_per_epoch: int) -> int:
    return int(math.ceil(anneal_epochs * steps_per_epoch))


def apply_free_bits(loss: torch.Tensor, kl: torch.Tensor, kl_weight: float, threshold_nats: float) -> torch.Tensor:
    """Replace ``kl_weight·kl`` inside ``loss`` by ``kl_weight·max(kl, threshold)``.

    Below the threshold the KL term contributes no gradient, so the encoder may spend that many
    nats on the latent without penalty; the reported ``kl`` is unchanged.
    """
    if threshold_nats <= 0 or kl_weight == 0:
        return loss
    return loss + kl_weight * (torch.clamp(kl, min=threshold_nats) - kl)


@dataclass(frozen=True)
class BatchConditions:
    """What a batch is trained on besides its tokens: τ (CLSM) or the constraint mask (ARNN), and
    the standard-normal draws of the latent models' posterior sample."""

    target: Optional[TargetSpan] = None
    constraint_mask: Optional[torch.Tensor] = None  # (B, 128) bool, True where a token is given
    latent_noise: Optional[torch.Tensor] = None  # (B, z_dim); None: the model draws its own

    def rows(self, start: int, stop: int) -> "BatchConditions":
        """The conditions of rows ``start:stop`` of the batch (a data-parallel rank's slice)."""
        mask = None if self.constraint_mask is None else self.constraint_mask[start:stop]
        noise = None if self.latent_noise is None else self.latent_noise[start:stop]
        return BatchConditions(self.target, mask, noise)

    def to(self, device: torch.device) -> "BatchConditions":
        mask = None if self.constraint_mask is None else self.constraint_mask.to(device)
        noise = None if self.latent_noise is None else self.latent_noise.to(device)
        return BatchConditions(self.target, mask, noise)


@dataclass(frozen=True)
class ObjectiveSettings:
    kind: str  # a kind of the model registry (clsm, vae, arnn, arnn-t, lm)
    final_kl_weight: float = 0.0  # β for CLSM, γ for the VAE, unused otherwise
    anneal_steps: int = 0  # optimizer steps over which the KL weight grows from 0
    free_bits: float = 0.0  # nats per latent dimension; 0 turns free bits off
    latent_dim: int = 0  # dimensions of z, for the free-bits threshold

    def __post_init__(self):
        model_kind(self.kind)  # a UsageError naming the kinds for any other word
        if self.final_kl_weight < 0 or self.free_bits < 0 or self.anneal_steps < 0:
            raise ValueError("KL weight, free bits and anneal steps must not be negative")

    @property
    def free_bits_threshold(self) -> float:
        return self.free_bits * self.latent_dim


class Objective:
    """Per-kind training loss and validation metrics; model code stays free of schedules."""

    def __init__(self, settings: ObjectiveSettings):
        self.settings = settings
        self.model_kind: ModelKind = model_kind(settings.kind)

    @property
    def kind(self) -> str:
        return self.settings.kind

    def kl_weight(self, step: int) -> float:
        if not self.model_kind.has_latent:
            return 0.0
        return kl_weight_at(step, final_weight=self.settings.final_kl_weight, anneal_steps=self.settings.anneal_steps)

    # ------------------------------------------------------------------ conditions
    def sample_conditions(
        self,
        model: torch.nn.Module,
        batch_size: int,
        generator: torch.Generator,
        noise_generator: Optional[torch.Generator] = None,
    ) -> BatchConditions:
        """Draw the global batch's τ or constraint mask (identically on every rank).

        With ``noise_generator``, the latent models' posterior noise for all ``batch_size`` rows is
        drawn too, on that generator's device; without it the model draws noise in its forward.
        """
        kind, config = self.model_kind, model.config
        target = mask = noise = None
        if kind.draws_target_span:
            target = sample_target_span(generator, config.window_steps, config.target_lengths, config.steps_per_bar)
        if kind.has_latent and noise_generator is not None:
            noise = torch.randn(
                (batch_size, config.z_dim), generator=noise_generator, device=noise_generator.device
            )  # (B, z_dim), float32; the model casts it to its own dtype
        if kind.draws_constraint_mask:
            from clsm_cli.models.arnn import random_constraint_mask

            mask = random_constraint_mask(
                batch_size, config.constraint_mode, generator, config.window_steps, config.target_lengths,
                config.steps_per_bar,
            )  # (B, K) bool, drawn on the CPU so every rank and device draws the same mask
        return BatchConditions(target=target, constraint_mask=mask, latent_noise=noise)

    def validation_conditions(self, model: torch.nn.Module, batch_index: int, batch_size: int) -> BatchConditions:
        """Fixed conditions for validation batch ``batch_index`` (the same in every epoch and run)."""
        return self.sample_conditions(model, batch_size, validation_generator(batch_index))

    # ------------------------------------------------------------------ losses
    def training_loss(
        self,
        model: torch.nn.Module,
        tokens: torch.Tensor,
        conditions: BatchConditions,
        kl_weight: float,
        noise_generator: Optional[torch.Generator],
    ) -> dict[str, torch.Tensor]:
        """``forward_loss`` of the model for this batch, with free bits applied to ``loss``.

        The arguments follow the kind's objective: τ for a target-span model, the KL weight and
        posterior noise for a latent model, the constraint mask for the ARNNs, tokens alone for the LM.
        """
        kind = self.model_kind
        arguments: list = []
        options: dict = {}
        if kind.draws_target_span:
            arguments += [conditions.target.start, conditions.target.length]
        if kind.has_latent:
            arguments.append(kl_weight)
            options["noise"] = conditions.latent_noise
        if kind.draws_constraint_mask:
            arguments.append(conditions.constraint_mask)
        if kind.has_latent or kind.draws_constraint_mask:
            options["generator"] = noise_generator
        out = model.forward_loss(tokens, *arguments, **options)
        if kind.has_latent and self.settings.free_bits > 0:
            out = dict(out)
            out["loss"] = apply_free_bits(out["loss"], out["kl"], kl_weight, self.settings.free_bits_threshold)
        return out

    @torch.no_grad()
    def validation_metrics(
        self,
        model: torch.nn.Module,
        tokens: torch.Tensor,
        conditions: BatchConditions,
        noise_generator: Optional[torch.Generator],
    ) -> "MetricSums":
        """Sums for one validation batch (the model must be in eval mode).

        The loss uses the final KL weight, so validation losses of different epochs are comparable
        while training anneals. For CLSM, ``accuracy_posterior_mean`` and ``accuracy_prior_mean``
        are teacher-forced target accuracies with z the posterior mean or f⁻¹(prior mean): if the
        latent carries information the first is clearly higher than the second.
        """
        sums = MetricSums()
        batch_size = tokens.shape[0]
        final_weight = self.settings.final_kl_weight if self.model_kind.has_latent else 0.0
        out = self.training_loss(model, tokens, conditions, final_weight, noise_generator)
        target_tokens = self._scored_tokens(tokens, conditions)
        for name, value in out.items():
            if not (isinstance(value, torch.Tensor) and value.dim() == 0):
                continue
            weight = target_tokens if name == "accuracy" else batch_size
            sums.add(name, float(value) * weight, weight)
        if self.model_kind.draws_target_span and self.model_kind.has_latent:
            target = conditions.target
            truth = tokens[:, target.start : target.start + target.length]  # (B, tl)
            mean, _ = model.posterior(tokens, target.start, target.length)  # (B, z)
            logits = model.decode_logits(tokens, target.start, target.length, mean)  # (B, tl, 32)
            sums.add("accuracy_posterior_mean", float((logits.argmax(-1) == truth).sum()), truth.numel())
            w_mean, _ = model.prior(tokens, target.start, target.length)  # (B, z)
            prior_z = model.flow.inverse(w_mean)  # (B, z)
            logits = model.decode_logits(tokens, target.start, target.length, prior_z)  # (B, tl, 32)
            sums.add("accuracy_prior_mean", float((logits.argmax(-1) == truth).sum()), truth.numel())
        return sums

    def _scored_tokens(self, tokens: torch.Tensor, conditions: BatchConditions) -> int:
        """How many token predictions a batch's accuracy averages over."""
        if conditions.target is not None:
            return tokens.shape[0] * conditions.target.length
        if conditions.constraint_mask is not None:
            return int(conditions.constraint_mask.numel())
        return int(tokens.numel())


def validation_generator(batch_index: int) -> torch.Generator:
    return torch.Generator().manual_seed(VALIDATION_SEED + batch_index)


class MetricSums:
    """Weighted sums of metrics, so batches of different sizes (and ranks) combine exactly."""

    def __init__(self):
        self.totals: dict[str, float] = {}
        self.weights: dict[str, float] = {}

    def add(self, name: str, total: float, weight: float) -> None:
        self.totals[name] = self.totals.get(name, 0.0) + total
        self.weights[name] = self.weights.get(name, 0.0) + weight

    def merge(self, other: "MetricSums") -> None:
        for name in other.totals:
            self.add(name, other.totals[name], other.weights[name])

    def means(self) -> dict[str, float]:
        return {name: self.totals[name] / self.weights[name] for name in sorted(self.totals) if self.weights[name]}
