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
were asked for. Interpolation takes its two prior endpoints from candidates 1 and 2 of an infill.

Sampled decoding is *posterior-anchored* where a result should stay near given bars: for a latent z
and target tokens x, the anchor uniforms are those with which z decodes x exactly (the middle of
the interval the sampler maps to each x_t, :func:`anchored_uniforms`). Interpolation blends the
anchors of its two ends, so its ends are exact and neighbours share their randomness; a variation
blends the anchors of its centre with fresh uniforms in proportion to the amount.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from clsm_cli.engine.draws import CandidateDraws, candidate_draws
from clsm_cli.engine.latent import interpolate_w, prior_sample_w, vary_w
from clsm_cli.engine.protocol import InferenceEngine, TargetSpan
from clsm_cli.sampling import Decoding, StepMask, anchor_uniforms, both_allowed, step_masks, token_log_probs
from clsm_cli.music.tokens import TOKEN_DTYPE


@dataclass(frozen=True)
class Candidate:
    """One generated target: its music tokens ``(length,)`` uint8 and its latent ``w`` ``(z_dim,)``;
    ``log_probs`` ``(length,)``: each token's log-probability under the (masked) distribution it
    was drawn from (None for targets that were not drawn: the original bars, a file's)."""

    tokens: np.ndarray
    w: np.ndarray
    log_probs: Optional[np.ndarray] = None


def infill(engine: InferenceEngine, window: np.ndarray, target: TargetSpan, decoding: Decoding, seed: int,
           candidates: Sequence[int], chunk: int = 0, attempt: int = 0,
           rules: Optional[StepMask] = None) -> list[Candidate]:
    """New targets ``w ~ p(w | x_C, tau)`` for the given candidate numbers, decoded as one batch
    (``attempt`` > 0: a redraw, from a stream of its own; ``rules``: the controls' step masks)."""
    draws = _draws(engine, target, seed, candidates, chunk, attempt)
    prior = engine.prior(window, target)
    w = prior_sample_w(prior.mean, prior.logvar, np.stack([draw.latent_noise for draw in draws]))  # (n, z_dim)
    return decode_w(engine, window, target, w, decoding, _uniforms(draws, decoding), rules)


def prior_endpoints(engine: InferenceEngine, window: np.ndarray, target: TargetSpan, decoding: Decoding,
                    seed: int) -> tuple[Candidate, Candidate]:
    """The default interpolation endpoints: candidates 1 and 2 of :func:`infill` with this seed, so
    an interpolation after ``clsm infill -n 2`` with the same seed ends on those two infills."""
    first, second = infill(engine, window, target, decoding, seed, (1, 2))
    return first, second


def encode_w(engine: InferenceEngine, window: np.ndarray, target: TargetSpan) -> np.ndarray:
    """The existing target bars as a point of W space: ``f(posterior mean)``, float32 ``(z_dim,)``."""
    posterior = engine.posterior(window, target)
    return engine.flow_forward(posterior.mean.reshape(1, -1))[0].astype(np.float32)


def interpolate(engine: InferenceEngine, window: np.ndarray, target: TargetSpan, decoding: Decoding, seed: int,
                steps: int, start: Candidate, end: Candidate, rules: Optional[StepMask] = None) -> list[Candidate]:
    """``steps + 1`` targets from ``start`` to ``end`` (their tokens exactly) along the line between
    their latents in W space.

    Step i decodes ``w(a) = (1 - a) w_start + a w_end`` (a = i / steps) with the uniforms
    ``(1 - a) u_start + a u_end``, where ``u_start`` are the anchor uniforms that make ``start.w``
    decode ``start.tokens`` (:func:`anchored_uniforms`), and likewise for the end: neighbouring steps
    share their randomness and the ends decode the endpoints themselves. Argmax decoding follows the
    latent alone. Either way the first and last results are the endpoints, token for token.
    """
    path = interpolate_w(start.w, end.w, steps)  # (steps + 1, z_dim)
    uniforms = None
    if not decoding.is_argmax:
        first, second = _draws(engine, target, seed, (1, 2))
        ends = np.stack([start.w, end.w]).astype(np.float32)  # (2, z_dim)
        anchors = anchored_uniforms(engine, window, target, np.stack([start.tokens, end.tokens]), ends, decoding,
                                    np.stack([first.token_uniforms, second.token_uniforms]), rules)  # (2, length)
        alpha = (np.arange(steps + 1, dtype=np.float64) / steps)[:, None]  # (steps + 1, 1)
        uniforms = (1 - alpha) * anchors[0][None, :] + alpha * anchors[1][None, :]  # (steps + 1, length)
    decoded = decode_w(engine, window, target, path, decoding, uniforms, rules)
    decoded[0] = Candidate(np.asarray(start.tokens, dtype=TOKEN_DTYPE).copy(), path[0].copy())
    decoded[-1] = Candidate(np.asarray(end.tokens, dtype=TOKEN_DTYPE).copy(), path[-1].copy())
    return decoded


def vary(engine: InferenceEngine, window: np.ndarray, target: TargetSpan, decoding: Decoding, seed: int,
         candidates: Sequence[int], amount: float, centre: Optional[Candidate] = None,
         rules: Optional[StepMask] = None, attempt: int = 0) -> list[Candidate]:
    """Variations of ``centre`` (default: the window's own target bars and :func:`encode_w` of them).

    Candidate k's latent is ``w + amount * eps_k``, ``eps_k ~ N(0, Sigma_prior)``. With sampled
    decoding it is decoded with the uniforms ``(1 - m) anchor_k + m r_k``, ``m = min(1, amount)``:
    ``anchor_k`` makes ``w_k`` decode the centre's tokens (:func:`anchored_uniforms`) and ``r_k`` are
    candidate k's fresh uniforms, so small amounts stay near the centre and amount 1 samples freely.
    Argmax decoding moves through the latent only. With ``amount`` 0 every candidate is the centre.
    """
    if not amount >= 0:
        raise ValueError(f"amount must be 0 or more, got {amount}")
    if centre is None:
        centre = Candidate(np.asarray(window[target.start : target.end], dtype=TOKEN_DTYPE),
                           encode_w(engine, window, target))
    draws = _draws(engine, target, seed, candidates, attempt=attempt)
    if amount == 0:
        return [Candidate(np.asarray(centre.tokens, dtype=TOKEN_DTYPE).copy(), np.asarray(centre.w, np.float32).copy())
                for _ in draws]
    prior = engine.prior(window, target)
    w = vary_w(centre.w, prior.logvar, amount, np.stack([draw.latent_noise for draw in draws]))  # (n, z_dim)
    uniforms = _uniforms(draws, decoding)
    if uniforms is not None:
        anchors = anchored_uniforms(engine, window, target, np.repeat(np.asarray(centre.tokens)[None], len(w), axis=0),
                                    w, decoding, uniforms, rules)  # (n, length)
        mix = min(1.0, float(amount))
        uniforms = (1 - mix) * anchors + mix * uniforms
    return decode_w(engine, window, target, w, decoding, uniforms, rules)


def anchored_uniforms(engine: InferenceEngine, window: np.ndarray, target: TargetSpan, tokens: np.ndarray,
                      w: np.ndarray, decoding: Decoding, fallback: np.ndarray,
                      rules: Optional[StepMask] = None) -> np.ndarray:
    """Per row, the uniforms with which ``w[row]`` decodes ``tokens[row]`` (posterior-anchored decoding).

    ``tokens`` (n, length) are target tokens, ``w`` (n, z_dim) latents, ``fallback`` (n, length) the
    uniforms kept at steps whose token the decoding cannot draw (outside the nucleus). Each row's
    teacher-forced logits are inverted by ``sampling.anchor_uniforms``, on the distribution the
    controls' masks (``rules``) leave. (n, length) float64
    """
    tokens = np.asarray(tokens, dtype=np.int64).reshape(len(w), target.length)
    windows = np.repeat(np.asarray(window)[None, :], len(w), axis=0)  # (n, K)
    windows[:, target.start : target.end] = tokens
    logits = engine.teacher_forced_logits(windows, target, engine.flow_inverse(np.asarray(w, dtype=np.float32)))
    grid_allowed = engine.config.grid.allowed_matrix(target.length, logits.shape[-1])  # the grid's legal tokens per step
    masks = step_masks(rules, tokens, logits.shape[-1])  # (n, length, C) or None
    return np.stack([anchor_uniforms(logits[row], tokens[row], decoding, np.asarray(fallback)[row],
                                     both_allowed(grid_allowed, None if masks is None else masks[row]))
                     for row in range(len(w))])  # (n, length)


def decode_w(engine: InferenceEngine, window: np.ndarray, target: TargetSpan, w: np.ndarray, decoding: Decoding,
             uniforms: Optional[np.ndarray], rules: Optional[StepMask] = None) -> list[Candidate]:
    """Decode latents (rows of W space, (n, z_dim)) as one batch under the controls' step masks
    ``rules``: what every operation above ends with. Each candidate keeps its tokens' log-probabilities."""
    w = np.asarray(w, dtype=np.float32)
    z_dim = int(engine.config.z_dim)
    if w.ndim != 2 or w.shape[1] != z_dim:
        raise ValueError(f"w must have {z_dim} values per row for this model, got shape {w.shape}")
    generated, logits = engine.decode_with_logits(window, target, engine.flow_inverse(w), decoding, uniforms, rules)
    generated = np.asarray(generated)  # (n, length)
    if generated.shape != (len(w), target.length) or not engine.config.grid.is_music_window(generated):
        raise RuntimeError(f"the engine returned tokens of shape {generated.shape} outside the music vocabulary")
    masks = both_allowed(engine.config.grid.allowed_matrix(target.length, logits.shape[-1]),
                         step_masks(rules, generated, logits.shape[-1]))  # (n, length, C), (length, C) or None
    masks = None if masks is None else np.broadcast_to(masks, logits.shape)
    log_probs = token_log_probs(logits, generated, decoding, masks)  # (n, length)
    return [Candidate(tokens=generated[row].astype(TOKEN_DTYPE), w=w[row].copy(), log_probs=log_probs[row])
            for row in range(len(w))]


def _draws(engine: InferenceEngine, target: TargetSpan, seed: int, candidates: Sequence[int],
           chunk: int = 0, attempt: int = 0) -> list[CandidateDraws]:
    if not len(candidates):
        raise ValueError("at least one candidate is needed")
    z_dim = int(engine.config.z_dim)
    return [candidate_draws(seed, int(k), z_dim, target.length, chunk=chunk, attempt=attempt) for k in candidates]


def _uniforms(draws: Sequence[CandidateDraws], decoding: Decoding) -> Optional[np.ndarray]:
    """(n, length) token uniforms, or None for argmax (which draws none)."""
    return None if decoding.is_argmax else np.stack([draw.token_uniforms for draw in draws])
