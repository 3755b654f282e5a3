"""Infill, interpolate and vary one 128-step window of music tokens with a CLSM (paper section 2.3).

This is the library layer under ``clsm infill / interpolate / vary``: no MIDI, no printing. Every
function takes a loaded CLSM, one canonical window of music tokens (numpy ``uint8``, shape
``(window_steps,)``) and a target ``(start, length)`` in steps, and returns :class:`Candidate`
records: the decoded target tokens and the latent ``w`` (a point of the flow's W space) that made
them. Storing ``w`` is what lets a later call interpolate between two outputs, or vary around one,
exactly.

The latent geometry follows the paper:

- the prior is a Gaussian ``p(w | x_C, tau)`` and ``z = f^-1(w)`` through the realNVP flow, so a
  prior sample is ``w = mu + sigma * eps``;
- interpolation is linear in W space, ``z(a) = f^-1((1-a) w1 + a w2)`` (eq. 7);
- a variation is ``z(d) = f^-1(w + d * eps)`` with ``eps ~ N(0, Sigma)``, Sigma the prior's
  (diagonal) covariance;
- the existing bars are "encoded" as ``w = f(posterior mean)``.

Randomness comes only from a ``torch.Generator`` seeded by the caller's ``seed``: the same seed on
the same device gives the same candidates. The n candidates of one call decode as one batch. The
exception is sampled interpolation (temperature > 0): each point is decoded on its own with the
*same* seed, so neighbouring points share their sampling noise and differ only through ``w`` (a
smooth morph, and each point equals a separate decode of its ``w``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch

from clsm_cli.constants import NUM_MUSIC_TOKENS
from clsm_cli.engine.protocol import TargetSpan
from clsm_cli.engine.sampling import Decoding
from clsm_cli.music.tokens import TOKEN_DTYPE

Target = TargetSpan


@dataclass(frozen=True)
class Candidate:
    """One generated target: its music tokens ``(length,)`` uint8 and its latent ``w`` ``(z_dim,)``."""

    tokens: np.ndarray
    w: np.ndarray


def infill(
    model: torch.nn.Module,
    window: np.ndarray,
    target: Target,
    n: int = 4,
    seed: int = 0,
    *,
    decoding: Decoding,
) -> list[Candidate]:
    """``n`` new targets: ``w`` sampled from the contextual prior, decoded together as one batch."""
    _check_count(n, "n")
    tokens, (start, length) = _window_tensor(model, window, target)
    generator = _generator(model, seed)
    with torch.inference_mode():
        w_mean, w_logvar = model.prior(tokens, start, length)  # (1, z_dim) each
        noise = torch.randn((n, w_mean.shape[-1]), generator=generator, device=w_mean.device)  # (n, z_dim)
        w = w_mean + torch.exp(0.5 * w_logvar) * noise  # (n, z_dim)
        return _decode_batch(model, tokens, start, length, w, decoding, generator)


def prior_endpoints(
    model: torch.nn.Module, window: np.ndarray, target: Target, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Two independent prior samples of ``w`` (the default interpolation endpoints), float32."""
    tokens, (start, length) = _window_tensor(model, window, target)
    generator = _generator(model, seed)
    with torch.inference_mode():
        w_mean, w_logvar = model.prior(tokens, start, length)  # (1, z_dim)
        noise = torch.randn((2, w_mean.shape[-1]), generator=generator, device=w_mean.device)  # (2, z_dim)
        w = (w_mean + torch.exp(0.5 * w_logvar) * noise).float().cpu().numpy()
    return w[0], w[1]


def encode_w(model: torch.nn.Module, window: np.ndarray, target: Target) -> np.ndarray:
    """The existing target bars as a point of W space: ``f(posterior mean)``, float32 ``(z_dim,)``."""
    tokens, (start, length) = _window_tensor(model, window, target)
    with torch.inference_mode():
        z_mean, _ = model.posterior(tokens, start, length)  # (1, z_dim)
        w, _ = model.flow.forward(z_mean)  # (1, z_dim)
    return w[0].float().cpu().numpy()


def interpolate(
    model: torch.nn.Module,
    window: np.ndarray,
    target: Target,
    steps: int,
    start_w: np.ndarray,
    end_w: np.ndarray,
    *,
    decoding: Decoding,
    seed: int = 0,
) -> list[Candidate]:
    """``steps + 1`` targets from ``start_w`` to ``end_w``: ``z(a) = f^-1((1-a) w1 + a w2)``, a = k/steps."""
    _check_count(steps, "steps")
    tokens, (start, length) = _window_tensor(model, window, target)
    w1 = _w_tensor(model, start_w)  # (z_dim,)
    w2 = _w_tensor(model, end_w)
    alphas = torch.linspace(0.0, 1.0, steps + 1, device=w1.device).unsqueeze(1)  # (steps+1, 1)
    w = (1 - alphas) * w1 + alphas * w2  # (steps+1, z_dim)
    # Exact endpoints: linspace arithmetic must not nudge a stored w by one ulp.
    w[0], w[-1] = w1, w2
    with torch.inference_mode():
        if decoding.temperature == 0:
            return _decode_batch(model, tokens, start, length, w, decoding, _generator(model, seed))
        # Common random numbers: every point sees the same sampling noise (see the module docstring).
        candidates: list[Candidate] = []
        for point in range(steps + 1):
            candidates += _decode_batch(model, tokens, start, length, w[point : point + 1], decoding, _generator(model, seed))
        return candidates


def vary(
    model: torch.nn.Module,
    window: np.ndarray,
    target: Target,
    amount: float,
    n: int = 4,
    seed: int = 0,
    around_w: Optional[np.ndarray] = None,
    *,
    decoding: Decoding,
) -> list[Candidate]:
    """``n`` variations ``w + amount * eps``, ``eps ~ N(0, Sigma_prior)``, around ``around_w``.

    Without ``around_w`` the centre is the encoded existing target (:func:`encode_w`). With
    ``amount`` 0 every candidate decodes the centre itself.
    """
    _check_count(n, "n")
    if amount < 0:
        raise ValueError(f"amount must be 0 or more, got {amount}")
    centre = encode_w(model, window, target) if around_w is None else around_w
    tokens, (start, length) = _window_tensor(model, window, target)
    centre_w = _w_tensor(model, centre)  # (z_dim,)
    generator = _generator(model, seed)
    with torch.inference_mode():
        _, w_logvar = model.prior(tokens, start, length)  # (1, z_dim): Sigma = diag(exp(logvar))
        noise = torch.randn((n, centre_w.shape[-1]), generator=generator, device=centre_w.device)  # (n, z_dim)
        w = centre_w + amount * torch.exp(0.5 * w_logvar) * noise  # (n, z_dim)
        if amount == 0:
            w = centre_w.expand(n, -1).clone()  # bit-exact centre, not centre + 0 * noise rounding
        return _decode_batch(model, tokens, start, length, w, decoding, generator)


def decode_w(
    model: torch.nn.Module,
    window: np.ndarray,
    target: Target,
    w: Sequence[np.ndarray],
    *,
    decoding: Decoding,
    seed: int = 0,
) -> list[Candidate]:
    """Decode given latents (rows of W space) as one batch: what every operation above ends with."""
    tokens, (start, length) = _window_tensor(model, window, target)
    w_batch = torch.stack([_w_tensor(model, row) for row in w])  # (B, z_dim)
    with torch.inference_mode():
        return _decode_batch(model, tokens, start, length, w_batch, decoding, _generator(model, seed))


def _decode_batch(
    model: torch.nn.Module,
    tokens: torch.Tensor,
    start: int,
    length: int,
    w: torch.Tensor,
    decoding: Decoding,
    generator: torch.Generator,
) -> list[Candidate]:
    batch = w.shape[0]
    z = model.flow.inverse(w)  # (B, z_dim)
    generated = model.decode(
        tokens.expand(batch, -1),  # (B, window_steps)
        start,
        length,
        z,
        temperature=decoding.temperature,
        top_p=decoding.top_p,
        generator=generator,
    )  # (B, length)
    generated = generated.cpu().numpy()
    if generated.shape != (batch, length) or np.any(generated < 0) or np.any(generated >= NUM_MUSIC_TOKENS):
        raise RuntimeError(f"decoder returned tokens of shape {generated.shape} outside the music vocabulary")
    w_rows = w.float().cpu().numpy()
    return [
        Candidate(tokens=generated[row].astype(TOKEN_DTYPE), w=w_rows[row].astype(np.float32).copy())
        for row in range(batch)
    ]


def _window_tensor(model: torch.nn.Module, window: np.ndarray, target: Target) -> tuple[torch.Tensor, tuple[int, int]]:
    window = np.asarray(window)
    window_steps = int(model.config.window_steps)
    if window.shape != (window_steps,):
        raise ValueError(f"window must hold {window_steps} tokens, got shape {window.shape}")
    if np.any(window >= NUM_MUSIC_TOKENS):
        raise ValueError("window must hold music tokens only (pitches, R, __)")
    start, length = int(target.start), int(target.length)
    if length < 1 or start < 0 or start + length > window_steps:
        raise ValueError(f"target {start}..{start + length} must lie inside the {window_steps}-step window")
    device = _model_device(model)
    tokens = torch.as_tensor(window.astype(np.int64), device=device).unsqueeze(0)  # (1, window_steps)
    return tokens, (start, length)


def _w_tensor(model: torch.nn.Module, w: np.ndarray) -> torch.Tensor:
    w = np.asarray(w, dtype=np.float32)
    if w.shape != (int(model.config.z_dim),):
        raise ValueError(f"w must have {model.config.z_dim} values for this model, got shape {w.shape}")
    return torch.as_tensor(w, device=_model_device(model)).clone()


def _generator(model: torch.nn.Module, seed: int) -> torch.Generator:
    generator = torch.Generator(device=_model_device(model))
    generator.manual_seed(int(seed))
    return generator


def _model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _check_count(value: int, name: str) -> None:
    if int(value) < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
