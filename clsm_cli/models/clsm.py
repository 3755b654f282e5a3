"""The Contextual Latent Space Model (Akama, ISMIR 2021, section 2), for one 128-step window.

A window x is split as x_CL ⊕ x_T ⊕ x_CR by a target τ = (target_start, target_length) in steps.
Three networks (DESIGN.md section 3):

* encoder q(z | x, τ): relative-attention transformer over x (no mask) -> its outputs at the
  target positions -> Bi-LSTM -> last forward ⊕ last backward state -> two MLPs -> (mean, logvar);
* prior p(z | x_C, τ): the same shape with its own weights, run on x with the target replaced by
  ``<p>``; its Gaussian lives in W, and z = f⁻¹(w) through the realNVP flow f (``flow.py``);
* decoder p(x_T | z, x_C, τ): relative-attention transformer over ``<s>`` ⊕ x with the
  three-segment mask, cross-attending to l_z memory vectors made from z by one Linear.

Decoder indexing: input index 0 holds ``<s>`` and input index j >= 1 holds x[j-1]. The target
tokens x_T[0..tl-1] sit at input indices ts+1..ts+tl, and the logits for x_T[i] are read at input
index ts+i (the position just before it). Three-segment mask: positions holding ``<s>``, x_CL or
x_CR attend to every position except target positions; target positions attend to everything except
later target positions. So the context's states never depend on the target, which is what lets
``decode`` compute them once and then append one position per generated token (KV cache).

Training minimises mean target cross-entropy + β·KL, the paper's eq. 4 with the sign flipped; the KL
is a one-sample estimate log q(z|x) − log p(z|x_C), since the flow prior has no closed form.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clsm_cli.constants import PLACEHOLDER_TOKEN, START_TOKEN
from clsm_cli.sampling import ARGMAX, Decoding, StepMask, both_allowed, choose_tokens, step_uniforms
from clsm_cli.timebase import SIXTEENTH_GRID, Grid
from clsm_cli.models.config import CLSMConfig
from clsm_cli.models.flow import AffineCouplingFlow
from clsm_cli.models.layers import (
    BiLSTMGaussianHead,
    LayerCache,
    TransformerStack,
    check_target,
    gaussian_log_density,
    match_batch,
    standard_normal_like,
)


def three_segment_mask(target_start: int, target_length: int, length: int, device=None) -> Tensor:
    """(length, length) boolean "input u may attend to input v" for ``<s>`` ⊕ x (length = K + 1)."""
    index = torch.arange(length, device=device)
    is_target = (index > target_start) & (index <= target_start + target_length)  # inputs holding x_T
    later = index[None, :] > index[:, None]  # (u, v): v comes after u
    return ~is_target[None, :] | (is_target[:, None] & ~later)


def decoder_inputs(tokens: Tensor) -> Tensor:
    """``<s>`` ⊕ x: (B, K) -> (B, K + 1)."""
    start = torch.full((tokens.shape[0], 1), START_TOKEN, dtype=tokens.dtype, device=tokens.device)
    return torch.cat([start, tokens], dim=1)


def with_placeholders(tokens: Tensor, target_start: int, target_length: int) -> Tensor:
    """x_CL ⊕ p…p ⊕ x_CR: the prior's view of the window, blind to the target."""
    masked = tokens.clone()
    masked[:, target_start : target_start + target_length] = PLACEHOLDER_TOKEN
    return masked


def choose_step_tokens(logits: Tensor, decoding: Decoding, uniforms: Optional[np.ndarray], step: int,
                       grid: Grid = SIXTEENTH_GRID, step_mask: Optional[StepMask] = None,
                       generated: Optional[Tensor] = None) -> Tensor:
    """The step's tokens (B,) from its logits (B, C) by ``choose_tokens``, the numpy engine's rule:
    only the tokens legal at this step of the target on the model's grid (``Grid.allowed_tokens``)
    and that ``step_mask`` allows, given the (B, step) tokens ``generated`` before it."""
    column = None if uniforms is None else uniforms[:, step]
    allowed = both_allowed(grid.allowed_tokens(step, logits.shape[-1]),
                           None if step_mask is None else step_mask(step, generated[:, :step].cpu().numpy()))
    chosen = choose_tokens(logits.float().cpu().numpy(), decoding, column, allowed)  # (B,) int64
    return torch.from_numpy(chosen).to(logits.device)


class LatentEncoder(nn.Module):
    """Transformer (relative attention, no mask) -> target positions -> Bi-LSTM -> Gaussian."""

    def __init__(self, config: CLSMConfig):
        super().__init__()
        d = config.d_model
        self.token_embedding = nn.Embedding(config.vocab_size, d)
        self.position_embedding = nn.Embedding(config.window_steps, d)
        self.input_dropout = nn.Dropout(config.dropout)
        self.transformer = TransformerStack(
            config.num_layers, d, config.num_heads, config.ff_dim, config.dropout, config.max_relative_distance
        )
        self.head = BiLSTMGaussianHead(
            d, config.lstm_hidden, config.lstm_layers, config.dropout, config.mlp_hidden, config.z_dim
        )

    def forward(self, tokens: Tensor, target_start: int, target_length: int) -> tuple[Tensor, Tensor]:
        positions = torch.arange(tokens.shape[1], device=tokens.device)  # (K,)
        x = self.input_dropout(self.token_embedding(tokens) + self.position_embedding(positions))  # (B, K, d)
        # Only E_T feeds the Bi-LSTM, so the last layer computes the target rows alone.
        target_states = self.transformer(
            x, positions, last_layer_rows=slice(target_start, target_start + target_length)
        )  # (B, tl, d)
        return self.head(target_states)  # (B, z_dim) each


class ContextDecoder(nn.Module):
    """Transformer over ``<s>`` ⊕ x with the three-segment mask, cross-attending to Linear(z)."""

    def __init__(self, config: CLSMConfig):
        super().__init__()
        d = config.d_model
        self.d_model = d
        self.memory_length = config.latent_memory_length
        self.token_embedding = nn.Embedding(config.vocab_size, d)
        self.position_embedding = nn.Embedding(config.window_steps + 1, d)
        self.input_dropout = nn.Dropout(config.dropout)
        self.latent_to_memory = nn.Linear(config.z_dim, config.latent_memory_length * d)
        self.transformer = TransformerStack(
            config.num_layers, d, config.num_heads, config.ff_dim, config.dropout, config.max_relative_distance,
            cross_attention=True,
        )
        self.output = nn.Linear(d, config.num_music_tokens)

    def memory_keys_values(self, z: Tensor) -> list[tuple[Tensor, Tensor]]:
        memory = self.latent_to_memory(z).view(z.shape[0], self.memory_length, self.d_model)  # (B, l_z, d)
        return self.transformer.memory_keys_values(memory)

    def embed(self, inputs: Tensor, positions: Tensor) -> Tensor:
        return self.input_dropout(self.token_embedding(inputs) + self.position_embedding(positions))  # (B, T, d)

    def hidden(self, inputs: Tensor, target_start: int, target_length: int, z: Tensor, rows=None) -> Tensor:
        """Full masked pass over all K + 1 inputs -> (B, K + 1 or len(rows), d)."""
        positions = torch.arange(inputs.shape[1], device=inputs.device)  # (K + 1,)
        allowed = three_segment_mask(target_start, target_length, inputs.shape[1], inputs.device)
        return self.transformer(
            self.embed(inputs, positions), positions, allowed, self.memory_keys_values(z), last_layer_rows=rows
        )


class CLSM(nn.Module):
    """Encoder, conditional flow prior and contextual decoder; see the module docstring."""

    def __init__(self, config: CLSMConfig):
        super().__init__()
        self.config = config
        self.encoder = LatentEncoder(config)
        self.prior_network = LatentEncoder(config)
        self.flow = AffineCouplingFlow(config.z_dim, config.flow_layers, config.flow_hidden)
        self.decoder = ContextDecoder(config)

    # Distributions ---------------------------------------------------------------------------

    def posterior(self, tokens: Tensor, target_start: int, target_length: int) -> tuple[Tensor, Tensor]:
        """q(z | x, τ): (mean, logvar), each (B, z_dim). The encoder sees the whole window."""
        check_target(target_start, target_length, self.config.window_steps)
        return self.encoder(tokens, target_start, target_length)

    def prior(self, tokens: Tensor, target_start: int, target_length: int) -> tuple[Tensor, Tensor]:
        """p_ξ(w | x_C, τ): (w_mean, w_logvar), each (B, z_dim). Target tokens are replaced by <p>."""
        check_target(target_start, target_length, self.config.window_steps)
        return self.prior_network(with_placeholders(tokens, target_start, target_length), target_start, target_length)

    def prior_log_density(self, z: Tensor, w_mean: Tensor, w_logvar: Tensor) -> Tensor:
        """log p(z | x_C, τ) = log N(f(z); μ_w, σ_w) + log|det ∂f/∂z|. (B,)"""
        w, logdet = self.flow(z)
        return gaussian_log_density(w, w_mean, w_logvar) + logdet

    # Training --------------------------------------------------------------------------------

    def forward_loss(
        self,
        tokens: Tensor,
        target_start: int,
        target_length: int,
        kl_weight: float,
        generator: Optional[torch.Generator] = None,
        noise: Optional[Tensor] = None,
    ) -> dict[str, Tensor]:
        """The minimised objective: mean target cross-entropy + kl_weight · KL (one posterior sample).

        ``noise`` (B, z_dim) gives the posterior sample's standard-normal draws (the trainer draws
        them for a whole data-parallel batch); without it they come from ``generator``.
        """
        mean, logvar = self.posterior(tokens, target_start, target_length)  # (B, z_dim)
        noise = standard_normal_like(mean, noise, generator)  # (B, z_dim)
        z = mean + torch.exp(0.5 * logvar) * noise  # (B, z_dim), reparameterised
        log_q = -0.5 * (noise**2 + logvar + math.log(2 * math.pi)).sum(-1)  # log q(z | x, τ), (B,)
        w_mean, w_logvar = self.prior(tokens, target_start, target_length)
        log_p = self.prior_log_density(z, w_mean, w_logvar)  # (B,)
        kl = (log_q - log_p).mean()

        logits = self.decode_logits(tokens, target_start, target_length, z)  # (B, tl, C)
        target = tokens[:, target_start : target_start + target_length]  # (B, tl)
        reconstruction = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), target.reshape(-1))
        accuracy = (logits.detach().argmax(-1) == target).float().mean()
        return {
            "loss": reconstruction + kl_weight * kl,
            "reconstruction": reconstruction,
            "kl": kl,
            "accuracy": accuracy,
        }

    # Decoding --------------------------------------------------------------------------------

    def decode_logits(self, tokens: Tensor, target_start: int, target_length: int, z: Tensor) -> Tensor:
        """Teacher-forced logits for x_T given the window's own target tokens. (B, tl, C)"""
        check_target(target_start, target_length, self.config.window_steps)
        tokens = match_batch(tokens, z.shape[0])
        rows = slice(target_start, target_start + target_length)  # input ts+i predicts x_T[i]
        return self.decoder.output(self.decoder.hidden(decoder_inputs(tokens), target_start, target_length, z, rows))

    def decoder_hidden_states(self, tokens: Tensor, target_start: int, target_length: int, z: Tensor) -> Tensor:
        """Final decoder states at every input position (B, K + 1, d); for tests and analysis."""
        check_target(target_start, target_length, self.config.window_steps)
        tokens = match_batch(tokens, z.shape[0])
        return self.decoder.hidden(decoder_inputs(tokens), target_start, target_length, z)

    @torch.inference_mode()
    def decode(
        self,
        tokens: Tensor,
        target_start: int,
        target_length: int,
        z: Tensor,
        decoding: Decoding = ARGMAX,
        uniforms: Optional[np.ndarray] = None,
        return_logits: bool = False,
        step_mask: Optional[StepMask] = None,
    ):
        """Generate x_T (B, tl) for each z (B, z_dim) with a KV cache; ``tokens`` may be (1, K).

        The context positions (``<s>``, x_CL, x_CR) never attend to the target, so one pass over
        them fills each layer's cache; each generated token then appends one position. The target
        positions of ``tokens`` are ignored. Each token is drawn by ``sampling.choose_tokens`` from
        the step's logits and ``uniforms[:, step]`` ((B, tl) numbers in [0, 1) the caller drew;
        None for argmax), so the numpy engine draws the same tokens; ``step_mask`` gives each step's
        allowed tokens (``sampling.StepMask``). With ``return_logits`` also
        returns the (B, tl, C) logits each token was drawn from.
        """
        check_target(target_start, target_length, self.config.window_steps)
        tokens = match_batch(tokens, z.shape[0])
        uniforms = step_uniforms(uniforms, z.shape[0], target_length, decoding)
        batch, device = z.shape[0], z.device
        decoder = self.decoder
        inputs = decoder_inputs(tokens)  # (B, K + 1)
        last_input = inputs.shape[1]
        context_positions = torch.cat([
            torch.arange(0, target_start + 1, device=device),
            torch.arange(target_start + target_length + 1, last_input, device=device),
        ])  # (n_ctx,): <s>, x_CL, x_CR
        target_positions = torch.arange(target_start + 1, target_start + target_length, device=device)  # (tl-1,)
        key_positions = torch.cat([context_positions, target_positions])  # cache order
        num_context = context_positions.shape[0]

        memory_kv = decoder.memory_keys_values(z)
        caches = [LayerCache(capacity=key_positions.shape[0]) for _ in decoder.transformer.layers]
        # One pass over the context fills the caches; its row ts (input index ts) predicts x_T[0].
        hidden = decoder.transformer(
            decoder.embed(inputs[:, context_positions], context_positions), context_positions,
            memory_kv=memory_kv, last_layer_rows=slice(target_start, target_start + 1), caches=caches,
        )  # (B, 1, d)
        generated = torch.empty(batch, target_length, dtype=torch.long, device=device)
        all_logits = []
        for step in range(target_length):
            if step > 0:
                position = target_positions[step - 1 : step]  # (1,): input index ts+step holds x_T[step-1]
                hidden = decoder.transformer(
                    decoder.embed(generated[:, step - 1 : step], position), position,
                    memory_kv=memory_kv, caches=caches, key_positions=key_positions[: num_context + step],
                )  # (B, 1, d)
            logits = decoder.output(hidden[:, 0])  # (B, C)
            generated[:, step] = choose_step_tokens(logits, decoding, uniforms, step, self.config.grid, step_mask,
                                                    generated)
            all_logits.append(logits)
        if return_logits:
            return generated, torch.stack(all_logits, dim=1)
        return generated

    @torch.inference_mode()
    def decode_uncached(
        self,
        tokens: Tensor,
        target_start: int,
        target_length: int,
        z: Tensor,
        decoding: Decoding = ARGMAX,
        uniforms: Optional[np.ndarray] = None,
        return_logits: bool = False,
        step_mask: Optional[StepMask] = None,
    ):
        """Same contract as ``decode``, recomputing the whole decoder over all K + 1 inputs per step.

        The reference for the cache's parity test and the baseline of ``benchmarks/decode.py``.
        """
        check_target(target_start, target_length, self.config.window_steps)
        tokens = match_batch(tokens, z.shape[0])
        uniforms = step_uniforms(uniforms, z.shape[0], target_length, decoding)
        inputs = decoder_inputs(tokens).clone()  # (B, K + 1)
        inputs[:, target_start + 1 : target_start + target_length + 1] = PLACEHOLDER_TOKEN  # not generated yet
        generated = torch.empty(z.shape[0], target_length, dtype=torch.long, device=z.device)
        all_logits = []
        for step in range(target_length):
            hidden = self.decoder.hidden(inputs, target_start, target_length, z)  # (B, K + 1, d)
            logits = self.decoder.output(hidden[:, target_start + step])  # (B, C)
            generated[:, step] = choose_step_tokens(logits, decoding, uniforms, step, self.config.grid, step_mask,
                                                    generated)
            inputs[:, target_start + step + 1] = generated[:, step]
            all_logits.append(logits)
        if return_logits:
            return generated, torch.stack(all_logits, dim=1)
        return generated
