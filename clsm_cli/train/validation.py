"""Validation: the objective's metrics on a fixed subset of the validation split.

Batches use fixed τ's and noise per batch index (``objectives.VALIDATION_SEED``), inside
``torch.random.fork_rng``, so validating never disturbs the training streams and its numbers
compare across epochs and runs. Ranks share the batches and sum their results.
"""

from __future__ import annotations

import numpy as np
import torch

from clsm_cli.train.distributed import Runtime, all_gather_objects, all_reduce_sum
from clsm_cli.train.objectives import VALIDATION_SEED, MetricSums, Objective
from clsm_cli.train.step import tokens_to_tensor


def validate(
    model: torch.nn.Module, objective: Objective, windows, indices: np.ndarray, batch_size: int, runtime: Runtime
) -> dict[str, float]:
    """Mean metrics over ``windows[indices]`` in batches of ``batch_size`` (all ranks together)."""
    sums = MetricSums()
    devices = [runtime.device] if runtime.device.type == "cuda" else []
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            for batch_index, start in enumerate(range(0, len(indices), batch_size)):
                if batch_index % runtime.world_size != runtime.rank:
                    continue
                tokens = tokens_to_tensor(windows[indices[start : start + batch_size]], runtime.device)
                conditions = objective.validation_conditions(model, batch_index, tokens.shape[0])
                noise = torch.Generator(device=runtime.device).manual_seed(VALIDATION_SEED + batch_index)
                with runtime.autocast():
                    sums.merge(objective.validation_metrics(model, tokens, conditions.to(runtime.device), noise))
    finally:
        model.train(was_training)
    names = sorted(set().union(*all_gather_objects(sorted(sums.totals), runtime)))
    totals = all_reduce_sum([sums.totals.get(name, 0.0) for name in names], runtime)
    weights = all_reduce_sum([sums.weights.get(name, 0.0) for name in names], runtime)
    return {name: total / weight for name, total, weight in zip(names, totals, weights) if weight}
