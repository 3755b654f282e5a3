"""Infill, interpolate and vary one window of music tokens through an inference engine (paper 2.3).

No MIDI, no printing, no torch: every function takes an :class:`InferenceEngine`, one canonical
window of music tokens (numpy ``uint8``, ``(window_steps,)``), the target's place in it
(:class:`TargetSpan`) and the command's :class:`Decoding`, and returns :class:`Candidate` records:
the decoded target tokens and the latent ``w`` (a point of the flow's W space) that made them.
Storing ``w`` is what lets a later call interpolate between two outputs, or vary around one, exactly.

The latent maths is ``engine/latent.py``: a prior sample is ``w = mu + sigma * eps``; interpolation
is linear in W, ``z(a) = f^-1((1-a) w1 + a w2)`` (eq. 7); a variation is ``w + d * eps`` with
``eps ~ N(0, Sigma_prior)``; the existing bars are ``w = f(posterior mean)``.

Every random number comes from ``engine/draws.candidate_draws(seed, k, ..., chunk)``: candidate k
(numbered from 1, as in the output names) takes its latent noise and its token uniforms from its own
stream, so it depends only on (file, bars, seed, k, model, decoding), never on how many candidates
were asked for. Interpolation takes its two prior endpoints from candidates 1 and 2, and decodes
every step with candidate 1's token uniforms: neighbouring steps share their sampling noise and
differ only through ``w`` (a smooth morph).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from clsm_cli.constants import NUM_MUSIC_TOKENS
from clsm_cli.engine.draws import CandidateDraws, candidate_draws
from clsm_cli.engine.latent import interpolate_w, prior_sample_w, vary_w
from clsm_cli.engine.protocol import InferenceEngine, TargetSpan
from clsm_cli.engine.sampling import Decoding
from clsm_cli.music.tokens import TOKEN_DTYPE


@dataclass(frozen=True)
class Candidate:
    """One generated target: its music tokens ``(length,)`` uint8 and its latent ``w`` ``(z_dim,)``."""

    tokens: np.ndarray
    w: np.ndarray


def candidate_numbers(count: int) -> range:
    """The numbers of the first ``count`` candidates: 1..count, as the output files are named."""
    if int(count) < 1:
        raise ValueError(f"at least one candidate is needed, got {count}")
    return range(1, int(count) + 1)


def infill(engine: InferenceEngine, window: np.ndarray, target: TargetSpan, decoding: Decoding, seed: int,
           candidates: Sequence[int], chunk: int = 0, attempt: int = 0) -> list[Candidate]:
    """New targets ``w ~ p(w | x_C, tau)`` for the given candidate numbers, decoded as one batch
    (``attempt`` > 0: a redraw, from a stream of its own)."""
    draws = _draws(engine, target, seed, candidates, chunk, attempt)
    prior = engine.prior(window, target)
    w = prior_sample_w(prior.mean, prior.logvar, np.stack([draw.latent_noise for draw in draws]))  # (n, z_dim)
    return decode_w(engine, window, target, w, decoding, _uniforms(draws, decoding))


def prior_endpoints(engine: InferenceEngine, window: np.ndarray, target: TargetSpan,
                    seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two prior samples of ``w`` (the default interpolation endpoints): candidates 1 and 2's noise."""
    draws = _draws(engine, target, seed, (1, 2))
    prior = engine.prior(window, target)
    w = prior_sample_w(prior.mean, prior.logvar, np.stack([draw.latent_noise for draw in draws]))  # (2, z_dim)
    return w[0], w[1]


def encode_w(engine: InferenceEngine, window: np.ndarray, target: TargetSpan) -> np.ndarray:
    """The existing target bars as a point of W space: ``f(posterior mean)``, float32 ``(z_dim,)``."""
    posterior = engine.posterior(window, target)
    return engine.flow_forward(posterior.mean.reshape(1, -1))[0].astype(np.float32)


def interpolate(engine: InferenceEngine, window: np.ndarray, target: TargetSpan, decoding: Decoding, seed: int,
                steps: int, start_w: np.ndarray, end_w: np.ndarray) -> list[Candidate]:
    """``steps + 1`` targets from ``start_w`` to ``end_w`` (both exact), sharing their token uniforms."""
    path = interpolate_w(start_w, end_w, steps)  # (steps + 1, z_dim)
    (shared,) = _draws(engine, target, seed, (1,))
    uniforms = None if decoding.is_argmax else np.repeat(shared.token_uniforms[None, :], len(path), axis=0)
    return decode_w(engine, window, target, path, decoding, uniforms)


def vary(engine: InferenceEngine, window: np.ndarray, target: TargetSpan, decoding: Decoding, seed: int,
         candidates: Sequence[int], amount: float, around_w: Optional[np.ndarray] = None) -> list[Candidate]:
    """Variations ``w + amount * eps``, ``eps ~ N(0, Sigma_prior)``, around ``around_w`` (default: the
    encoded existing target, :func:`encode_w`); with ``amount`` 0 every candidate decodes the centre."""
    if not amount >= 0:
        raise ValueError(f"amount must be 0 or more, got {amount}")
    centre = encode_w(engine, window, target) if around_w is None else np.asarray(around_w, dtype=np.float32)
    draws = _draws(engine, target, seed, candidates)
    prior = engine.prior(window, target)
    w = vary_w(centre, prior.logvar, amount, np.stack([draw.latent_noise for draw in draws]))  # (n, z_dim)
    return decode_w(engine, window, target, w, decoding, _uniforms(draws, decoding))


def decode_w(engine: InferenceEngine, window: np.ndarray, target: TargetSpan, w: np.ndarray, decoding: Decoding,
             uniforms: Optional[np.ndarray]) -> list[Candidate]:
    """Decode latents (rows of W space, (n, z_dim)) as one batch: what every operation above ends with."""
    w = np.asarray(w, dtype=np.float32)
    z_dim = int(engine.config.z_dim)
    if w.ndim != 2 or w.shape[1] != z_dim:
        raise ValueError(f"w must have {z_dim} values per row for this model, got shape {w.shape}")
    generated = np.asarray(engine.decode(window, target, engine.flow_inverse(w), decoding, uniforms))  # (n, length)
    if generated.shape != (len(w), target.length) or np.any(generated >= NUM_MUSIC_TOKENS):
        raise RuntimeError(f"the engine returned tokens of shape {generated.shape} outside the music vocabulary")
    return [Candidate(tokens=generated[row].astype(TOKEN_DTYPE), w=w[row].copy()) for row in range(len(w))]


def _draws(engine: InferenceEngine, target: TargetSpan, seed: int, candidates: Sequence[int],
           chunk: int = 0, attempt: int = 0) -> list[CandidateDraws]:
    if not len(candidates):
        raise ValueError("at least one candidate is needed")
    z_dim = int(engine.config.z_dim)
    return [candidate_draws(seed, int(k), z_dim, target.length, chunk=chunk, attempt=attempt) for k in candidates]


def _uniforms(draws: Sequence[CandidateDraws], decoding: Decoding) -> Optional[np.ndarray]:
    """(n, length) token uniforms, or None for argmax (which draws none)."""
    return None if decoding.is_argmax else np.stack([draw.token_uniforms for draw in draws])
