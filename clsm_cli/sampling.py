"""How target tokens are drawn from decoder logits: one numpy function both engines call.

A token is drawn by inverse CDF from one uniform number per step: the probabilities (softmax of
logits / temperature, cut to the nucleus of mass ``top_p``) are accumulated in token-id order, and
the token is the first whose cumulative mass exceeds ``u * total``. Because the order is the fixed
token-id order (not "most likely first"), two engines whose logits differ by float rounding draw the
same token unless ``u`` falls within that rounding of a boundary (a rare, countable tie). Temperature
0 is argmax, the paper's decoding, and needs no uniforms.

Controls (a key, a range, a rhythm, the top-voice rule, a triplet grammar) act here and nowhere else:
``allowed`` marks the tokens a step may draw, and a masked token gets zero probability before the
temperature and nucleus renormalise, so the same uniforms draw the same tokens in either engine.
A step rule may also lean instead of forbid (the song's chords on the beats): then ``allowed`` is a
float array of log-weights added to the logits, ``-inf`` where a token is forbidden (a bool mask is
the special case 0 / ``-inf``).
A decoder learns a step's mask from a :class:`StepMask`, a pure function of the tokens drawn so
far, so the same mask can be rebuilt after the draw (to score a candidate or anchor its uniforms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Protocol

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


class StepMask(Protocol):
    """The tokens step ``step`` of a target may draw, given the tokens drawn before it.

    ``generated`` is (B, step) int64; the answer is (B, C) or (C,) bool, or float log-weights
    (``-inf``: forbidden), or None when every token is allowed. It must be pure (the same tokens
    give the same answer) and allow at least one token.
    """

    def __call__(self, step: int, generated: np.ndarray) -> Optional[np.ndarray]: ...


def step_masks(step_mask: Optional[StepMask], tokens: np.ndarray, num_classes: int) -> Optional[np.ndarray]:
    """Every step's mask for known target ``tokens`` (B, L): (B, L, C) bool (float log-weights when
    a step's rule leans), or None without a mask."""
    if step_mask is None:
        return None
    tokens = np.asarray(tokens, dtype=np.int64)
    batch, length = tokens.shape
    steps = [step_mask(step, tokens[:, :step]) for step in range(length)]
    leaning = any(allowed is not None and is_weights(allowed) for allowed in steps)
    masks = np.zeros((batch, length, num_classes)) if leaning else np.ones((batch, length, num_classes), dtype=bool)
    for step, allowed in enumerate(steps):
        if allowed is not None:
            masks[:, step] = np.broadcast_to(as_log_weights(allowed) if leaning else np.asarray(allowed, dtype=bool),
                                             (batch, num_classes))
    return masks


def is_weights(allowed: np.ndarray) -> bool:
    """Whether a step rule's answer leans (float log-weights) rather than only forbids (bool)."""
    return np.issubdtype(np.asarray(allowed).dtype, np.floating)


def as_log_weights(allowed: np.ndarray) -> np.ndarray:
    """A step rule's answer as float log-weights: a bool mask is 0 where allowed, -inf elsewhere."""
    allowed = np.asarray(allowed)
    if is_weights(allowed):
        return allowed.astype(np.float64)
    return np.where(allowed.astype(bool), 0.0, -np.inf)


def both_allowed(first: Optional[np.ndarray], second: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """The tokens two step rules both allow (each (B, C), (C,) or None for every token): the triplet
    grid's grammar and a command's controls apply together. Two masks give a mask; when either
    leans, their log-weights add (a token either forbids stays forbidden)."""
    if first is None:
        return second
    if second is None:
        return first
    if is_weights(first) or is_weights(second):
        return as_log_weights(first) + as_log_weights(second)
    return np.logical_and(first, second)


def _checked_allowed(allowed: Optional[np.ndarray], shape: tuple[int, int]) -> Optional[np.ndarray]:
    """``allowed`` as (B, C) (a (C,) row is shared; bool, or float log-weights), every row with a token
    left; None stays None."""
    if allowed is None:
        return None
    allowed = np.asarray(allowed)
    if allowed.shape not in (shape, shape[1:]):
        raise ValueError(f"allowed must have shape {shape} or {shape[1:]}, got {allowed.shape}")
    allowed = np.broadcast_to(allowed if is_weights(allowed) else allowed.astype(bool), shape)
    left = np.isfinite(allowed) if is_weights(allowed) else allowed
    if not left.any(axis=-1).all():
        raise ValueError("every row of allowed must allow at least one token")
    return allowed


def _ruled_logits(logits: np.ndarray, allowed: Optional[np.ndarray]) -> np.ndarray:
    """``logits`` under a step rule: masked tokens -inf, a leaning rule's log-weights added."""
    if allowed is None:
        return logits
    if is_weights(allowed):
        return logits + allowed
    return np.where(np.asarray(allowed, dtype=bool), logits, -np.inf)


def choose_tokens(logits: np.ndarray, decoding: Decoding, uniforms: np.ndarray | None,
                  allowed: Optional[np.ndarray] = None) -> np.ndarray:
    """One token id per row of ``logits`` (B, C), drawn with ``uniforms`` (B,) in [0, 1). (B,) int64

    ``allowed`` (B, C) or (C,) bool (None: every token) zeroes the probability of masked tokens
    before the temperature and nucleus renormalise; argmax takes the best allowed token.
    """
    logits = _ruled_logits(np.asarray(logits, dtype=np.float64), _checked_allowed(allowed, np.shape(logits)))
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
                    fallback_uniforms: np.ndarray, allowed: Optional[np.ndarray] = None) -> np.ndarray:
    """The inverse of :func:`choose_tokens`: per step, a uniform that draws ``tokens[t]``. (L,) float64

    ``logits`` (L, C) are the teacher-forced logits of each step. The uniform is the midpoint of the
    interval that the inverse CDF maps to ``tokens[t]`` (the same temperature and nucleus as
    :func:`choose_tokens`), so ``choose_tokens(logits, decoding, anchor)`` gives ``tokens`` back.
    A token outside the nucleus (or with a probability too small for float64) has no such
    interval: that step keeps ``fallback_uniforms[t]``. ``allowed`` (L, C) bool are the steps'
    masks, so the anchors are taken on the constrained distribution; a masked token has no
    interval either. Argmax decoding draws nothing: ValueError.
    """
    if decoding.is_argmax:
        raise ValueError("argmax decoding draws no uniforms, so it has none to anchor")
    logits = np.asarray(logits, dtype=np.float64)
    tokens = np.asarray(tokens, dtype=np.int64).reshape(-1)
    fallback = np.asarray(fallback_uniforms, dtype=np.float64).reshape(-1)
    if logits.ndim != 2 or not logits.shape[0] == tokens.shape[0] == fallback.shape[0]:
        raise ValueError(f"need logits (L, C), tokens (L,) and fallback uniforms (L,), got shapes "
                         f"{logits.shape}, {tokens.shape} and {fallback.shape}")
    logits = _ruled_logits(logits, _checked_allowed(allowed, logits.shape))
    cumulative = _kept_cumulative(logits, decoding)  # (L, C), as choose_tokens accumulates it
    rows = np.arange(tokens.shape[0])
    upper = cumulative[rows, tokens]
    lower = np.where(tokens > 0, cumulative[rows, np.maximum(tokens - 1, 0)], 0.0)
    anchors = (lower + upper) / 2 / cumulative[:, -1]  # (L,)
    anchors = np.where(upper > lower, anchors, fallback)
    # Rounding at the edge of a tiny interval: keep the fresh uniform where the midpoint misses.
    drawn = choose_tokens(logits, decoding, anchors)
    return np.where(drawn == tokens, anchors, fallback)


def token_log_probs(logits: np.ndarray, tokens: np.ndarray, decoding: Decoding,
                    allowed: Optional[np.ndarray] = None) -> np.ndarray:
    """log p of each drawn token under the distribution it was drawn from. (..., L) float64

    ``logits`` (..., L, C), ``tokens`` (..., L), ``allowed`` (..., L, C) or None. The distribution
    is the masked softmax at the decoding's temperature renormalised over its nucleus (temperature
    1 and no nucleus for argmax, which has no distribution of its own); a token it cannot draw
    gets -inf.
    """
    logits = np.asarray(logits, dtype=np.float64)
    shape = logits.shape
    flat = logits.reshape(-1, shape[-1])
    if allowed is not None:
        flat = _ruled_logits(flat, np.asarray(allowed).reshape(flat.shape))
    scoring = Decoding(1.0, 1.0) if decoding.is_argmax else decoding
    probs = _kept_probabilities(flat, scoring)  # (N, C)
    probs = probs / probs.sum(axis=-1, keepdims=True)
    chosen = probs[np.arange(flat.shape[0]), np.asarray(tokens, dtype=np.int64).reshape(-1)]
    with np.errstate(divide="ignore"):
        return np.log(chosen).reshape(shape[:-1])


def _kept_probabilities(logits: np.ndarray, decoding: Decoding) -> np.ndarray:
    """(B, C) softmax of ``logits / temperature``, zero outside the nucleus (not renormalised)."""
    scaled = logits / decoding.temperature
    scaled = scaled - scaled.max(axis=-1, keepdims=True)  # masked tokens (-inf) get probability 0
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
