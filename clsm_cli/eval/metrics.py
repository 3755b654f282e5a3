"""The paper's evaluation metrics (Akama 2021, section 4), as pure functions on numpy token arrays.

No torch here: the harness turns model outputs into token arrays and LM scores into per-token
negative log-likelihoods (nats), and everything below only counts.

- **Edit distance** (``clsm_cli/edit_distance.py``, shared with the editing commands): Levenshtein
  distance between token sequences (insert, delete, substitute, each cost 1).
- **Interpolation edit-distance ratio R(J)** (eq. 12): for one J-divided interpolation series
  x̃_T(0), x̃_T(1/J), ..., x̃_T(1) with endpoint distance D = d(x̃_T(0), x̃_T(1)),

      R = sum_j d(x̃_T(j/J), x̃_T((j+1)/J)) / (D · (J − n)),

  where n counts the adjacent distances that are zero (steps where the decoded target did not
  change are not counted as steps), and a case with D · (J − n) = 0 is excluded (None). A perfectly
  even morph gives R = 1/(J − n) — lower is smoother. R(J) is the mean over the cases not excluded.
- **NLL per token** of a generated sample under the evaluation LM: the paper scores the whole
  window x̃ = x_CL ⊕ x̃_T ⊕ x_CR (eq. 8); the target-only figure averages the same per-token scores
  over the target positions. Both are token-weighted (total nats / total tokens); for whole windows
  every sample has 128 tokens, so this equals the mean of the per-sample figures.
- **Reconstruction accuracy**: the share of target tokens a model reproduces; the *left-contextual*
  figure (the x-axis of the paper's Fig. 3b) uses targets that end the window (no right context).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from clsm_cli.constants import NUM_PITCHES, WINDOW_STEPS
from clsm_cli.edit_distance import edit_distance, edit_distances  # noqa: F401 - part of the metrics' API

LEFT_ONLY_CASE = "left context only"
OTHER_CASE = "otherwise"
CASES = (LEFT_ONLY_CASE, OTHER_CASE)
INTERPOLATION_DIVISIONS = (2, 4, 8)  # the J of R(J) the paper reports


# --- interpolation smoothness, eq. 12 ---------------------------------------------------------------


def interpolation_ratio_from_distances(adjacent: Sequence[int], endpoint_distance: int) -> float | None:
    """R for one series from its J adjacent distances and its endpoint distance D (None = excluded)."""
    num_divisions = len(adjacent)
    zero_steps = sum(1 for distance in adjacent if distance == 0)
    denominator = endpoint_distance * (num_divisions - zero_steps)
    if denominator == 0:
        return None
    return float(sum(adjacent)) / float(denominator)


def interpolation_ratio(series: Sequence[Sequence[int]]) -> float | None:
    """R for one interpolation series of J + 1 decoded targets (endpoints included); None = excluded."""
    if len(series) < 2:
        raise ValueError(f"an interpolation series needs at least 2 points, got {len(series)}")
    adjacent = [edit_distance(series[j], series[j + 1]) for j in range(len(series) - 1)]
    return interpolation_ratio_from_distances(adjacent, edit_distance(series[0], series[-1]))


def subseries_indices(finest_divisions: int, divisions: int) -> list[int]:
    """Indices into a ``finest_divisions``-divided series that form the ``divisions``-divided one.

    The J = 4 series between two endpoints is every second point of the J = 8 series (α = j/J).
    """
    if divisions <= 0 or finest_divisions % divisions:
        raise ValueError(f"{divisions} divisions do not nest in {finest_divisions}")
    stride = finest_divisions // divisions
    return list(range(0, finest_divisions + 1, stride))


def interpolation_ratios_for_series(
    series: np.ndarray, divisions: Iterable[int] = INTERPOLATION_DIVISIONS
) -> np.ndarray:
    """R(J) for many nested series at once.

    ``series`` is (S, J_max + 1, L): S interpolation series of equal-length targets, J_max the finest
    division. Returns (S, len(divisions)) floats with NaN for excluded cases. All distances are
    computed in one vectorised call.
    """
    series = np.asarray(series)
    num_series, num_points, _ = series.shape
    finest = num_points - 1
    divisions = tuple(divisions)
    pairs: list[tuple[int, int]] = [(0, finest)]
    for count in divisions:
        points = subseries_indices(finest, count)
        pairs.extend(zip(points[:-1], points[1:]))
    left = np.concatenate([series[:, a] for a, _ in pairs])  # (S * num_pairs, L)
    right = np.concatenate([series[:, b] for _, b in pairs])
    distances = edit_distances(left, right).reshape(len(pairs), num_series).T  # (S, num_pairs)
    ratios = np.full((num_series, len(divisions)), np.nan)
    offset = 1
    for column, count in enumerate(divisions):
        adjacent = distances[:, offset : offset + count]
        offset += count
        for row in range(num_series):
            ratio = interpolation_ratio_from_distances(adjacent[row].tolist(), int(distances[row, 0]))
            if ratio is not None:
                ratios[row, column] = ratio
    return ratios


def mean_of_included(values: Iterable[float | None]) -> tuple[float | None, int]:
    """Mean over the cases not excluded (None or NaN), and how many there were."""
    kept = [float(value) for value in values if value is not None and not np.isnan(value)]
    if not kept:
        return None, 0
    return float(np.mean(kept)), len(kept)


# --- cases and windows ------------------------------------------------------------------------------


def is_left_context_only(target_start: int, target_length: int, window_steps: int = WINDOW_STEPS) -> bool:
    """True when the target ends the window: only left context exists (the paper's case 1)."""
    return target_start + target_length == window_steps


def case_of(target_start: int, target_length: int, window_steps: int = WINDOW_STEPS) -> str:
    """The paper's split of every figure: "left context only" or "otherwise"."""
    return LEFT_ONLY_CASE if is_left_context_only(target_start, target_length, window_steps) else OTHER_CASE


def splice_targets(windows: np.ndarray, target_start: int, targets: np.ndarray) -> np.ndarray:
    """x̃ = x_CL ⊕ x̃_T ⊕ x_CR for each row: ``windows`` (B, K) with ``targets`` (B, L) put in place."""
    windows = np.array(windows, copy=True)
    targets = np.asarray(targets)
    windows[:, target_start : target_start + targets.shape[1]] = targets
    return windows


# --- reference targets (no model) -------------------------------------------------------------------


def copied_targets(windows: np.ndarray, target_start: int, target_length: int) -> np.ndarray:
    """The "copy" reference: the bars just before the target, copied into it.

    When fewer than ``target_length`` steps precede the target, the ones there are repeated to fill
    it; a target at the window start copies the bars just after it instead. Returns (B, L).
    """
    windows = np.asarray(windows)
    if target_start > 0:
        source = windows[:, max(0, target_start - target_length) : target_start]
    else:
        source = windows[:, target_length : 2 * target_length]
    if source.shape[1] == 0:
        raise ValueError("a copy needs context next to the target")
    repeats = -(-target_length // source.shape[1])
    return np.tile(source, (1, repeats))[:, :target_length]


def random_pitch_targets(targets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The "random" reference: every note of the real targets gets a uniformly random pitch.

    Rests and holds stay, so the rhythm is the real one. ``targets`` (B, L) of music tokens.
    """
    targets = np.asarray(targets)
    is_note = targets < NUM_PITCHES
    random_pitches = rng.integers(0, NUM_PITCHES, size=targets.shape)
    return np.where(is_note, random_pitches, targets).astype(targets.dtype)


# --- NLL under the evaluation LM --------------------------------------------------------------------


def nll_per_token(token_nll: np.ndarray, target_start: int, target_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample NLL per token (nats) of whole windows and of their target positions.

    ``token_nll`` (B, K) holds -log p(x_k | x_<k) for each token of each window.
    """
    token_nll = np.asarray(token_nll, dtype=np.float64)
    window = token_nll.mean(axis=1)
    target = token_nll[:, target_start : target_start + target_length].mean(axis=1)
    return window, target


@dataclass
class NllTotals:
    """Running sums of LM negative log-likelihood, in nats: whole windows and target positions."""

    window_nats: float = 0.0
    window_tokens: int = 0
    target_nats: float = 0.0
    target_tokens: int = 0
    samples: int = 0

    def add(self, token_nll: np.ndarray, target_start: int, target_length: int) -> None:
        """Add B scored windows (B, K) whose target is ``target_start .. + target_length``."""
        token_nll = np.asarray(token_nll, dtype=np.float64)
        self.window_nats += float(token_nll.sum())
        self.window_tokens += token_nll.size
        self.target_nats += float(token_nll[:, target_start : target_start + target_length].sum())
        self.target_tokens += token_nll.shape[0] * target_length
        self.samples += token_nll.shape[0]

    def merge(self, other: "NllTotals") -> "NllTotals":
        return NllTotals(
            self.window_nats + other.window_nats,
            self.window_tokens + other.window_tokens,
            self.target_nats + other.target_nats,
            self.target_tokens + other.target_tokens,
            self.samples + other.samples,
        )

    @property
    def window_per_token(self) -> float | None:
        return self.window_nats / self.window_tokens if self.window_tokens else None

    @property
    def target_per_token(self) -> float | None:
        return self.target_nats / self.target_tokens if self.target_tokens else None


# --- reconstruction ---------------------------------------------------------------------------------


@dataclass
class AccuracyTotals:
    """Running count of reproduced tokens: accuracy = correct / total."""

    correct: int = 0
    total: int = 0

    def add(self, predicted: np.ndarray, reference: np.ndarray) -> None:
        predicted = np.asarray(predicted)
        reference = np.asarray(reference)
        if predicted.shape != reference.shape:
            raise ValueError(f"predicted {predicted.shape} and reference {reference.shape} differ in shape")
        self.correct += int((predicted == reference).sum())
        self.total += reference.size

    def merge(self, other: "AccuracyTotals") -> "AccuracyTotals":
        return AccuracyTotals(self.correct + other.correct, self.total + other.total)

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.total if self.total else None


def token_accuracy(predicted: np.ndarray, reference: np.ndarray) -> float:
    """Share of positions where ``predicted`` equals ``reference`` (same shapes)."""
    totals = AccuracyTotals()
    totals.add(predicted, reference)
    if totals.accuracy is None:
        raise ValueError("cannot measure accuracy on empty arrays")
    return totals.accuracy


def mean_pairwise_edit_ratio(candidates: np.ndarray) -> float | None:
    """Mean edit distance between every two candidates of one call, divided by their length.

    ``candidates`` is (n, L); None for fewer than two candidates or empty targets.
    """
    candidates = np.asarray(candidates)
    count, length = candidates.shape
    if count < 2 or length == 0:
        return None
    first, second = np.triu_indices(count, k=1)
    return float(edit_distances(candidates[first], candidates[second]).mean() / length)
