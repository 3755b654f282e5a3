"""The test windows of an evaluation and the target positions drawn for them, seeded.

For each of N windows (default 1000) a target position τ is drawn as in training: |x_T| uniformly
from the target lengths (1..4 bars: {16, 32, 48, 64} in 4/4, {12, ..., 48} for 96-step 3/4
windows), then |x_CL| uniformly from the whole-bar starts that fit. Each window also gets a target length for the left-contextual reconstruction (that target
ends the window), so the x-axis of Fig. 3b uses every window. Windows and τ come from
``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from clsm_cli import timebase
from clsm_cli.constants import BARS_PER_WINDOW, WINDOW_STEPS
from clsm_cli.errors import InputFileError, UsageError

DEFAULT_WINDOWS = 1000


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


def target_lengths_for(window_steps: int) -> np.ndarray:
    """The training target lengths of a window of ``window_steps`` (8 bars): 1..4 whole bars."""
    return np.array(timebase.target_lengths(window_steps // BARS_PER_WINDOW))


def draw_targets(rng: np.random.Generator, count: int, window_steps: int = WINDOW_STEPS) -> tuple[np.ndarray, np.ndarray]:
    """τ as in training: |x_T| uniform over the target lengths, then |x_CL| uniform over bar starts."""
    bar_steps = window_steps // BARS_PER_WINDOW  # targets start on a bar line
    lengths = rng.choice(target_lengths_for(window_steps), size=count)
    start_choices = (window_steps - lengths) // bar_steps + 1
    starts = (rng.random(count) * start_choices).astype(np.int64) * bar_steps
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
    reconstruction_lengths = rng.choice(target_lengths_for(windows.shape[1]), size=count).astype(np.int64)
    return EvaluationPlan(seed, indices, windows, starts, lengths, reconstruction_lengths)


def check_window_fits(name: str, model: Any, plan: EvaluationPlan) -> None:
    """UsageError when a model reads windows of another length (another meter) than the plan's."""
    window_steps = getattr(getattr(model, "config", None), "window_steps", plan.window_steps)
    if window_steps != plan.window_steps:
        raise UsageError(
            f"{name} reads {window_steps}-step windows, but the test windows have {plan.window_steps} steps "
            "(another meter); evaluate models on data of their own meter"
        )


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


def group_seed(seed: int, *parts: object) -> int:
    """A 63-bit seed from the run seed and a group key (stable across runs and platforms)."""
    return (seed * 1_000_003 + zlib.crc32(repr(parts).encode("utf-8"))) % (2**63)
