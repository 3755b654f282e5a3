"""The paper's experiments (section 4) on a test split: generate with each model, then measure.

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
import zlib
from pathlib import Path
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Optional, Protocol, Sequence

import numpy as np

from clsm_cli.constants import TARGET_LENGTHS_STEPS, TARGET_START_STRIDE_STEPS, WINDOW_STEPS
from clsm_cli.engine.sampling import Decoding
from clsm_cli.errors import InputFileError, ModelError, UsageError
from clsm_cli.eval.melody_stats import (
    MelodyStats,
    MelodyStatsTotals,
    QualityCheck,
    quality_checks,
)
from clsm_cli.eval.metrics import (
    CASES,
    INTERPOLATION_DIVISIONS,
    AccuracyTotals,
    NllTotals,
    case_of,
    copied_targets,
    interpolation_ratios_for_series,
    mean_of_included,
    random_pitch_targets,
    splice_targets,
)

# Row families, as the paper names them.
CLSM, VAE, ARNN, ARNN_T = "CLSM", "VAE", "ARNN", "ARNN_T"
DATA, COPY, RANDOM = "Data", "Copy", "Random"
LATENT_FAMILIES = (CLSM, VAE)
MODEL_FAMILIES = (CLSM, VAE, ARNN, ARNN_T)
REFERENCE_FAMILIES = (DATA, COPY, RANDOM)

FINEST_DIVISIONS = max(INTERPOLATION_DIVISIONS)  # 8: one series per window holds every J
ARNN_SAMPLES = 2  # "a random sampling of two points was performed per each context"
ARNN_TEMPERATURE = 1.0
DEFAULT_WINDOWS = 1000
DEFAULT_BATCH_SIZE = 512  # sequences per forward pass


# --- progress -----------------------------------------------------------------------------------------


class ProgressReporter(Protocol):
    """Where the harness reports progress: ``task`` returns a function that advances that task."""

    def task(self, description: str, total: int) -> Callable[[int], None]: ...


class SilentProgress:
    def task(self, description: str, total: int) -> Callable[[int], None]:
        return lambda count: None


# --- the plan: windows and target positions ----------------------------------------------------------


@dataclass(frozen=True)
class EvaluationPlan:
    """The test windows of one run and the target positions drawn for them."""

    seed: int
    dataset_indices: np.ndarray  # (N,) indices into the split
    windows: np.ndarray  # (N, K) uint8 music tokens
    target_starts: np.ndarray  # (N,) |x_CL| of the drawn τ
    target_lengths: np.ndarray  # (N,) |x_T| of the drawn τ
    reconstruction_lengths: np.ndarray  # (N,) |x_T| of the left-contextual target (ends the window)

    def __len__(self) -> int:
        return len(self.dataset_indices)

    @property
    def window_steps(self) -> int:
        return int(self.windows.shape[1])

    def groups(self) -> list[tuple[int, int, np.ndarray]]:
        """(target_start, target_length, rows) for every drawn τ, in a fixed order."""
        return _group_rows(self.target_starts, self.target_lengths)

    def reconstruction_groups(self) -> list[tuple[int, int, np.ndarray]]:
        starts = self.window_steps - self.reconstruction_lengths
        return _group_rows(starts, self.reconstruction_lengths)


def _group_rows(starts: np.ndarray, lengths: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
    keys = sorted(set(zip(starts.tolist(), lengths.tolist())))
    return [(start, length, np.flatnonzero((starts == start) & (lengths == length))) for start, length in keys]


def draw_targets(rng: np.random.Generator, count: int, window_steps: int = WINDOW_STEPS) -> tuple[np.ndarray, np.ndarray]:
    """τ as in training: |x_T| uniform over the target lengths, then |x_CL| uniform over bar starts."""
    lengths = rng.choice(np.array(TARGET_LENGTHS_STEPS), size=count)
    start_choices = (window_steps - lengths) // TARGET_START_STRIDE_STEPS + 1
    starts = (rng.random(count) * start_choices).astype(np.int64) * TARGET_START_STRIDE_STEPS
    return starts.astype(np.int64), lengths.astype(np.int64)


def plan_evaluation(window_set: Any, num_windows: int = DEFAULT_WINDOWS, seed: int = 0) -> EvaluationPlan:
    """Draw ``num_windows`` windows (all of them if the split is smaller) and their τ."""
    if num_windows < 1:
        raise UsageError(f"--windows must be at least 1, got {num_windows}")
    available = len(window_set)
    if available == 0:
        raise InputFileError("the test split holds no windows; build the data with more songs")
    rng = np.random.default_rng(seed)
    count = min(num_windows, available)
    indices = np.sort(rng.choice(available, size=count, replace=False))
    windows = read_windows(window_set, indices)
    starts, lengths = draw_targets(rng, count, windows.shape[1])
    reconstruction_lengths = rng.choice(np.array(TARGET_LENGTHS_STEPS), size=count).astype(np.int64)
    return EvaluationPlan(seed, indices, windows, starts, lengths, reconstruction_lengths)


def read_windows(window_set: Any, indices: np.ndarray) -> np.ndarray:
    """Rows ``indices`` of a window set (a WindowSet, an array, a list) as one (n, K) uint8 array."""
    try:
        batch = np.asarray(window_set[np.asarray(indices)], dtype=np.uint8)
        if batch.ndim == 2 and len(batch) == len(indices):
            return batch
    except (TypeError, IndexError):
        pass
    rows = [np.asarray(window_set[int(index)], dtype=np.uint8).reshape(-1) for index in indices]
    return np.stack(rows) if rows else np.zeros((0, WINDOW_STEPS), dtype=np.uint8)


def _group_seed(seed: int, *parts: object) -> int:
    """A 63-bit seed from the run seed and a group key (stable across runs and platforms)."""
    return (seed * 1_000_003 + zlib.crc32(repr(parts).encode("utf-8"))) % (2**63)


# --- models ---------------------------------------------------------------------------------------------


@dataclass
class EvalModel:
    """A loaded model to evaluate, with the name its rows carry."""

    name: str
    family: str  # CLSM, VAE, ARNN or ARNN_T
    model: Any  # a torch.nn.Module in eval mode
    metadata: dict = field(default_factory=dict)


def family_of(kind: str, config: Any = None) -> str:
    """The paper's name for a model kind ("arnn" trained on target-set constraints is ARNN_T)."""
    if kind == "arnn" and getattr(config, "constraint_mode", "random") == "targets":
        return ARNN_T
    families = {"clsm": CLSM, "vae": VAE, "arnn": ARNN, "arnn-t": ARNN_T}
    if kind not in families:
        raise UsageError(f"a {kind!r} model cannot be evaluated as a generator; give CLSM, VAE, ARNN or ARNN_T models")
    return families[kind]


def _device_of(model: Any):
    import torch

    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")


def _chunks(count: int, size: int):
    for start in range(0, count, size):
        yield slice(start, min(start + size, count))


def _decode(model: Any, tokens, target_start: int, target_length: int, z, batch_size: int, decoding=None, uniforms=None) -> np.ndarray:
    """model.decode over row chunks of (M, K) tokens and (M, z_dim) latents -> (M, L) uint8.

    Argmax unless a CLSM ``decoding`` is given with its (M, L) sampling ``uniforms``."""
    def options(rows):
        return {} if decoding is None else {"decoding": decoding, "uniforms": uniforms[rows]}

    parts = [
        model.decode(tokens[rows], target_start, target_length, z[rows], **options(rows)).cpu().numpy()
        for rows in _chunks(tokens.shape[0], batch_size)
    ]
    return np.concatenate(parts).astype(np.uint8)


def _latent_series(
    member: EvalModel, windows: np.ndarray, target_start: int, target_length: int, seed: int, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """One argmax-decoded interpolation series per window between two prior samples, (B, J + 1, L),
    and each window's reconstruction from its posterior mean, (B, L), decoded in the same batch."""
    import torch

    model = member.model
    device = _device_of(model)
    tokens = torch.as_tensor(windows, dtype=torch.long, device=device)  # (B, K)
    num_windows = tokens.shape[0]
    noise_generator = torch.Generator().manual_seed(seed)
    if member.family == CLSM:
        w_mean, w_logvar = model.prior(tokens, target_start, target_length)  # (B, z) each
        z_dim = w_mean.shape[-1]
        noise = torch.randn(num_windows, 2, z_dim, generator=noise_generator).to(device)
        ends = w_mean[:, None] + torch.exp(0.5 * w_logvar)[:, None] * noise  # (B, 2, z): w1, w2 in W space
    else:
        z_dim = int(model.config.z_dim)
        ends = torch.randn(num_windows, 2, z_dim, generator=noise_generator).to(device)  # z1, z2 ~ N(0, I)
    points = FINEST_DIVISIONS + 1
    alphas = torch.linspace(0.0, 1.0, points, device=device)[None, :, None]  # (1, J+1, 1)
    path = ((1 - alphas) * ends[:, :1] + alphas * ends[:, 1:]).reshape(num_windows * points, z_dim)  # (B*(J+1), z)
    z_path = model.flow.inverse(path) if member.family == CLSM else path  # eq. 7: linear in W, not in Z
    z = torch.cat([z_path, _posterior_means(member, tokens, target_start, target_length)])  # (B*(J+1) + B, z)
    all_tokens = torch.cat([tokens.repeat_interleave(points, dim=0), tokens])
    decoded = _decode(model, all_tokens, target_start, target_length, z, batch_size)  # argmax, both kinds' default
    series = decoded[: num_windows * points].reshape(num_windows, points, target_length)
    return series, decoded[num_windows * points :]


def _arnn_samples(
    member: EvalModel, windows: np.ndarray, target_start: int, target_length: int, seed: int, batch_size: int
) -> np.ndarray:
    """(B, 2, L): two multinomial samples at temperature 1.0 per window."""
    import torch

    model = member.model
    device = _device_of(model)
    generator = torch.Generator(device=device).manual_seed(seed)
    tokens = torch.as_tensor(windows, dtype=torch.long, device=device).repeat_interleave(ARNN_SAMPLES, dim=0)
    parts = [
        model.sample(tokens[rows], target_start, target_length, temperature=ARNN_TEMPERATURE, generator=generator)
        .cpu()
        .numpy()
        for rows in _chunks(tokens.shape[0], batch_size)
    ]
    return np.concatenate(parts).astype(np.uint8).reshape(len(windows), ARNN_SAMPLES, target_length)


def _posterior_means(member: EvalModel, tokens, target_start: int, target_length: int):
    if member.family == CLSM:
        mean, _ = member.model.posterior(tokens, target_start, target_length)
    else:
        mean, _ = member.model.posterior(tokens)
    return mean


def reconstruct(
    member: EvalModel, windows: np.ndarray, target_start: int, target_length: int, batch_size: int = DEFAULT_BATCH_SIZE
) -> np.ndarray:
    """(B, L): each window's target decoded by argmax from its posterior mean (CLSM or VAE)."""
    import torch

    device = _device_of(member.model)
    outputs = []
    with torch.inference_mode():
        for rows in _chunks(len(windows), batch_size):
            tokens = torch.as_tensor(windows[rows], dtype=torch.long, device=device)
            mean = _posterior_means(member, tokens, target_start, target_length)
            outputs.append(_decode(member.model, tokens, target_start, target_length, mean, batch_size))
    return np.concatenate(outputs) if outputs else np.zeros((0, target_length), dtype=np.uint8)


def lm_token_nll(lm: Any, windows: np.ndarray, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """(M, K) float64: -log p(x_k | x_<k) in nats for every token of every window under the LM."""
    import torch

    device = _device_of(lm)
    parts = []
    with torch.inference_mode():
        for rows in _chunks(len(windows), batch_size):
            tokens = torch.as_tensor(windows[rows], dtype=torch.long, device=device)
            parts.append(lm.token_nll(tokens).double().cpu().numpy())
    return np.concatenate(parts) if parts else np.zeros((0, windows.shape[1]))


# --- results ------------------------------------------------------------------------------------------


@dataclass
class _RowTotals:
    """What one row (model × case) accumulates over the τ groups."""

    windows: int = 0
    ratios: dict[int, list[float]] = field(default_factory=lambda: {j: [] for j in INTERPOLATION_DIVISIONS})
    nll: NllTotals = field(default_factory=NllTotals)
    melody: MelodyStatsTotals = field(default_factory=MelodyStatsTotals)
    reconstruction: AccuracyTotals = field(default_factory=AccuracyTotals)


@dataclass(frozen=True)
class ResultRow:
    """One row of the results table: a model (or reference) in one of the two cases."""

    model: str
    family: str
    case: str
    windows: int  # test windows in this case
    samples: int  # generated windows scored by the LM
    r2: Optional[float]
    r4: Optional[float]
    r8: Optional[float]
    r2_cases: int  # interpolation series kept by eq. 12's exclusions
    r4_cases: int
    r8_cases: int
    nll_window: Optional[float]  # nats per token of x_CL ⊕ x̃_T ⊕ x_CR under the LM
    nll_target: Optional[float]  # nats per token of the target positions only
    recon_left_contextual: Optional[float]  # one per model: targets that end the window
    recon_case: Optional[float]  # posterior-mean reconstruction on this case's drawn τ
    pairwise_edit_ratio: Optional[float]  # two independent samples of one window differ by this share
    repeated_note_share: Optional[float]
    distinct_pitches: Optional[float]
    pitch_range_semitones: Optional[float]
    onsets_per_bar: Optional[float]
    step_share: Optional[float]
    jump_in_semitones: Optional[float]
    jump_out_semitones: Optional[float]
    well_formed_share: Optional[float]

    def ratio(self, divisions: int) -> Optional[float]:
        return {2: self.r2, 4: self.r4, 8: self.r8}[divisions]


RESULT_COLUMNS = tuple(f.name for f in fields(ResultRow))


@dataclass(frozen=True)
class EvaluationResult:
    rows: list[ResultRow]
    windows: int
    seed: int
    seconds: dict[str, float]  # wall time per model name (and "references")

    def row(self, model: str, case: str) -> ResultRow:
        for row in self.rows:
            if row.model == model and row.case == case:
                return row
        raise KeyError((model, case))


def _make_row(name: str, family: str, case: str, totals: _RowTotals, recon_left: Optional[float]) -> ResultRow:
    ratios = {j: mean_of_included(values) for j, values in totals.ratios.items()}
    melody: MelodyStats = totals.melody.stats()
    return ResultRow(
        model=name,
        family=family,
        case=case,
        windows=totals.windows,
        samples=totals.nll.samples,
        r2=ratios[2][0],
        r4=ratios[4][0],
        r8=ratios[8][0],
        r2_cases=ratios[2][1],
        r4_cases=ratios[4][1],
        r8_cases=ratios[8][1],
        nll_window=totals.nll.window_per_token,
        nll_target=totals.nll.target_per_token,
        recon_left_contextual=recon_left,
        recon_case=totals.reconstruction.accuracy,
        pairwise_edit_ratio=melody.pairwise_edit_ratio,
        repeated_note_share=melody.repeated_note_share,
        distinct_pitches=melody.distinct_pitches,
        pitch_range_semitones=melody.pitch_range_semitones,
        onsets_per_bar=melody.onsets_per_bar,
        step_share=melody.step_share,
        jump_in_semitones=melody.jump_in_semitones,
        jump_out_semitones=melody.jump_out_semitones,
        well_formed_share=melody.well_formed_share,
    )


def _score(lm: Any, totals: _RowTotals, windows: np.ndarray, target_start: int, target_length: int, batch_size: int) -> None:
    """LM NLL and melody statistics of spliced windows (M, K) into one row's totals."""
    if lm is not None:
        totals.nll.add(lm_token_nll(lm, windows, batch_size), target_start, target_length)
    totals.melody.add(windows, target_start, target_length)


# --- the experiment -------------------------------------------------------------------------------------


def evaluate(
    members: Sequence[EvalModel],
    lm: Any,
    plan: EvaluationPlan,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Optional[ProgressReporter] = None,
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
        member.model.eval()
    if lm is not None:
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
    totals = {(family, case): _RowTotals() for family in REFERENCE_FAMILIES for case in CASES}
    advance = progress.task("references (Data, Copy, Random)", len(plan))
    for target_start, target_length, rows in groups:
        case = case_of(target_start, target_length, plan.window_steps)
        windows = plan.windows[rows]
        real = windows[:, target_start : target_start + target_length]
        rng = np.random.default_rng(_group_seed(plan.seed, "random", target_start, target_length))
        references = {
            DATA: windows,
            COPY: splice_targets(windows, target_start, copied_targets(windows, target_start, target_length)),
            RANDOM: splice_targets(windows, target_start, random_pitch_targets(real, rng)),
        }
        for family, spliced in references.items():
            row_totals = totals[(family, case)]
            row_totals.windows += len(rows)
            _score(lm, row_totals, spliced, target_start, target_length, batch_size)
        advance(len(rows))
    return [_make_row(family, family, case, totals[(family, case)], None) for family in REFERENCE_FAMILIES for case in CASES]


def _evaluate_model(member: EvalModel, lm, plan: EvaluationPlan, groups, batch_size: int, progress) -> list[ResultRow]:
    latent = member.family in LATENT_FAMILIES
    totals = {case: _RowTotals() for case in CASES}
    reconstruction_groups = plan.reconstruction_groups() if latent else []
    advance = progress.task(f"{member.name} ({member.family})", len(plan) * (2 if latent else 1))
    for target_start, target_length, rows in groups:
        case_totals = totals[case_of(target_start, target_length, plan.window_steps)]
        windows = plan.windows[rows]
        seed = _group_seed(plan.seed, "samples", target_start, target_length)
        if latent:
            samples, reconstructed = _latent_series(member, windows, target_start, target_length, seed, batch_size)
            ratios = interpolation_ratios_for_series(samples, INTERPOLATION_DIVISIONS)  # (B, 3)
            for column, divisions in enumerate(INTERPOLATION_DIVISIONS):
                case_totals.ratios[divisions].extend(ratios[:, column].tolist())
            case_totals.melody.add_candidate_sets(samples[:, [0, FINEST_DIVISIONS]])  # the two prior samples
            case_totals.reconstruction.add(reconstructed, windows[:, target_start : target_start + target_length])
        else:
            samples = _arnn_samples(member, windows, target_start, target_length, seed, batch_size)  # (B, 2, L)
            case_totals.melody.add_candidate_sets(samples)
        per_window = samples.shape[1]
        spliced = splice_targets(
            np.repeat(windows, per_window, axis=0), target_start, samples.reshape(-1, target_length)
        )
        case_totals.windows += len(rows)
        _score(lm, case_totals, spliced, target_start, target_length, batch_size)
        advance(len(rows))

    recon_left: Optional[float] = None
    if latent:
        accuracy = AccuracyTotals()
        for target_start, target_length, rows in reconstruction_groups:
            windows = plan.windows[rows]
            predicted = reconstruct(member, windows, target_start, target_length, batch_size)
            accuracy.add(predicted, windows[:, target_start : target_start + target_length])
            advance(len(rows))
        recon_left = accuracy.accuracy
    return [_make_row(member.name, member.family, case, totals[case], recon_left) for case in CASES]


# --- the shipped-model quality check ---------------------------------------------------------------------


@dataclass(frozen=True)
class QualityResult:
    """Melody statistics of one CLSM's infills under one decoding, against the real bars."""

    model: str
    temperature: float
    top_p: float
    candidates: int  # infills per window (one "call")
    windows: int
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
    progress: Optional[ProgressReporter] = None,
) -> QualityResult:
    """The non-degeneracy measures of the shipped-model issue for one CLSM and one decoding.

    Each window gets ``candidates`` infills (independent prior samples, decoded with the given
    temperature / top-p; None takes the model config's recommended decoding), as one ``clsm infill``
    call would. Their melody statistics are compared with the real bars of the same windows.
    Reconstruction from the posterior mean and from the prior mean (both argmax) shows whether the
    latent carries information. With an LM, the infills and the references are scored too.
    """
    import torch

    if member.family != CLSM:
        raise UsageError(f"the quality check needs a CLSM model; {member.name} is a {member.family} model")
    if candidates < 1:
        raise UsageError(f"--candidates must be at least 1, got {candidates}")
    model = member.model
    model.eval()
    temperature = float(model.config.decoding_temperature if temperature is None else temperature)
    top_p = float(model.config.decoding_top_p if top_p is None else top_p)
    if temperature < 0 or not 0 < top_p <= 1:
        raise UsageError(f"temperature must be >= 0 and top-p in (0, 1], got {temperature} and {top_p}")
    progress = progress or SilentProgress()
    device = _device_of(model)
    generated, real = MelodyStatsTotals(), MelodyStatsTotals()
    posterior, prior = AccuracyTotals(), AccuracyTotals()
    nll = {name: NllTotals() for name in ("generated", DATA, COPY, RANDOM)} if lm is not None else {}
    advance = progress.task(f"{member.name} quality (T={temperature:g}, top-p={top_p:g})", len(plan))
    started = time.perf_counter()
    with torch.inference_mode():
        for target_start, target_length, rows in plan.groups():
            windows = plan.windows[rows]
            real_targets = windows[:, target_start : target_start + target_length]
            seed = _group_seed(plan.seed, "quality", target_start, target_length)
            noise_generator = torch.Generator().manual_seed(seed)
            decode_generator = torch.Generator().manual_seed(seed)
            tokens = torch.as_tensor(windows, dtype=torch.long, device=device)  # (B, K)
            w_mean, w_logvar = model.prior(tokens, target_start, target_length)  # (B, z)
            noise = torch.randn(len(rows), candidates, w_mean.shape[-1], generator=noise_generator).to(device)
            w = (w_mean[:, None] + torch.exp(0.5 * w_logvar)[:, None] * noise).reshape(-1, w_mean.shape[-1])
            repeated = tokens.repeat_interleave(candidates, dim=0)  # (B * n, K)
            infills = _decode(
                model, repeated, target_start, target_length, model.flow.inverse(w), batch_size,
                Decoding(temperature, top_p),
                torch.rand(w.shape[0], target_length, generator=decode_generator, dtype=torch.float64).numpy(),
            )  # (B * n, L)
            spliced = splice_targets(np.repeat(windows, candidates, axis=0), target_start, infills)
            generated.add(spliced, target_start, target_length)
            generated.add_candidate_sets(infills.reshape(len(rows), candidates, target_length))
            real.add(windows, target_start, target_length)

            # Posterior mean and f⁻¹(prior mean), both argmax, decoded as one batch.
            means = torch.cat([_posterior_means(member, tokens, target_start, target_length), model.flow.inverse(w_mean)])
            decoded = _decode(model, torch.cat([tokens, tokens]), target_start, target_length, means, batch_size)
            posterior.add(decoded[: len(rows)], real_targets)
            prior.add(decoded[len(rows) :], real_targets)

            if lm is not None:
                rng = np.random.default_rng(_group_seed(plan.seed, "random", target_start, target_length))
                for name, scored in (
                    ("generated", spliced),
                    (DATA, windows),
                    (COPY, splice_targets(windows, target_start, copied_targets(windows, target_start, target_length))),
                    (RANDOM, splice_targets(windows, target_start, random_pitch_targets(real_targets, rng))),
                ):
                    nll[name].add(lm_token_nll(lm, scored, batch_size), target_start, target_length)
            advance(len(rows))
    generated_stats, real_stats = generated.stats(), real.stats()
    return QualityResult(
        model=member.name,
        temperature=temperature,
        top_p=top_p,
        candidates=candidates,
        windows=len(plan),
        generated=generated_stats,
        real=real_stats,
        posterior_accuracy=posterior.accuracy,
        prior_accuracy=prior.accuracy,
        nll=nll,
        checks=quality_checks(generated_stats, real_stats, posterior.accuracy, prior.accuracy),
        seconds=time.perf_counter() - started,
    )


def load_eval_model(name_or_path: str, device: Any, name: Optional[str] = None) -> EvalModel:
    """Load a checkpoint (by installed name or folder) for evaluation and name its rows."""
    from clsm_cli.checkpoint import load_model, resolve_model

    loaded = load_model(resolve_model(name_or_path), device)
    return EvalModel(
        name=name or str(loaded.metadata.get("name") or Path(loaded.directory).name),
        family=family_of(loaded.kind, loaded.config),
        model=loaded.model,
        metadata=describe_loaded(name_or_path, loaded),
    )


def load_lm(name_or_path: str, device: Any) -> tuple[Any, dict]:
    """Load the evaluation LM (and its description); refuse any other kind of model."""
    from clsm_cli.checkpoint import load_model, resolve_model

    loaded = load_model(resolve_model(name_or_path), device)
    if loaded.kind != "lm":
        raise ModelError(
            f"--lm needs a language model (trained with `clsm train lm`), but {name_or_path} is a {loaded.kind} model"
        )
    return loaded.model, describe_loaded(name_or_path, loaded)


def describe_loaded(name_or_path: str, loaded: Any) -> dict:
    """What the reproducibility record keeps about a loaded checkpoint."""
    from clsm_cli.models.config import config_to_dict

    record = loaded.metadata if isinstance(loaded.metadata, dict) else {}
    return {
        "given_as": str(name_or_path),
        "directory": str(Path(loaded.directory).resolve()),
        "kind": loaded.kind,
        "config": config_to_dict(loaded.config),
        "weights_sha256": record.get("weights_sha256"),
        "parameter_count": record.get("parameter_count"),
        "created": record.get("created"),
        "clsm_version": record.get("clsm_version"),
        "training": record.get("training", {}),
    }
