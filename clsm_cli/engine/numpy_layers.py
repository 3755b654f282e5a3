"""The CLSM's layers for inference in numpy, float32: each computes what its ``models/`` twin computes.

The torch modules (``models/layers.py``, ``models/flow.py``) are the reference and hold the maths'
explanations; these mirror them step for step, without dropout or gradients, on weights read from
the same ``model.safetensors`` (``engine/weights.py``). A layer is a dataclass of float32 arrays
built by ``from_weights(weights, prefix)``, where ``prefix`` is the torch module's name in the state
dict, so the two stay name for name. Only their ``__init__`` is generated: each method a dataclass
generates costs an import (and so every edit) about 0.1 ms, and layers are never compared or printed.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

Rows = Union[slice, np.ndarray]
LAYER_NORM_EPS = 1e-5  # torch.nn.LayerNorm's default
LEAKY_SLOPE = 0.01  # models/flow.py: the couplings' leaky ReLUs
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
Weights = dict[str, np.ndarray]
FEW_ROWS = 64  # a Linear called on at most this many rows multiplies by a contiguous copy of its weight


def sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp(-x) overflows to inf for very negative x: the result is 0, as wanted
        return (1.0 / (1.0 + np.exp(-x))).astype(np.float32, copy=False)


def selu(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        negative = SELU_ALPHA * np.expm1(np.minimum(x, 0))
    return (SELU_SCALE * np.where(x > 0, x, negative)).astype(np.float32, copy=False)


def leaky_relu(x: np.ndarray) -> np.ndarray:
    return np.where(x >= 0, x, np.float32(LEAKY_SLOPE) * x)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis; -inf entries get weight 0 (each row keeps at least one finite entry)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=-1, keepdims=True)


@dataclass(eq=False, repr=False)  # only __init__ is generated (see the module docstring)
class Linear:
    weight: np.ndarray  # (out, in): torch's layout, as stored
    bias: np.ndarray  # (out,)

    @classmethod
    def from_weights(cls, weights: Weights, prefix: str) -> "Linear":
        return cls(weights[f"{prefix}.weight"], weights[f"{prefix}.bias"])

    @functools.cached_property
    def weight_t(self) -> np.ndarray:
        """(in, out), C-contiguous: made on the first call with few rows (decoding steps), where BLAS
        multiplies by it about twice as fast as by the transposed view; the copy costs ~1 ms a model."""
        return np.ascontiguousarray(self.weight.T)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(..., in) -> (..., out), as one matrix product over all leading axes (numpy would run one
        small product per row of a (B, T, in) batch)."""
        rows = x.reshape(-1, x.shape[-1])  # (B * T, in)
        weight_t = self.weight_t if rows.shape[0] <= FEW_ROWS else self.weight.T
        product = rows @ weight_t + self.bias  # (B * T, out)
        return product.reshape(*x.shape[:-1], product.shape[-1])


@dataclass(eq=False, repr=False)  # only __init__ is generated (see the module docstring)
class LayerNorm:
    weight: np.ndarray  # (d,)
    bias: np.ndarray  # (d,)

    @classmethod
    def from_weights(cls, weights: Weights, prefix: str) -> "LayerNorm":
        return cls(weights[f"{prefix}.weight"], weights[f"{prefix}.bias"])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        width = np.float32(x.shape[-1])  # means as sums over the width: ndarray.mean's wrapper costs more than the maths
        centred = x - np.add.reduce(x, axis=-1, keepdims=True) / width
        variance = np.add.reduce(centred * centred, axis=-1, keepdims=True) / width  # biased, as torch
        return centred / np.sqrt(variance + np.float32(LAYER_NORM_EPS)) * self.weight + self.bias


def relative_index(query_positions: np.ndarray, key_positions: np.ndarray, max_distance: int) -> np.ndarray:
    """clip(key - query, -max, +max) + max: rows of the relative key table. (Tq, Tk)"""
    distance = key_positions[None, :] - query_positions[:, None]
    return np.clip(distance, -max_distance, max_distance) + max_distance


def mask_to_bias(allowed: np.ndarray) -> np.ndarray:
    """(Tq, Tk) bool "may attend" -> additive float32 bias: 0 where allowed, -inf elsewhere."""
    return np.where(allowed, np.float32(0.0), np.float32(-np.inf)).astype(np.float32)


@dataclass(eq=False, repr=False)  # only __init__ is generated (see the module docstring)
class MultiHeadAttention:
    """``models.layers.MultiHeadAttention``: logit of query q for key k is q . (k + a_(k-q)) / sqrt(d_head)."""

    query: Linear
    key_value: Linear
    out: Linear
    relative_keys: Optional[np.ndarray]  # (2R + 1, d_head), or None without relative positions
    num_heads: int

    @classmethod
    def from_weights(cls, weights: Weights, prefix: str, num_heads: int) -> "MultiHeadAttention":
        return cls(
            Linear.from_weights(weights, f"{prefix}.query"),
            Linear.from_weights(weights, f"{prefix}.key_value"),
            Linear.from_weights(weights, f"{prefix}.out"),
            weights.get(f"{prefix}.relative_keys.weight"),
            num_heads,
        )

    def _split(self, x: np.ndarray) -> np.ndarray:
        batch, length, width = x.shape
        return x.reshape(batch, length, self.num_heads, width // self.num_heads).transpose(0, 2, 1, 3)  # (B, H, T, d_head)

    def keys_values(self, source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keys and values of ``source`` (B, S, d), each (B, H, S, d_head)."""
        both = self.key_value(source)  # (B, S, 2d): keys, then values
        width = both.shape[-1] // 2
        return self._split(both[..., :width]), self._split(both[..., width:])

    def __call__(
        self,
        x: np.ndarray,
        keys: np.ndarray,
        values: np.ndarray,
        rel_index: Optional[np.ndarray] = None,
        bias: Optional[np.ndarray] = None,
    ) -> np.ndarray:
        """Queries x (B, Tq, d) attend to keys/values (B, H, Tk, d_head) -> (B, Tq, d)."""
        queries = self._split(self.query(x))
        queries = queries * np.float32(1.0 / math.sqrt(queries.shape[-1]))  # (B, H, Tq, d_head), pre-scaled
        logits = queries @ keys.transpose(0, 1, 3, 2)  # (B, H, Tq, Tk): q . k
        if self.relative_keys is not None:
            batch, heads, length, d_head = queries.shape
            flat = queries.reshape(-1, d_head)  # (B * H * Tq, d_head): one matrix product, not B * H small ones
            if length == 1:  # a decoding step: one query, so just the relative keys its keys are at
                relative = (flat @ self.relative_keys[rel_index[0]].T).reshape(batch, heads, 1, -1)  # (B, H, 1, Tk)
            else:
                per_distance = (flat @ self.relative_keys.T).reshape(batch, heads, length, -1)  # (B, H, Tq, 2R + 1)
                rows = np.arange(rel_index.shape[0])[:, None]  # (Tq, 1)
                relative = per_distance[:, :, rows, rel_index]  # (B, H, Tq, Tk): q . a_(k-q)
            logits = relative + logits  # q . a_(k-q) + q . k
        if bias is not None:
            logits = logits + bias
        attended = softmax(logits) @ values  # (B, H, Tq, d_head)
        batch, _, length, _ = attended.shape
        return self.out(attended.transpose(0, 2, 1, 3).reshape(batch, length, -1))  # (B, Tq, d)


@dataclass(eq=False, repr=False)  # only __init__ is generated (see the module docstring)
class FeedForward:
    inner: Linear
    outer: Linear

    @classmethod
    def from_weights(cls, weights: Weights, prefix: str) -> "FeedForward":
        return cls(Linear.from_weights(weights, f"{prefix}.0"), Linear.from_weights(weights, f"{prefix}.3"))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.outer(np.maximum(self.inner(x), 0))


class LayerCache:
    """Keys/values of one self-attention layer for ``capacity`` positions (``models.layers.LayerCache``)."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.keys: Optional[np.ndarray] = None  # (B, H, capacity, d_head)
        self.values: Optional[np.ndarray] = None
        self.length = 0

    def append(self, keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Store (B, H, n, d_head) new keys/values; return all keys/values so far."""
        if self.keys is None:
            batch, heads, _, d_head = keys.shape
            self.keys = np.empty((batch, heads, self.capacity, d_head), dtype=np.float32)
            self.values = np.empty((batch, heads, self.capacity, d_head), dtype=np.float32)
        end = self.length + keys.shape[2]
        if end > self.capacity:
            raise ValueError(f"cache holds {self.capacity} positions, {end} were appended")
        self.keys[:, :, self.length : end] = keys
        self.values[:, :, self.length : end] = values
        self.length = end
        return self.keys[:, :, :end], self.values[:, :, :end]


@dataclass(eq=False, repr=False)  # only __init__ is generated (see the module docstring)
class TransformerLayer:
    """Pre-LN: relative self-attention, optional cross-attention to a memory, feed-forward."""

    self_norm: LayerNorm
    self_attention: MultiHeadAttention
    cross_norm: Optional[LayerNorm]
    cross_attention: Optional[MultiHeadAttention]
    ff_norm: LayerNorm
    feed_forward: FeedForward

    @classmethod
    def from_weights(cls, weights: Weights, prefix: str, num_heads: int, cross_attention: bool) -> "TransformerLayer":
        return cls(
            LayerNorm.from_weights(weights, f"{prefix}.self_norm"),
            MultiHeadAttention.from_weights(weights, f"{prefix}.self_attention", num_heads),
            LayerNorm.from_weights(weights, f"{prefix}.cross_norm") if cross_attention else None,
            MultiHeadAttention.from_weights(weights, f"{prefix}.cross_attention", num_heads) if cross_attention else None,
            LayerNorm.from_weights(weights, f"{prefix}.ff_norm"),
            FeedForward.from_weights(weights, f"{prefix}.feed_forward"),
        )

    def __call__(self, x, rel_index=None, bias=None, memory_kv=None, query_rows: Optional[Rows] = None, cache=None):
        """x (B, T, d) -> (B, Tq, d); see ``models.layers.TransformerLayer.forward``.

        A batch whose rows are one broadcast row (the decoder's context, the same for every
        candidate) runs the self-attention and the cross-attention's queries once; the rows part
        where they attend to their own memory. The maths per row is unchanged."""
        batch = x.shape[0]
        shared = batch > 1 and x.strides[0] == 0 and (cache is None or cache.length == 0)
        if shared:
            x = x[:1]  # (1, T, d)
        normed = self.self_norm(x)
        keys, values = self.self_attention.keys_values(normed)  # (B or 1, H, T, d_head)
        if cache is not None:
            stored = cache.append(*(np.broadcast_to(part, (batch, *part.shape[1:])) for part in (keys, values)))
            if not shared:
                keys, values = stored  # (B, H, cached + T, d_head)
        if query_rows is not None:
            x, normed = x[:, query_rows], normed[:, query_rows]  # (B or 1, Tq, d)
        x = x + self.self_attention(normed, keys, values, rel_index, bias)
        if self.cross_attention is not None:
            memory_keys, memory_values = memory_kv  # (B, H, M, d_head): a shared x broadcasts against them
            x = x + self.cross_attention(self.cross_norm(x), memory_keys, memory_values)  # (B, Tq, d)
        if shared and x.shape[0] != batch:
            x = np.broadcast_to(x, (batch, *x.shape[1:]))
        return x + self.feed_forward(self.ff_norm(x))


@dataclass(eq=False, repr=False)  # only __init__ is generated (see the module docstring)
class TransformerStack:
    layers: tuple[TransformerLayer, ...]
    final_norm: LayerNorm
    max_relative_distance: Optional[int]

    @classmethod
    def from_weights(cls, weights: Weights, prefix: str, config, cross_attention: bool = False) -> "TransformerStack":
        layers = tuple(
            TransformerLayer.from_weights(weights, f"{prefix}.layers.{number}", config.num_heads, cross_attention)
            for number in range(config.num_layers)
        )
        return cls(layers, LayerNorm.from_weights(weights, f"{prefix}.final_norm"), config.max_relative_distance)

    def memory_keys_values(self, memory: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each layer's cross-attention keys/values of ``memory`` (B, M, d)."""
        return [layer.cross_attention.keys_values(memory) for layer in self.layers]

    def __call__(
        self,
        x: np.ndarray,
        positions: np.ndarray,
        allowed: Optional[np.ndarray] = None,
        memory_kv: Optional[list] = None,
        last_layer_rows: Optional[Rows] = None,
        caches: Optional[list[LayerCache]] = None,
        key_positions: Optional[np.ndarray] = None,
    ) -> np.ndarray:
        """x (B, T, d) at ``positions`` (T,) -> (B, T or len(last_layer_rows), d); as the torch stack."""
        key_positions = positions if key_positions is None else key_positions
        rel_index = None
        if self.max_relative_distance is not None:
            rel_index = relative_index(positions, key_positions, self.max_relative_distance)  # (T, Tk)
        bias = None if allowed is None else mask_to_bias(allowed)  # (T, Tk)
        for number, layer in enumerate(self.layers):
            rows = last_layer_rows if number == len(self.layers) - 1 else None
            layer_rel = rel_index if rows is None or rel_index is None else rel_index[rows]
            layer_bias = bias if rows is None or bias is None else bias[rows]
            x = layer(
                x, layer_rel, layer_bias,
                None if memory_kv is None else memory_kv[number], rows, None if caches is None else caches[number],
            )
        return self.final_norm(x)


@dataclass(eq=False, repr=False)  # only __init__ is generated (see the module docstring)
class LSTMDirection:
    """One direction of one layer of ``torch.nn.LSTM``: gates i, f, g, o in PyTorch's order."""

    input_weight_t: np.ndarray  # (in, 4H): transposed views, as Linear's
    hidden_weight_t: np.ndarray  # (H, 4H)
    bias: np.ndarray  # (4H,): bias_ih + bias_hh

    @classmethod
    def from_weights(cls, weights: Weights, prefix: str, suffix: str) -> "LSTMDirection":
        return cls(
            weights[f"{prefix}.weight_ih_{suffix}"].T,
            weights[f"{prefix}.weight_hh_{suffix}"].T,
            weights[f"{prefix}.bias_ih_{suffix}"] + weights[f"{prefix}.bias_hh_{suffix}"],
        )

    def run(self, sequence: np.ndarray, reverse: bool) -> np.ndarray:
        """(B, T, in) -> the hidden state at every step (B, T, H), read right to left if ``reverse``."""
        batch, steps, _ = sequence.shape
        size = self.hidden_weight_t.shape[0]
        projected = sequence @ self.input_weight_t + self.bias  # (B, T, 4H): the input's part, all steps at once
        hidden = np.zeros((batch, size), dtype=np.float32)
        cell = np.zeros((batch, size), dtype=np.float32)
        outputs = np.empty((batch, steps, size), dtype=np.float32)
        for step in (range(steps - 1, -1, -1) if reverse else range(steps)):
            gates = projected[:, step] + hidden @ self.hidden_weight_t  # (B, 4H)
            squashed = sigmoid(gates)  # (B, 4H): one call for the i, f and o gates (g's quarter unused)
            input_gate, forget_gate, output_gate = squashed[:, :size], squashed[:, size : 2 * size], squashed[:, 3 * size :]
            candidate = np.tanh(gates[:, 2 * size : 3 * size])
            cell = forget_gate * cell + input_gate * candidate
            hidden = output_gate * np.tanh(cell)
            outputs[:, step] = hidden
        return outputs


@dataclass(eq=False, repr=False)  # only __init__ is generated (see the module docstring)
class BiLSTMGaussianHead:
    """``models.layers.BiLSTMGaussianHead``: Bi-LSTM, last forward ⊕ last backward state, two SELU MLPs."""

    layers: tuple[tuple[LSTMDirection, LSTMDirection], ...]  # (forward, backward) per layer
    mean: tuple[Linear, Linear]
    logvar: tuple[Linear, Linear]

    @classmethod
    def from_weights(cls, weights: Weights, prefix: str, num_layers: int) -> "BiLSTMGaussianHead":
        lstm = f"{prefix}.lstm"
        layers = tuple(
            (LSTMDirection.from_weights(weights, lstm, f"l{n}"), LSTMDirection.from_weights(weights, lstm, f"l{n}_reverse"))
            for n in range(num_layers)
        )
        mlp = lambda name: (Linear.from_weights(weights, f"{prefix}.{name}.0"), Linear.from_weights(weights, f"{prefix}.{name}.2"))  # noqa: E731
        return cls(layers, mlp("mean"), mlp("logvar"))

    def __call__(self, sequence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, T, d) -> (mean, logvar), each (B, out)."""
        for forward, backward in self.layers:
            forward_states, backward_states = forward.run(sequence, False), backward.run(sequence, True)
            sequence = np.concatenate([forward_states, backward_states], axis=-1)  # (B, T, 2H)
        # The last forward state read the whole sequence left to right; the backward one, right to left.
        summary = np.concatenate([forward_states[:, -1], backward_states[:, 0]], axis=-1)  # (B, 2H)
        return _mlp(self.mean, summary), _mlp(self.logvar, summary)


def _mlp(layers: tuple[Linear, Linear], x: np.ndarray) -> np.ndarray:
    first, second = layers
    return second(selu(first(x)))


@dataclass(eq=False, repr=False)  # only __init__ is generated (see the module docstring)
class AffineCoupling:
    """``models.flow.AffineCoupling``: moves one half by exp(tanh-scale(kept)) and shift(kept)."""

    scale_net: tuple[Linear, Linear, Linear]
    shift_net: tuple[Linear, Linear, Linear]
    split: int
    moves_second_half: bool

    @classmethod
    def from_weights(cls, weights: Weights, prefix: str, dim: int, moves_second_half: bool) -> "AffineCoupling":
        net = lambda name: tuple(Linear.from_weights(weights, f"{prefix}.{name}.{n}") for n in (0, 2, 4))  # noqa: E731
        return cls(net("scale_net"), net("shift_net"), dim // 2, moves_second_half)

    def _halves(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        first, second = x[:, : self.split], x[:, self.split :]
        return (first, second) if self.moves_second_half else (second, first)

    def _join(self, kept: np.ndarray, moved: np.ndarray) -> np.ndarray:
        return np.concatenate([kept, moved] if self.moves_second_half else [moved, kept], axis=-1)

    def _scale(self, kept: np.ndarray) -> np.ndarray:
        return np.tanh(_coupling_net(self.scale_net, kept))  # (B, moved), in (-1, 1)

    def forward(self, z: np.ndarray) -> np.ndarray:
        kept, moved = self._halves(z)
        return self._join(kept, moved * np.exp(self._scale(kept)) + _coupling_net(self.shift_net, kept))

    def inverse(self, w: np.ndarray) -> np.ndarray:
        kept, moved = self._halves(w)
        return self._join(kept, (moved - _coupling_net(self.shift_net, kept)) * np.exp(-self._scale(kept)))


def _coupling_net(layers: tuple[Linear, Linear, Linear], x: np.ndarray) -> np.ndarray:
    first, second, third = layers
    return third(leaky_relu(second(leaky_relu(first(x)))))
