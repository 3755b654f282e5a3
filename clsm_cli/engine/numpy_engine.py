"""The numpy engine: the CLSM's inference (paper section 2.3) in float32 numpy, no torch.

It reads the same ``model.safetensors`` as the torch model (``engine/weights.py``) and computes
what ``models/clsm.py`` computes, layer for layer (``engine/numpy_layers.py``): the encoder and the
prior (relative-attention transformer, Bi-LSTM, SELU MLPs), the realNVP flow both ways, and the
decoder with the three-segment mask and a KV cache. Tokens are drawn by ``sampling.choose_tokens``
from caller-given uniforms, as the torch model draws them, so both engines write the same notes.
The window layout and the decoder's input indexing are documented in ``models/clsm.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from clsm_cli.constants import PLACEHOLDER_TOKEN, START_TOKEN
from clsm_cli.engine.numpy_layers import (
    AffineCoupling,
    BiLSTMGaussianHead,
    LayerCache,
    Linear,
    TransformerStack,
    Weights,
)
from clsm_cli.engine.protocol import Gaussian, TargetSpan
from clsm_cli.sampling import Decoding, StepMask, both_allowed, choose_tokens, step_uniforms
from clsm_cli.engine.weights import clsm_weights


def three_segment_mask(target_start: int, target_length: int, length: int) -> np.ndarray:
    """(length, length) bool "input u may attend to input v" for ``<s>`` ⊕ x (``models.clsm``'s mask)."""
    index = np.arange(length)
    is_target = (index > target_start) & (index <= target_start + target_length)  # inputs holding x_T
    later = index[None, :] > index[:, None]
    return ~is_target[None, :] | (is_target[:, None] & ~later)


class LatentEncoder:
    """Embeddings -> relative-attention transformer -> target rows -> Bi-LSTM -> (mean, logvar)."""

    def __init__(self, weights: Weights, prefix: str, config: Any):
        self.token_embedding = weights[f"{prefix}.token_embedding.weight"]  # (V, d)
        self.position_embedding = weights[f"{prefix}.position_embedding.weight"]  # (K, d)
        self.transformer = TransformerStack.from_weights(weights, f"{prefix}.transformer", config)
        self.head = BiLSTMGaussianHead.from_weights(weights, f"{prefix}.head", config.lstm_layers)

    def __call__(self, tokens: np.ndarray, target: TargetSpan) -> tuple[np.ndarray, np.ndarray]:
        """tokens (B, K) -> (mean, logvar), each (B, z_dim)."""
        positions = np.arange(tokens.shape[1])
        x = self.token_embedding[tokens] + self.position_embedding[positions]  # (B, K, d)
        target_states = self.transformer(x, positions, last_layer_rows=slice(target.start, target.end))  # (B, tl, d)
        return self.head(target_states)


class ContextDecoder:
    """Transformer over ``<s>`` ⊕ x with the three-segment mask, cross-attending to Linear(z)."""

    def __init__(self, weights: Weights, config: Any):
        self.d_model = config.d_model
        self.memory_length = config.latent_memory_length
        self.token_embedding = weights["decoder.token_embedding.weight"]  # (V, d)
        self.position_embedding = weights["decoder.position_embedding.weight"]  # (K + 1, d)
        self.latent_to_memory = Linear.from_weights(weights, "decoder.latent_to_memory")
        self.transformer = TransformerStack.from_weights(weights, "decoder.transformer", config, cross_attention=True)
        self.output = Linear.from_weights(weights, "decoder.output")

    def memory_keys_values(self, z: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        memory = self.latent_to_memory(z).reshape(z.shape[0], self.memory_length, self.d_model)  # (B, l_z, d)
        return self.transformer.memory_keys_values(memory)

    def embed(self, inputs: np.ndarray, positions: np.ndarray) -> np.ndarray:
        return self.token_embedding[inputs] + self.position_embedding[positions]  # (B, T, d)


class NumpyEngine:
    """An :class:`~clsm_cli.engine.protocol.InferenceEngine` over a CLSM's weights, in numpy."""

    name = "numpy"
    device = "cpu"

    def __init__(self, config: Any, weights: Weights):
        self.config = config
        self.encoder = LatentEncoder(weights, "encoder", config)
        self.prior_network = LatentEncoder(weights, "prior_network", config)
        self.couplings = tuple(
            AffineCoupling.from_weights(weights, f"flow.couplings.{number}", config.z_dim, number % 2 == 0)
            for number in range(config.flow_layers)
        )
        self.decoder = ContextDecoder(weights, config)
        self._last_prior: tuple | None = None  # (context key, mean, logvar) of the last prior

    @classmethod
    def from_tensors(cls, tensors: dict[str, np.ndarray], config: Any, directory: Path) -> "NumpyEngine":
        """The engine of ``checkpoint.read_model_files``'s tensors; ModelError unless they fit ``config``."""
        return cls(config, clsm_weights(tensors, config, directory))

    # Distributions ---------------------------------------------------------------------------

    def prior(self, window: np.ndarray, target: TargetSpan) -> Gaussian:
        """p(w | x_C, τ): the prior network reads the window with the target replaced by ``<p>``.

        The last context's prior is remembered (it depends on the context alone): the model choice
        measures the fit in the window the edit then draws from, so the edit reuses it.
        """
        tokens = self._tokens(window, target)
        tokens[:, target.start : target.end] = PLACEHOLDER_TOKEN
        key = (tokens.tobytes(), target.start, target.length)
        if self._last_prior is None or self._last_prior[0] != key:
            mean, logvar = self.prior_network(tokens, target)  # (1, z_dim) each
            self._last_prior = (key, mean[0], logvar[0])
        _, mean, logvar = self._last_prior
        return Gaussian(mean=mean.copy(), logvar=logvar.copy())

    def posterior(self, window: np.ndarray, target: TargetSpan) -> Gaussian:
        """q(z | x, τ): the encoder reads the whole window."""
        mean, logvar = self.encoder(self._tokens(window, target), target)
        return Gaussian(mean=mean[0], logvar=logvar[0])

    # Flow ------------------------------------------------------------------------------------

    def flow_forward(self, z: np.ndarray) -> np.ndarray:
        """w = f(z): couplings first to last. (n, z_dim) float32"""
        z = self._latents(z)
        for coupling in self.couplings:
            z = coupling.forward(z)
        return z

    def flow_inverse(self, w: np.ndarray) -> np.ndarray:
        """z = f^-1(w): couplings last to first, each undone. (n, z_dim) float32"""
        w = self._latents(w)
        for coupling in reversed(self.couplings):
            w = coupling.inverse(w)
        return w

    # Decoding --------------------------------------------------------------------------------

    def decode(
        self, window: np.ndarray, target: TargetSpan, z: np.ndarray, decoding: Decoding, uniforms: np.ndarray | None,
        step_mask: StepMask | None = None,
    ) -> np.ndarray:
        """x_T (n, length) uint8 for each row of z, left to right with a KV cache."""
        return self.decode_with_logits(window, target, z, decoding, uniforms, step_mask)[0]

    def decode_with_logits(
        self, window: np.ndarray, target: TargetSpan, z: np.ndarray, decoding: Decoding, uniforms: np.ndarray | None,
        step_mask: StepMask | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``decode`` plus the (n, length, C) float32 logits each token was drawn from.

        As ``CLSM.decode``: one pass over the context (``<s>``, x_CL, x_CR; they never attend to
        the target) fills each layer's cache and gives the logits of x_T[0] at input index ts; each
        generated token then appends one position.
        """
        z = self._latents(z)
        batch, start, length = z.shape[0], target.start, target.length
        uniforms = step_uniforms(uniforms, batch, length, decoding)
        inputs = np.concatenate([[START_TOKEN], self._tokens(window, target)[0]])  # (K + 1,)
        context_positions = np.concatenate([np.arange(0, start + 1), np.arange(target.end + 1, inputs.shape[0])])
        target_positions = np.arange(start + 1, target.end)  # (tl - 1,): inputs holding x_T[0..tl-2]
        key_positions = np.concatenate([context_positions, target_positions])  # cache order
        num_context = context_positions.shape[0]

        decoder = self.decoder
        memory_kv = decoder.memory_keys_values(z)
        caches = [LayerCache(key_positions.shape[0]) for _ in decoder.transformer.layers]
        context = np.broadcast_to(decoder.embed(inputs[None, context_positions], context_positions), (batch, num_context, self.config.d_model))
        hidden = decoder.transformer(
            context, context_positions, memory_kv=memory_kv, last_layer_rows=slice(start, start + 1), caches=caches
        )  # (B, 1, d): input index ts predicts x_T[0]
        generated = np.empty((batch, length), dtype=np.int64)
        logits = np.empty((batch, length, self.config.num_music_tokens), dtype=np.float32)
        grid = self.config.grid  # the triplet grid's legal tokens per step (None on 16ths: all)
        for step in range(length):
            if step > 0:
                position = target_positions[step - 1 : step]  # (1,): input index ts+step holds x_T[step-1]
                hidden = decoder.transformer(
                    decoder.embed(generated[:, step - 1 : step], position), position,
                    memory_kv=memory_kv, caches=caches, key_positions=key_positions[: num_context + step],
                )  # (B, 1, d)
            logits[:, step] = decoder.output(hidden[:, 0])  # (B, C)
            allowed = both_allowed(grid.allowed_tokens(step, logits.shape[-1]),
                                   None if step_mask is None else step_mask(step, generated[:, :step]))
            generated[:, step] = choose_tokens(logits[:, step], decoding, None if uniforms is None else uniforms[:, step],
                                               allowed)
        return generated.astype(np.uint8), logits

    def teacher_forced_logits(self, windows: np.ndarray, target: TargetSpan, z: np.ndarray) -> np.ndarray:
        """Logits for x_T given the windows' own target tokens, one full masked pass. (n, length, C)

        ``windows`` is one window (K,) for every row of z, or one per row (n, K). The uncached
        reference of ``decode_with_logits`` (``CLSM.decode_logits``): parity tests feed it the
        tokens either engine generated.
        """
        z = self._latents(z)
        rows = np.asarray(windows).reshape(-1, self.config.window_steps)
        if rows.shape[0] not in (1, z.shape[0]):
            raise ValueError(f"{rows.shape[0]} windows for {z.shape[0]} latents")
        tokens = np.concatenate([self._tokens(row, target) for row in rows])  # (1 or n, K)
        inputs = np.concatenate([np.full((tokens.shape[0], 1), START_TOKEN), tokens], axis=1)  # (1 or n, K + 1)
        positions = np.arange(inputs.shape[1])
        allowed = three_segment_mask(target.start, target.length, inputs.shape[1])
        x = np.broadcast_to(self.decoder.embed(inputs, positions), (z.shape[0], inputs.shape[1], self.config.d_model))
        hidden = self.decoder.transformer(
            x, positions, allowed, self.decoder.memory_keys_values(z), last_layer_rows=slice(target.start, target.end)
        )  # (n, tl, d): input ts+i predicts x_T[i]
        return self.decoder.output(hidden)

    # Checks ----------------------------------------------------------------------------------

    def _tokens(self, window: np.ndarray, target: TargetSpan) -> np.ndarray:
        """One window of music tokens and a target inside it -> a (1, K) int64 copy."""
        window = np.asarray(window)
        window_steps = self.config.window_steps
        if window.shape != (window_steps,):
            raise ValueError(f"a window holds {window_steps} tokens, got shape {window.shape}")
        if not self.config.grid.is_music_window(window):
            raise ValueError("a window holds music tokens only (pitches, R, __, and 3: on the triplet grid)")
        if target.length < 1 or target.start < 0 or target.end > window_steps:
            raise ValueError(f"target {target.start}..{target.end} must be a non-empty range inside 0..{window_steps}")
        return window.astype(np.int64)[None, :]

    def _latents(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.float32)
        if rows.ndim != 2 or rows.shape[1] != self.config.z_dim:
            raise ValueError(f"latents must be rows of {self.config.z_dim} values, got shape {rows.shape}")
        return rows

