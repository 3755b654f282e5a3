"""The paper's experiments (section 4) on a test split: generate with each model, then measure.

The pieces: ``plan.py`` (windows and τ), ``generate.py`` (loading models and what each generates),
``results.py`` (rows), ``quality.py`` (the shipped-model check); this module runs the comparison.

What happens, deterministically for a seed:

1. :func:`plan_evaluation` draws N test windows (default 1000) and, for each, a target position
   τ uniformly from the training target sets: |x_T| from {16, 32, 48, 64}, then |x_CL| from
   {0, 16, ..., 128 − |x_T|}. It also draws, per window, a target length for the left-contextual
   reconstruction (that target ends the window), so the x-axis of Fig. 3b uses every window rather
   than the ~15% whose drawn τ happens to end the window.
2. :func:`evaluate` runs every model on the windows grouped by τ (models take one τ per batch):
   - **CLSM**: two prior samples w₁, w₂ ~ p(w | x_C, τ); one 8-divided series linear in W space,
     z(α) = f⁻¹((1 − α) w₁ + α w₂) (eq. 7), all 9 points decoded by argmax as one batch. The J = 4 and
     J = 2 series are every 2nd and 4th point of it (same endpoints, α = j/J), so R(2), R(4), R(8) are
     paired over the same cases. The 9 points are the NLL samples (as the paper's section 4.2).
   - **VAE**: two z ~ N(0, I), linear interpolation in z (eq. 10), argmax decoding, as above.
   - **ARNN / ARNN_T**: two samples at temperature 1.0 (NLL only: no latent, no R(J)).
   - references: **Data** (the real target), **Copy** (the bars just before the target copied
     into it; the bars after it for a target at the window start) and **Random** (random pitches
     on the real rhythm).
   Every sample is spliced into its window, x̃ = x_CL ⊕ x̃_T ⊕ x_CR (eq. 8), and scored by the LM.
   Reconstruction (CLSM and VAE): the posterior mean decoded by argmax, free-running (each token
   conditioned on the model's own previous tokens, as a user's edit is), compared token by token
   with the real target; once on the left-contextual targets (one number per model, the paper's
   x-axis) and once on the drawn τ of each case.
3. Every figure is split into the paper's two cases, "left context only" and "otherwise".

Randomness: windows and τ come from ``numpy.random.default_rng(seed)``; each τ group draws its
latent noise from a generator seeded by (seed, τ) only, so a model's numbers do not depend on which
other models run with it or in which order. Torch is imported inside the functions that need it.
"""

from __future__ import annotations

import time
from typing import Any, Optional, Sequence

import numpy as np

from clsm_cli.errors import UsageError
from clsm_cli.eval.generate import (  # noqa: F401 - re-exported: the harness's public names
    ARNN,
    ARNN_T,
    CLSM,
    DEFAULT_BATCH_SIZE,
    FINEST_DIVISIONS,
    LATENT_FAMILIES,
    MODEL_FAMILIES,
    VAE,
    EvalModel,
    arnn_samples,
    describe_loaded,
    family_of,
    latent_series,
    lm_token_nll,
    load_eval_model,
    check_grids,
    load_lm,
    reconstruct,
)
from clsm_cli.eval.metrics import (
    CASES,
    INTERPOLATION_DIVISIONS,
    AccuracyTotals,
    case_of,
    copied_targets,
    interpolation_ratios_for_series,
    random_pitch_targets,
    splice_targets,
)
from clsm_cli.eval.plan import (  # noqa: F401 - re-exported
    DEFAULT_WINDOWS,
    EvaluationPlan,
    check_window_fits,
    draw_targets,
    group_seed,
    plan_evaluation,
    read_windows,
)
from clsm_cli.eval.quality import QualityResult, evaluate_quality  # noqa: F401 - re-exported
from clsm_cli.eval.results import (  # noqa: F401 - re-exported
    COPY,
    DATA,
    RANDOM,
    REFERENCE_FAMILIES,
    RESULT_COLUMNS,
    EvaluationResult,
    ResultRow,
    RowTotals,
    make_row,
)
from clsm_cli.progress import Progress, SilentProgress


def score(lm: Any, totals: RowTotals, windows: np.ndarray, target_start: int, target_length: int, batch_size: int) -> None:
    """LM NLL and melody statistics of spliced windows (M, K) into one row's totals."""
    if lm is not None:
        totals.nll.add(lm_token_nll(lm, windows, batch_size), target_start, target_length)
    totals.melody.add(windows, target_start, target_length)


def evaluate(
    members: Sequence[EvalModel],
    lm: Any,
    plan: EvaluationPlan,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Optional[Progress] = None,
    include_references: bool = True,
) -> EvaluationResult:
    """Run every model (and the Data / Copy / Random references) on the plan; rows model × case.

    ``lm`` scores samples (it needs ``token_nll``); None skips the NLL columns.
    """
    import torch

    progress = progress or SilentProgress()
    names = [member.name for member in members]
    if len(set(names)) != len(names):
        raise UsageError(f"model names must be unique, got {', '.join(names)}")
    for member in members:
        if member.family not in MODEL_FAMILIES:
            raise UsageError(f"{member.name} is a {member.family} model; only CLSM, VAE, ARNN and ARNN_T generate")
        check_window_fits(member.name, member.model, plan)
        member.model.eval()
    if lm is not None:
        check_window_fits("the LM", lm, plan)
        lm.eval()

    rows: list[ResultRow] = []
    seconds: dict[str, float] = {}
    groups = plan.groups()
    with torch.inference_mode():
        if include_references:
            started = time.perf_counter()
            rows.extend(_evaluate_references(lm, plan, groups, batch_size, progress))
            seconds["references"] = time.perf_counter() - started
        for member in members:
            started = time.perf_counter()
            rows.extend(_evaluate_model(member, lm, plan, groups, batch_size, progress))
            seconds[member.name] = time.perf_counter() - started
    return EvaluationResult(rows=rows, windows=len(plan), seed=plan.seed, seconds=seconds)


def _evaluate_references(lm, plan: EvaluationPlan, groups, batch_size: int, progress) -> list[ResultRow]:
    totals = {(family, case): RowTotals() for family in REFERENCE_FAMILIES for case in CASES}
    task = progress.task("references (Data, Copy, Random)", len(plan))
    for target_start, target_length, rows in groups:
        case = case_of(target_start, target_length, plan.window_steps)
        windows = plan.windows[rows]
        real = windows[:, target_start : target_start + target_length]
        rng = np.random.default_rng(group_seed(plan.seed, "random", target_start, target_length))
        references = {
            DATA: windows,
            COPY: splice_targets(windows, target_start, copied_targets(windows, target_start, target_length)),
            RANDOM: splice_targets(windows, target_start, random_pitch_targets(real, rng)),
        }
        for family, spliced in references.items():
            row_totals = totals[(family, case)]
            row_totals.windows += len(rows)
            score(lm, row_totals, spliced, target_start, target_length, batch_size)
        task.advance(len(rows))
    return [make_row(family, family, case, totals[(family, case)], None) for family in REFERENCE_FAMILIES for case in CASES]


def _evaluate_model(member: EvalModel, lm, plan: EvaluationPlan, groups, batch_size: int, progress) -> list[ResultRow]:
    latent = member.has_latent
    totals = {case: RowTotals() for case in CASES}
    reconstruction_groups = plan.reconstruction_groups() if latent else []
    task = progress.task(f"{member.name} ({member.family})", len(plan) * (2 if latent else 1))
    for target_start, target_length, rows in groups:
        case_totals = totals[case_of(target_start, target_length, plan.window_steps)]
        windows = plan.windows[rows]
        seed = group_seed(plan.seed, "samples", target_start, target_length)
        if latent:
            samples, reconstructed = latent_series(member, windows, target_start, target_length, seed, batch_size)
            ratios = interpolation_ratios_for_series(samples, INTERPOLATION_DIVISIONS)  # (B, 3)
            for column, divisions in enumerate(INTERPOLATION_DIVISIONS):
                case_totals.ratios[divisions].extend(ratios[:, column].tolist())
            case_totals.melody.add_candidate_sets(samples[:, [0, FINEST_DIVISIONS]])  # the two prior samples
            case_totals.reconstruction.add(reconstructed, windows[:, target_start : target_start + target_length])
        else:
            samples = arnn_samples(member, windows, target_start, target_length, seed, batch_size)  # (B, 2, L)
            case_totals.melody.add_candidate_sets(samples)
        per_window = samples.shape[1]
        spliced = splice_targets(
            np.repeat(windows, per_window, axis=0), target_start, samples.reshape(-1, target_length)
        )
        case_totals.windows += len(rows)
        score(lm, case_totals, spliced, target_start, target_length, batch_size)
        task.advance(len(rows))

    recon_left: Optional[float] = None
    if latent:
        accuracy = AccuracyTotals()
        for target_start, target_length, rows in reconstruction_groups:
            windows = plan.windows[rows]
            predicted = reconstruct(member, windows, target_start, target_length, batch_size)
            accuracy.add(predicted, windows[:, target_start : target_start + target_length])
            task.advance(len(rows))
        recon_left = accuracy.accuracy
    return [make_row(member.name, member.family, case, totals[case], recon_left) for case in CASES]
