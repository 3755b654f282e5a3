"""How target tokens are drawn from decoder logits: one numpy function both engines call.

A token is drawn by inverse CDF from one uniform number per step: the probabilities (softmax of
logits / temperature, cut to the nucleus of mass ``top_p``) are accumulated in token-id order, and
the token is the first whose cumulative mass exceeds ``u * total``. Because the order is the fixed
token-id order (not "most likely first"), two engines whose logits differ by float rounding draw the
same token unless ``u`` falls within that rounding of a boundary (a rare, countable tie). Temperature
0 is argmax, the paper's decoding, and needs no uniforms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from clsm_cli.errors import UsageError

MAX_TEMPERATURE = 10.0  # beyond this every token is as likely as any other: the option is a typo


@dataclass(frozen=True)
class Decoding:
    """How target tokens are drawn: temperature 0 is argmax; top-p is the nucleus mass kept."""

    temperature: float
    top_p: float

    def __post_init__(self) -> None:
        temperature, top_p = self.temperature, self.top_p
        if not isinstance(temperature, (int, float)) or not math.isfinite(temperature) or not 0 <= temperature <= MAX_TEMPERATURE:
            raise UsageError(f"temperature must be 0 (argmax) or a number up to {MAX_TEMPERATURE:g}, got {temperature}")
        if not isinstance(top_p, (int, float)) or not math.isfinite(top_p) or not 0 < top_p <= 1:
            raise UsageError(f"top-p must be in range (0, 1], got {top_p}")

    @property
    def is_argmax(self) -> bool:
        return self.temperature == 0

    def describe(self) -> str:
        if self.is_argmax:
            return "argmax (temperature 0)"
        return f"temperature {self.temperature:g}, top-p {self.top_p:g}"


ARGMAX = Decoding(0.0, 1.0)  # the paper's decoding: the most likely token at each step


def resolve_decoding(recommended: Decoding, temperature: float | None, top_p: float | None) -> Decoding:
    """Options the user left unset take the model's recommended decoding (its config records it)."""
    return Decoding(
        recommended.temperature if temperature is None else float(temperature),
        recommended.top_p if top_p is None else float(top_p),
    )


def choose_tokens(logits: np.ndarray, decoding: Decoding, uniforms: np.ndarray | None,
                  allowed: np.ndarray | None = None) -> np.ndarray:
    """One token id per row of ``logits`` (B, C), drawn with ``uniforms`` (B,) in [0, 1). (B,) int64

    ``allowed`` ((B, C) or (C,) bool; None: every token) masks tokens out: they get zero
    probability before the temperature and the nucleus (argmax picks among the allowed ones too).
    Every row must allow at least one token.
    """
    logits = masked_logits(logits, allowed)
    if decoding.is_argmax:
        return logits.argmax(axis=-1).astype(np.int64)
    if uniforms is None:
        raise ValueError("sampling at a temperature above 0 needs one uniform number per row")
    uniforms = np.asarray(uniforms, dtype=np.float64).reshape(-1)
    if uniforms.shape[0] != logits.shape[0]:
        raise ValueError(f"{logits.shape[0]} rows of logits but {uniforms.shape[0]} uniforms")
    probs = _kept_probabilities(logits, decoding)  # (B, C)
    cumulative = np.cumsum(probs, axis=-1)  # (B, C), in token-id order
    thresholds = uniforms * cumulative[:, -1]  # (B,)
    chosen = (cumulative <= thresholds[:, None]).sum(axis=-1)  # first index whose mass exceeds u * total
    # A uniform at the very top may pass every bin through rounding: fall back to the last kept token.
    last_kept = probs.shape[-1] - 1 - np.argmax(probs[:, ::-1] > 0, axis=-1)
    return np.minimum(chosen, last_kept).astype(np.int64)


def anchor_uniforms(logits: np.ndarray, tokens: np.ndarray, decoding: Decoding,
                    fallback_uniforms: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    """The inverse of :func:`choose_tokens`: per step, a uniform that draws ``tokens[t]``. (L,) float64

    ``logits`` (L, C) are the teacher-forced logits of each step. The uniform is the midpoint of the
    interval that the inverse CDF maps to ``tokens[t]`` (the same temperature and nucleus as
    :func:`choose_tokens`), so ``choose_tokens(logits, decoding, anchor)`` gives ``tokens`` back.
    A token outside the nucleus (or with a probability too small for float64) has no such
    interval: that step keeps ``fallback_uniforms[t]``. Argmax decoding draws nothing: ValueError.
    ``allowed`` masks tokens as in :func:`choose_tokens`.
    """
    if decoding.is_argmax:
        raise ValueError("argmax decoding draws no uniforms, so it has none to anchor")
    logits = masked_logits(logits, allowed)
    tokens = np.asarray(tokens, dtype=np.int64).reshape(-1)
    fallback = np.asarray(fallback_uniforms, dtype=np.float64).reshape(-1)
    if logits.ndim != 2 or not logits.shape[0] == tokens.shape[0] == fallback.shape[0]:
        raise ValueError(f"need logits (L, C), tokens (L,) and fallback uniforms (L,), got shapes "
                         f"{logits.shape}, {tokens.shape} and {fallback.shape}")
    cumulative = _kept_cumulative(logits, decoding)  # (L, C), as choose_tokens accumulates it
    rows = np.arange(tokens.shape[0])
    upper = cumulative[rows, tokens]
    lower = np.where(tokens > 0, cumulative[rows, np.maximum(tokens - 1, 0)], 0.0)
    anchors = (lower + upper) / 2 / cumulative[:, -1]  # (L,)
    anchors = np.where(upper > lower, anchors, fallback)
    # Rounding at the edge of a tiny interval: keep the fresh uniform where the midpoint misses.
    drawn = choose_tokens(logits, decoding, anchors)
    return np.where(drawn == tokens, anchors, fallback)


def masked_logits(logits: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    """``logits`` as float64, with -inf where ``allowed`` ((B, C) or (C,) bool) is False."""
    logits = np.asarray(logits, dtype=np.float64)
    if allowed is None:
        return logits
    allowed = np.asarray(allowed, dtype=bool)
    if allowed.shape[-1] != logits.shape[-1]:
        raise ValueError(f"allowed has {allowed.shape[-1]} tokens but the logits {logits.shape[-1]}")
    if not np.broadcast_to(allowed, logits.shape).any(axis=-1).all():
        raise ValueError("allowed must leave at least one token in every row")
    return np.where(allowed, logits, -np.inf)


def _kept_probabilities(logits: np.ndarray, decoding: Decoding) -> np.ndarray:
    """(B, C) softmax of ``logits / temperature``, zero outside the nucleus (not renormalised)."""
    scaled = logits / decoding.temperature
    scaled -= scaled.max(axis=-1, keepdims=True)
    probs = np.exp(scaled)
    probs /= probs.sum(axis=-1, keepdims=True)  # (B, C)
    if decoding.top_p < 1.0:
        probs = probs * nucleus_mask(probs, decoding.top_p)
    return probs


def _kept_cumulative(logits: np.ndarray, decoding: Decoding) -> np.ndarray:
    return np.cumsum(_kept_probabilities(logits, decoding), axis=-1)  # (B, C), in token-id order


def step_uniforms(uniforms: np.ndarray | None, batch: int, length: int, decoding: Decoding) -> np.ndarray | None:
    """A decoder's (batch, length) sampling uniforms, checked, as float64; None for argmax (nothing drawn)."""
    if decoding.is_argmax:
        return None
    if uniforms is None:
        raise ValueError("sampling at a temperature above 0 needs uniforms (batch, target_length)")
    uniforms = np.asarray(uniforms, dtype=np.float64)
    if uniforms.shape != (batch, length):
        raise ValueError(f"uniforms must have shape {(batch, length)}, got {uniforms.shape}")
    return uniforms


def nucleus_mask(probs: np.ndarray, top_p: float) -> np.ndarray:
    """(B, C) bool: the most likely tokens whose mass before them is under ``top_p`` (the top one always)."""
    order = np.argsort(-probs, axis=-1, kind="stable")  # most likely first, ties by token id
    sorted_probs = np.take_along_axis(probs, order, axis=-1)
    mass_before = np.cumsum(sorted_probs, axis=-1) - sorted_probs
    keep_sorted = mass_before < top_p
    mask = np.zeros_like(keep_sorted)
    np.put_along_axis(mask, order, keep_sorted, axis=-1)
    return mask
