"""The shipped-model quality check: one CLSM's infills under one decoding against the real bars.

Each window gets ``candidates`` infills drawn as one ``clsm infill`` call draws them: the best of a
pool of prior samples under the editing defaults (register, no silent or copied candidate), by
``editing/window_draw.draw_window``, the editing commands' own drawing function.
Their melody statistics are compared with the real bars of the same windows; reconstruction from
the posterior mean and from the prior mean (both argmax) shows whether the latent carries
information; with an LM, the infills and the references are scored too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from clsm_cli.constants import BARS_PER_WINDOW
from clsm_cli.editing.controls import ControlRequest
from clsm_cli.editing.window_draw import draw_window
from clsm_cli.engine.protocol import TargetSpan
from clsm_cli.sampling import Decoding, resolve_decoding
from clsm_cli.errors import UsageError
from clsm_cli.eval.generate import (
    CLSM,
    DEFAULT_BATCH_SIZE,
    EvalModel,
    decode,
    device_of,
    lm_token_nll,
    posterior_means,
)
from clsm_cli.eval.melody_stats import MelodyStats, MelodyStatsTotals, QualityCheck, quality_checks, triplet_check
from clsm_cli.eval.metrics import AccuracyTotals, NllTotals, copied_targets, random_pitch_targets, splice_targets
from clsm_cli.eval.plan import EvaluationPlan, check_window_fits, group_seed
from clsm_cli.eval.results import COPY, DATA, RANDOM
from clsm_cli.progress import Progress, SilentProgress


@dataclass(frozen=True)
class QualityResult:
    """Melody statistics of one CLSM's infills under one decoding, against the real bars."""

    model: str
    temperature: float
    top_p: float
    candidates: int  # infills per window (one "call")
    windows: int
    pool: int  # draws per window before the best `candidates` are kept
    generated: MelodyStats
    real: MelodyStats
    posterior_accuracy: Optional[float]  # argmax decode of the posterior mean, drawn τ
    prior_accuracy: Optional[float]  # argmax decode of f⁻¹(prior mean), drawn τ
    nll: dict[str, NllTotals]  # "generated", Data, Copy, Random (empty without an LM)
    checks: list[QualityCheck]
    seconds: float


def evaluate_quality(
    member: EvalModel,
    plan: EvaluationPlan,
    *,
    lm: Any = None,
    candidates: int = 4,
    temperature: Optional[float] = None,
    top_p: Optional[float] = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Optional[Progress] = None,
    pool: Optional[int] = None,
    controls: ControlRequest = ControlRequest(),
) -> QualityResult:
    """The non-degeneracy measures of the shipped-model issue for one CLSM and one decoding.

    Each window gets ``candidates`` infills, the best of a pool of ``pool`` (the editing default
    when None) drawn by ``draw_window`` under ``controls`` and the editing defaults, decoded with
    the given temperature / top-p (None takes the model config's recommended decoding), as one
    ``clsm infill`` call would. Their melody statistics are compared with the real bars of the same windows.
    Reconstruction from the posterior mean and from the prior mean (both argmax) shows whether the
    latent carries information. With an LM, the infills and the references are scored too.
    """
    import torch

    from clsm_cli.engine.torch_engine import TorchEngine

    if member.family != CLSM:
        raise UsageError(f"the quality check needs a CLSM model; {member.name} is a {member.family} model")
    if candidates < 1:
        raise UsageError(f"--candidates must be at least 1, got {candidates}")
    model = member.model
    check_window_fits(member.name, model, plan)
    model.eval()
    decoding = resolve_decoding(
        Decoding(float(model.config.decoding_temperature), float(model.config.decoding_top_p)), temperature, top_p
    )
    temperature, top_p = decoding.temperature, decoding.top_p
    progress = progress or SilentProgress()
    device = device_of(model)
    engine = TorchEngine(model, str(device))
    generated, real = MelodyStatsTotals(), MelodyStatsTotals()
    drawn_pool = 0
    steps_per_bar = plan.window_steps // BARS_PER_WINDOW
    posterior, prior = AccuracyTotals(), AccuracyTotals()
    nll = {name: NllTotals() for name in ("generated", DATA, COPY, RANDOM)} if lm is not None else {}
    task = progress.task(f"{member.name} quality (T={temperature:g}, top-p={top_p:g})", len(plan))
    started = time.perf_counter()
    with torch.inference_mode():
        for target_start, target_length, rows in plan.groups():
            windows = plan.windows[rows]
            real_targets = windows[:, target_start : target_start + target_length]
            seed = group_seed(plan.seed, "quality", target_start, target_length)
            tokens = torch.as_tensor(windows, dtype=torch.long, device=device)  # (B, K)
            w_mean, _ = model.prior(tokens, target_start, target_length)  # (B, z)
            span = TargetSpan(target_start, target_length)
            infills, sources = [], []
            for offset, window in enumerate(windows):  # window j's pool draws from seed + j
                drawn = draw_window(engine, window, span, decoding, seed + offset, candidates, pool, controls,
                                    steps_per_bar=steps_per_bar)
                drawn_pool = max(drawn_pool, len(drawn.indices) + len(drawn.dropped))
                chosen = np.stack([candidate.tokens for candidate in drawn.candidates]) if drawn.candidates else \
                    np.empty((0, target_length), dtype=np.uint8)  # (m, L), m <= candidates
                generated.add_candidate_sets(chosen[None])
                infills.append(chosen)
                sources += [offset] * len(chosen)
            infills = np.concatenate(infills)  # (sum m, L)
            spliced = splice_targets(windows[sources], target_start, infills)
            generated.add(spliced, target_start, target_length, steps_per_bar)
            real.add(windows, target_start, target_length, steps_per_bar)

            # Posterior mean and f⁻¹(prior mean), both argmax, decoded as one batch.
            means = torch.cat([posterior_means(member, tokens, target_start, target_length), model.flow.inverse(w_mean)])
            decoded = decode(model, torch.cat([tokens, tokens]), target_start, target_length, means, batch_size)
            posterior.add(decoded[: len(rows)], real_targets)
            prior.add(decoded[len(rows) :], real_targets)

            if lm is not None:
                rng = np.random.default_rng(group_seed(plan.seed, "random", target_start, target_length))
                for name, scored in (
                    ("generated", spliced),
                    (DATA, windows),
                    (COPY, splice_targets(windows, target_start, copied_targets(windows, target_start, target_length))),
                    (RANDOM, splice_targets(windows, target_start, random_pitch_targets(real_targets, rng))),
                ):
                    nll[name].add(lm_token_nll(lm, scored, batch_size), target_start, target_length)
            task.advance(len(rows))
    generated_stats, real_stats = generated.stats(), real.stats()
    return QualityResult(
        model=member.name,
        temperature=temperature,
        top_p=top_p,
        candidates=candidates,
        windows=len(plan),
        pool=drawn_pool,
        generated=generated_stats,
        real=real_stats,
        posterior_accuracy=posterior.accuracy,
        prior_accuracy=prior.accuracy,
        nll=nll,
        checks=quality_checks(generated_stats, real_stats, posterior.accuracy, prior.accuracy) + (
            [triplet_check(generated_stats, real_stats)] if model.config.grid.has_triplets else []),
        seconds=time.perf_counter() - started,
    )
