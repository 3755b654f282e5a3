"""The latent maths of the paper's section 2.3, on numpy arrays in the flow's W space.

The prior is a Gaussian p(w | x_C, tau) and z = f^-1(w); interpolation is linear in W (eq. 7); a
variation adds noise scaled by the prior's standard deviation. The engines supply the Gaussians and
the flow; these functions only combine numbers, so every caller (editing, evaluation, tests) shares
one copy. All results are float32 ``(rows, z_dim)``.
"""

from __future__ import annotations

import numpy as np


def prior_sample_w(w_mean: np.ndarray, w_logvar: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """w = mu + sigma * eps for each row of ``noise`` (n, z_dim) around one prior (z_dim,)."""
    w_mean, w_logvar, noise = _as_float32(w_mean, w_logvar, noise)
    return (w_mean.reshape(1, -1) + np.exp(0.5 * w_logvar.reshape(1, -1)) * noise.reshape(-1, w_mean.size)).astype(np.float32)


def interpolate_w(w_start: np.ndarray, w_end: np.ndarray, steps: int) -> np.ndarray:
    """(steps + 1, z_dim): (1 - a) w_start + a w_end for a = 0, 1/steps, ..., 1; the ends exact."""
    if int(steps) < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    w_start, w_end = _as_float32(w_start, w_end)
    alpha = (np.arange(steps + 1, dtype=np.float32) / np.float32(steps))[:, None]  # (steps + 1, 1)
    path = ((1 - alpha) * w_start.reshape(1, -1) + alpha * w_end.reshape(1, -1)).astype(np.float32)
    path[0], path[-1] = w_start.reshape(-1), w_end.reshape(-1)  # no rounding at the chosen ends
    return path


def vary_w(centre_w: np.ndarray, w_logvar: np.ndarray, amount: float, noise: np.ndarray) -> np.ndarray:
    """w + amount * eps with eps ~ N(0, diag(exp(w_logvar))), one row per row of ``noise``."""
    centre_w, w_logvar, noise = _as_float32(centre_w, w_logvar, noise)
    noise = noise.reshape(-1, centre_w.size)
    if amount == 0:
        return np.repeat(centre_w.reshape(1, -1), noise.shape[0], axis=0)  # the centre, bit for bit
    return (centre_w.reshape(1, -1) + np.float32(amount) * np.exp(0.5 * w_logvar.reshape(1, -1)) * noise).astype(np.float32)


def _as_float32(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(array, dtype=np.float32) for array in arrays)
