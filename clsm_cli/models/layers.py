"""Building blocks shared by the models: relative attention, transformer layers, LSTM heads, sampling.

Relative attention follows Shaw et al. (2018): each clipped key-minus-query distance has a learned
key embedding a_(k-q) (shared by the heads of a layer), and the logit of query q for key k is
``q . (k + a_(k-q)) / sqrt(d_head)``. Positions are passed explicitly as integer tensors, so the same
code serves a whole sequence, a subset of it (the decoder's context, computed once) and one new step
against a key/value cache.

Transformer layers are pre-LayerNorm (a final LayerNorm closes each stack): the paper does not say,
and pre-LN trains without warm-up at the paper's learning rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clsm_cli.sampling import Decoding, choose_tokens

Rows = Union[Tensor, slice]  # which query rows a layer computes: a slice or an index tensor


def relative_index(query_positions: Tensor, key_positions: Tensor, max_distance: int) -> Tensor:
    """Index into the relative embedding table: clip(key - query, -max, +max) + max. (Tq, Tk)."""
    distance = key_positions[None, :] - query_positions[:, None]  # (Tq, Tk)
    return distance.clamp(-max_distance, max_distance) + max_distance


def mask_to_bias(allowed: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """A boolean "query may attend to key" matrix as an additive bias: 0 where allowed, -inf elsewhere."""
    bias = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device)
    return bias.masked_fill(~allowed, float("-inf"))


def causal_mask(length: int, device=None) -> Tensor:
    """(T, T) boolean: position u may attend to v <= u."""
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()


class MultiHeadAttention(nn.Module):
    """Multi-head attention, optionally with relative key embeddings (``max_relative_distance``).

    Keys and values are computed separately from queries (``keys_values``), so a caller can reuse
    them (a cache, or the decoder's memory) and can ask for outputs at a subset of query rows.
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0, max_relative_distance: Optional[int] = None):
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model {d_model} must be divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.d_head = d_model // num_heads
        self.dropout = dropout
        self.query = nn.Linear(d_model, d_model)
        self.key_value = nn.Linear(d_model, 2 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.max_relative_distance = max_relative_distance
        if max_relative_distance is not None:
            # One d_head vector per clipped distance -R..R, shared by the heads (Shaw et al.).
            self.relative_keys = nn.Embedding(2 * max_relative_distance + 1, self.d_head)
        else:
            self.relative_keys = None

    def _split(self, x: Tensor) -> Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.d_head).transpose(1, 2)  # (B, H, T, d_head)

    def keys_values(self, source: Tensor) -> tuple[Tensor, Tensor]:
        """Keys and values of ``source`` (B, S, d_model), each (B, H, S, d_head)."""
        keys, values = self.key_value(source).chunk(2, dim=-1)
        return self._split(keys), self._split(values)

    def forward(
        self,
        x: Tensor,
        keys: Tensor,
        values: Tensor,
        rel_index: Optional[Tensor] = None,
        bias: Optional[Tensor] = None,
    ) -> Tensor:
        """Attend from queries ``x`` (B, Tq, d_model) to ``keys``/``values`` (B, H, Tk, d_head).

        ``rel_index`` (Tq, Tk) from :func:`relative_index` is required with relative embeddings;
        ``bias`` (Tq, Tk) is added to the logits (``mask_to_bias``).
        """
        scale = 1.0 / math.sqrt(self.d_head)
        queries = self._split(self.query(x)) * scale  # (B, H, Tq, d_head), pre-scaled
        if self.relative_keys is None:
            if bias is not None:
                bias = bias.to(queries.dtype)
            attended = F.scaled_dot_product_attention(
                queries, keys, values, attn_mask=bias, dropout_p=self.dropout if self.training else 0.0, scale=1.0
            )  # (B, H, Tq, d_head)
        else:
            # Explicit attention: the relative logits need gradients, which fused kernels refuse for masks.
            relative = self.relative_keys(rel_index).to(queries.dtype)  # (Tq, Tk, d_head)
            logits = torch.einsum("bhqd,qkd->bhqk", queries, relative)  # (B, H, Tq, Tk): q . a_(k-q)
            if bias is not None:
                logits = logits + bias.to(queries.dtype)
            batch, heads, q_len, k_len = logits.shape
            logits = torch.baddbmm(
                logits.reshape(batch * heads, q_len, k_len),
                queries.reshape(batch * heads, q_len, self.d_head),
                keys.reshape(batch * heads, k_len, self.d_head).transpose(1, 2),
            )  # (B*H, Tq, Tk): q . (k + a_(k-q))
            weights = torch.softmax(logits, dim=-1)
            if self.training and self.dropout > 0:
                weights = F.dropout(weights, self.dropout)
            attended = torch.bmm(weights, values.reshape(batch * heads, k_len, self.d_head))
            attended = attended.view(batch, heads, q_len, self.d_head)  # (B, H, Tq, d_head)
        batch, _, length, _ = attended.shape
        return self.out(attended.transpose(1, 2).reshape(batch, length, -1))  # (B, Tq, d_model)


class FeedForward(nn.Sequential):
    def __init__(self, d_model: int, ff_dim: int, dropout: float):
        super().__init__(nn.Linear(d_model, ff_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(ff_dim, d_model))


@dataclass
class LayerCache:
    """Keys/values of one self-attention layer, preallocated for ``capacity`` positions.

    The buffers are made on the first append, in the keys' dtype and device (so a cache works
    under autocast too); ``length`` positions are filled.
    """

    capacity: int
    keys: Optional[Tensor] = None  # (B, H, capacity, d_head)
    values: Optional[Tensor] = None  # (B, H, capacity, d_head)
    length: int = 0

    def append(self, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        """Store (B, H, n, d_head) new keys/values; return all keys/values so far."""
        if self.keys is None:
            batch, heads, _, d_head = keys.shape
            self.keys = keys.new_empty((batch, heads, self.capacity, d_head))
            self.values = values.new_empty((batch, heads, self.capacity, d_head))
        end = self.length + keys.shape[2]
        if end > self.capacity:
            raise ValueError(f"cache holds {self.capacity} positions, {end} were appended")
        self.keys[:, :, self.length : end] = keys
        self.values[:, :, self.length : end] = values
        self.length = end
        return self.keys[:, :, :end], self.values[:, :, :end]


def lstm_dropout(dropout: float, num_layers: int) -> float:
    """The ``dropout`` of an ``nn.LSTM``: applied between stacked layers only, so 0 for one layer."""
    return dropout if num_layers > 1 else 0.0


class TransformerLayer(nn.Module):
    """Pre-LN layer: relative self-attention, optional cross-attention to a memory, feed-forward."""

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        ff_dim: int,
        dropout: float,
        max_relative_distance: Optional[int],
        cross_attention: bool = False,
    ):
        super().__init__()
        self.self_norm = nn.LayerNorm(d_model)
        self.self_attention = MultiHeadAttention(d_model, num_heads, dropout, max_relative_distance)
        if cross_attention:
            self.cross_norm = nn.LayerNorm(d_model)
            self.cross_attention = MultiHeadAttention(d_model, num_heads, dropout, None)
        else:
            self.cross_attention = None
        self.ff_norm = nn.LayerNorm(d_model)
        self.feed_forward = FeedForward(d_model, ff_dim, dropout)
        self.residual_dropout = nn.Dropout(dropout)

    def forward(
        self,
        x: Tensor,
        rel_index: Optional[Tensor] = None,
        bias: Optional[Tensor] = None,
        memory_kv: Optional[tuple[Tensor, Tensor]] = None,
        query_rows: Optional[Rows] = None,
        cache: Optional[LayerCache] = None,
    ) -> Tensor:
        """x (B, T, d_model) -> (B, Tq, d_model).

        ``query_rows`` keeps only those rows' outputs (keys still come from all of ``x``);
        ``rel_index``/``bias`` then have Tq rows. With ``cache``, x's keys/values are appended to it
        and the queries attend to everything cached so far.
        """
        normed = self.self_norm(x)
        keys, values = self.self_attention.keys_values(normed)  # (B, H, T, d_head)
        if cache is not None:
            keys, values = cache.append(keys, values)  # (B, H, cached + T, d_head)
        if query_rows is not None:
            x, normed = x[:, query_rows], normed[:, query_rows]  # (B, Tq, d_model)
        x = x + self.residual_dropout(self.self_attention(normed, keys, values, rel_index, bias))
        if self.cross_attention is not None:
            memory_keys, memory_values = memory_kv
            x = x + self.residual_dropout(self.cross_attention(self.cross_norm(x), memory_keys, memory_values))
        return x + self.residual_dropout(self.feed_forward(self.ff_norm(x)))


class TransformerStack(nn.Module):
    """``num_layers`` pre-LN layers and a final LayerNorm."""

    def __init__(
        self,
        num_layers: int,
        d_model: int,
        num_heads: int,
        ff_dim: int,
        dropout: float,
        max_relative_distance: Optional[int],
        cross_attention: bool = False,
    ):
        super().__init__()
        self.layers = nn.ModuleList(
            TransformerLayer(d_model, num_heads, ff_dim, dropout, max_relative_distance, cross_attention)
            for _ in range(num_layers)
        )
        self.final_norm = nn.LayerNorm(d_model)
        self.max_relative_distance = max_relative_distance

    def memory_keys_values(self, memory: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Each layer's cross-attention keys/values of ``memory`` (B, M, d_model); computed once."""
        return [layer.cross_attention.keys_values(memory) for layer in self.layers]

    def forward(
        self,
        x: Tensor,
        positions: Tensor,
        allowed: Optional[Tensor] = None,
        memory_kv: Optional[list[tuple[Tensor, Tensor]]] = None,
        last_layer_rows: Optional[Rows] = None,
        caches: Optional[list[LayerCache]] = None,
        key_positions: Optional[Tensor] = None,
    ) -> Tensor:
        """x (B, T, d_model) at integer ``positions`` (T,) -> (B, T or len(last_layer_rows), d_model).

        ``allowed`` (T, Tk) says which keys each position may attend to. ``last_layer_rows``: the
        final layer computes only those rows (the only outputs a caller reads). With ``caches``,
        ``key_positions`` (Tk,) are the positions of every cached key after this call's append.
        """
        key_positions = positions if key_positions is None else key_positions
        rel_index = None
        if self.max_relative_distance is not None:
            rel_index = relative_index(positions, key_positions, self.max_relative_distance)  # (T, Tk)
        bias = None if allowed is None else mask_to_bias(allowed, x.dtype)  # (T, Tk)
        for number, layer in enumerate(self.layers):
            rows = last_layer_rows if number == len(self.layers) - 1 else None
            layer_rel = rel_index if rows is None or rel_index is None else rel_index[rows]
            layer_bias = bias if rows is None or bias is None else bias[rows]
            x = layer(
                x,
                rel_index=layer_rel,
                bias=layer_bias,
                memory_kv=None if memory_kv is None else memory_kv[number],
                query_rows=rows,
                cache=None if caches is None else caches[number],
            )
        return self.final_norm(x)


class GaussianMLP(nn.Sequential):
    """Two linear layers with a SELU between them (paper section 2.4.1)."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int):
        super().__init__(nn.Linear(in_dim, hidden), nn.SELU(), nn.Linear(hidden, out_dim))


class BiLSTMGaussianHead(nn.Module):
    """A sequence (B, T, d) -> Bi-LSTM -> last forward ⊕ last backward state -> (mean, logvar).

    The "last" backward state is the one that has read the whole sequence right to left, i.e. the
    backward output at the first position; both are the final layer's ``h_n``.
    """

    def __init__(self, in_dim: int, hidden: int, num_layers: int, dropout: float, mlp_hidden: int, out_dim: int):
        super().__init__()
        self.lstm = nn.LSTM(
            in_dim, hidden, num_layers=num_layers, batch_first=True, bidirectional=True,
            dropout=lstm_dropout(dropout, num_layers),
        )
        self.mean = GaussianMLP(2 * hidden, mlp_hidden, out_dim)
        self.logvar = GaussianMLP(2 * hidden, mlp_hidden, out_dim)

    def forward(self, sequence: Tensor) -> tuple[Tensor, Tensor]:
        _, (h_n, _) = self.lstm(sequence)  # h_n: (layers * 2, B, hidden)
        summary = torch.cat([h_n[-2], h_n[-1]], dim=-1)  # (B, 2 * hidden): last fwd ⊕ last bwd
        return self.mean(summary), self.logvar(summary)  # (B, out_dim) each


def gaussian_log_density(x: Tensor, mean: Tensor, logvar: Tensor) -> Tensor:
    """log N(x; mean, diag(exp(logvar))), summed over the last dimension. (B,)"""
    return -0.5 * ((x - mean) ** 2 * torch.exp(-logvar) + logvar + math.log(2 * math.pi)).sum(-1)


def sample_logits(
    logits: Tensor, temperature: float = 0.0, top_p: float = 1.0, generator: Optional[torch.Generator] = None,
    allowed: Optional[np.ndarray] = None,
) -> Tensor:
    """One token per row of ``logits`` (B, C): argmax at temperature 0, else nucleus sampling. (B,)

    The baselines' sampler: one uniform per row from ``generator``, then ``sampling.choose_tokens``
    (the CLSM's rule too, ``allowed`` (B, C) or (C,) bool masking tokens as it does), so every
    model draws tokens the same way.
    """
    decoding = Decoding(float(temperature), float(top_p))
    uniforms = None
    if not decoding.is_argmax:
        uniforms = torch.rand(logits.shape[0], generator=generator, device=logits.device).cpu().numpy()  # (B,)
    chosen = choose_tokens(logits.float().cpu().numpy(), decoding, uniforms, allowed)  # (B,) int64
    return torch.from_numpy(chosen).to(logits.device)


def check_target(target_start: int, target_length: int, window_steps: int) -> None:
    """Raise ValueError unless the target is a non-empty range inside the window."""
    if target_length < 1 or target_start < 0 or target_start + target_length > window_steps:
        raise ValueError(
            f"target {target_start}..{target_start + target_length} must be a non-empty range inside 0..{window_steps}"
        )


def standard_normal_like(
    mean: Tensor, noise: Optional[Tensor] = None, generator: Optional[torch.Generator] = None
) -> Tensor:
    """Standard-normal draws for a reparameterised sample around ``mean`` (B, z_dim).

    ``noise`` given (the trainer draws it for a whole data-parallel batch) is checked and cast;
    otherwise it is drawn from ``generator``.
    """
    if noise is None:
        return torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    if noise.shape != mean.shape:
        raise ValueError(f"noise must have the posterior's shape {tuple(mean.shape)}, got {tuple(noise.shape)}")
    return noise.to(device=mean.device, dtype=mean.dtype)


def match_batch(tokens: Tensor, batch: int) -> Tensor:
    """Broadcast one window (1, K) to ``batch`` rows; otherwise the batch sizes must agree."""
    if tokens.shape[0] == batch:
        return tokens
    if tokens.shape[0] == 1:
        return tokens.expand(batch, -1)
    raise ValueError(f"tokens have {tokens.shape[0]} rows but z has {batch}")
