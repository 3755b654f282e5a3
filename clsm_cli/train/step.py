"""One optimizer step and the batches it eats: seeded orders, background loading, Adam.

``train_step`` is also what ``benchmarks/train.py`` times, so the benchmark measures the shipped code.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import torch

from clsm_cli.train.distributed import Runtime
from clsm_cli.train.objectives import VALIDATION_SEED, BatchConditions, Objective

ADAM_BETAS = (0.9, 0.999)


def derive_seed(seed: int, stream: str, index: int = 0) -> int:
    """A 63-bit seed for one named random stream, stable across machines and Python versions."""
    digest = hashlib.sha256(f"{seed}:{stream}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def epoch_order(num_windows: int, seed: int, epoch: int) -> np.ndarray:
    """The order in which epoch ``epoch`` visits the training windows (depends on nothing else)."""
    generator = torch.Generator().manual_seed(derive_seed(seed, "order", epoch))
    return torch.randperm(num_windows, generator=generator).numpy()


def validation_subset(num_windows: int, max_windows: int) -> np.ndarray:
    """A fixed subset (sorted indices) of the validation split, the same for every run."""
    if max_windows <= 0 or num_windows <= max_windows:
        return np.arange(num_windows)
    generator = torch.Generator().manual_seed(VALIDATION_SEED)
    return np.sort(torch.randperm(num_windows, generator=generator)[:max_windows].numpy())


def tokens_to_tensor(windows: np.ndarray, device: torch.device) -> torch.Tensor:
    """(n, K) uint8 windows -> LongTensor on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(windows)).to(device=device, dtype=torch.long, non_blocking=True)


class LossModule(torch.nn.Module):
    """Wraps a model so that ``forward`` is its objective: what DDP needs to sync gradients."""

    def __init__(self, model: torch.nn.Module, objective: Objective):
        super().__init__()
        self.model = model
        self.objective = objective

    def forward(self, tokens, conditions: BatchConditions, kl_weight: float):
        # No generator: every random draw of the batch (τ, masks, posterior noise) is in ``conditions``.
        return self.objective.training_loss(self.model, tokens, conditions, kl_weight, None)


def make_optimizer(model: torch.nn.Module, learning_rate: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=learning_rate, betas=ADAM_BETAS)


def train_step(
    loss_module: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: "torch.amp.GradScaler",
    runtime: Runtime,
    tokens: torch.Tensor,
    conditions: BatchConditions,
    kl_weight: float,
    grad_clip: float = 0.0,
) -> dict[str, torch.Tensor]:
    """Forward, backward and one Adam step; returns the detached scalar terms of the loss.

    ``conditions`` carries the batch's draws (see ``Objective.sample_conditions``)."""
    optimizer.zero_grad(set_to_none=True)
    with runtime.autocast():
        out = loss_module(tokens, conditions, kl_weight)
    scaler.scale(out["loss"]).backward()
    if grad_clip > 0:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(loss_module.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return {
        name: value.detach().float()
        for name, value in out.items()
        if isinstance(value, torch.Tensor) and value.dim() == 0
    }


def parameters_are_finite(model: torch.nn.Module) -> bool:
    """False once any weight is NaN or infinite (a diverged run); one device sync."""
    flags = [torch.isfinite(parameter).all() for parameter in model.parameters()]
    return bool(torch.stack(flags).all()) if flags else True


class BatchLoader:
    """Reads batches of windows in the background (``workers`` threads), in a fixed order."""

    def __init__(self, windows, workers: int):
        self.windows = windows
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers) if workers > 0 else None

    def iterate(self, index_batches: list[np.ndarray]):
        if self._pool is None:
            for indices in index_batches:
                yield self.windows[indices]
            return
        ahead = 2 * self.workers
        pending: list[Future] = []
        position = 0
        while position < len(index_batches) or pending:
            while position < len(index_batches) and len(pending) < ahead:
                pending.append(self._pool.submit(self.windows.__getitem__, index_batches[position]))
                position += 1
            yield pending.pop(0).result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
