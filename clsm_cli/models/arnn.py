"""The Anticipation-RNN baseline (Hadjeres & Nielsen; paper section 3.2.2).

Two LSTM stacks. The constraint-RNN reads the constraint sequence c_0..c_{K-1} from right to left,
where c_t is the token fixed at step t or ``<p>`` ("no constraint"); its output o_t summarises every
constraint at or after t. The token-RNN runs left to right: at step t it reads its previous token
x_{t-1} (``<s>`` at t = 0) together with o_t and predicts x_t. Training is cross-entropy over every
position, teacher forced, with constraint masks drawn either at random positions (ARNN) or as the
complement of a CLSM target set (ARNN_T): see :func:`random_constraint_mask`.

Infilling: the context steps are constraints, the target steps are unconstrained; the token-RNN
runs left to right, copying context tokens and sampling the target ones.
"""

from __future__ import annotations

from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clsm_cli.constants import PLACEHOLDER_TOKEN, START_TOKEN, STEPS_PER_BAR, TARGET_LENGTHS_STEPS, WINDOW_STEPS
from clsm_cli.models.config import ARNNConfig
from clsm_cli.models.layers import check_target, lstm_dropout, sample_logits

CONSTRAINT_MODES = ("random", "targets")


def random_constraint_mask(
    batch: Union[int, Tensor],
    mode: str,
    generator: Optional[torch.Generator] = None,
    window_steps: int = WINDOW_STEPS,
    target_lengths: tuple[int, ...] = TARGET_LENGTHS_STEPS,
    steps_per_bar: int = STEPS_PER_BAR,
    device=None,
) -> Tensor:
    """(B, K) boolean, True where a step is constrained; ``batch`` is a size or a token batch.

    ``"random"``: each row draws a proportion p ~ U(0, 1) and constrains each step with probability
    p (ARNN). ``"targets"``: each row draws a CLSM target τ (|x_T| from ``target_lengths``, then a
    bar-aligned start) and constrains every step outside it (ARNN_T).
    """
    if isinstance(batch, Tensor):
        device = batch.device if device is None else device
        batch = batch.shape[0]
    if mode == "random":
        proportion = torch.rand((batch, 1), generator=generator, device=device)
        return torch.rand((batch, window_steps), generator=generator, device=device) < proportion
    if mode == "targets":
        lengths = torch.tensor(target_lengths, device=device)
        length = lengths[torch.randint(len(target_lengths), (batch,), generator=generator, device=device)]  # (B,)
        num_starts = (window_steps - length) // steps_per_bar + 1  # (B,)
        start = (torch.rand((batch,), generator=generator, device=device) * num_starts).long() * steps_per_bar
        steps = torch.arange(window_steps, device=device)[None, :]  # (1, K)
        return ~((steps >= start[:, None]) & (steps < (start + length)[:, None]))
    raise ValueError(f"mode must be one of {CONSTRAINT_MODES}, got {mode!r}")


def context_constraint_mask(batch: int, target_start: int, target_length: int, window_steps: int, device=None) -> Tensor:
    """(B, K): every step but the target is constrained."""
    mask = torch.ones(batch, window_steps, dtype=torch.bool, device=device)
    mask[:, target_start : target_start + target_length] = False
    return mask


class ARNN(nn.Module):
    def __init__(self, config: ARNNConfig):
        super().__init__()
        self.config = config
        between_layers = lstm_dropout(config.dropout, config.lstm_layers)
        self.token_embedding = nn.Embedding(config.vocab_size, config.embedding_dim)
        self.constraint_embedding = nn.Embedding(config.vocab_size, config.embedding_dim)
        self.constraint_rnn = nn.LSTM(
            config.embedding_dim, config.lstm_hidden, num_layers=config.lstm_layers, batch_first=True,
            dropout=between_layers,
        )
        self.token_rnn = nn.LSTM(
            config.embedding_dim + config.lstm_hidden, config.lstm_hidden, num_layers=config.lstm_layers,
            batch_first=True, dropout=between_layers,
        )
        self.output = nn.Linear(config.lstm_hidden, config.num_music_tokens)

    def constraint_states(self, tokens: Tensor, constraint_mask: Tensor) -> Tensor:
        """o_t for every step (B, K, H): the constraint-RNN run right to left over c."""
        constraints = torch.where(constraint_mask, tokens, torch.full_like(tokens, PLACEHOLDER_TOKEN))  # (B, K)
        reversed_outputs, _ = self.constraint_rnn(self.constraint_embedding(constraints.flip(1)))  # (B, K, H)
        return reversed_outputs.flip(1)

    def _run_tokens(self, previous: Tensor, constraint_out: Tensor, state=None):
        """Logits (B, T, C) after reading previous tokens (B, T) with o_t (B, T, H), and the state."""
        inputs = torch.cat([self.token_embedding(previous), constraint_out], dim=-1)  # (B, T, E + H)
        outputs, state = self.token_rnn(inputs, state)
        return self.output(outputs), state

    def logits(self, tokens: Tensor, constraint_mask: Tensor) -> Tensor:
        """Teacher-forced logits for every step (B, K, C)."""
        start = torch.full((tokens.shape[0], 1), START_TOKEN, dtype=tokens.dtype, device=tokens.device)
        previous = torch.cat([start, tokens[:, :-1]], dim=1)  # (B, K)
        logits, _ = self._run_tokens(previous, self.constraint_states(tokens, constraint_mask))
        return logits

    def forward_loss(
        self,
        tokens: Tensor,
        constraint_mask: Optional[Tensor] = None,
        generator: Optional[torch.Generator] = None,
    ) -> dict[str, Tensor]:
        """Cross-entropy over all positions; without a mask one is drawn in the config's mode."""
        if constraint_mask is None:
            constraint_mask = random_constraint_mask(
                tokens, self.config.constraint_mode, generator, self.config.window_steps,
                self.config.target_lengths, self.config.steps_per_bar,
            )
        logits = self.logits(tokens, constraint_mask)  # (B, K, C)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), tokens.reshape(-1))
        accuracy = (logits.detach().argmax(-1) == tokens).float().mean()
        return {"loss": loss, "reconstruction": loss.detach(), "accuracy": accuracy}

    def target_logits(self, tokens: Tensor, target_start: int, target_length: int) -> Tensor:
        """Teacher-forced logits at the target steps, the context constrained. (B, tl, C)"""
        check_target(target_start, target_length, self.config.window_steps)
        mask = context_constraint_mask(tokens.shape[0], target_start, target_length, tokens.shape[1], tokens.device)
        return self.logits(tokens, mask)[:, target_start : target_start + target_length]

    @torch.inference_mode()
    def sample(
        self,
        tokens: Tensor,
        target_start: int,
        target_length: int,
        temperature: float = 1.0,
        generator: Optional[torch.Generator] = None,
        top_p: float = 1.0,
    ) -> Tensor:
        """Target tokens (B, tl) given the context of ``tokens`` (B, K); context steps are forced."""
        check_target(target_start, target_length, self.config.window_steps)
        mask = context_constraint_mask(tokens.shape[0], target_start, target_length, tokens.shape[1], tokens.device)
        constraint_out = self.constraint_states(tokens, mask)  # (B, K, H)
        start = torch.full((tokens.shape[0], 1), START_TOKEN, dtype=tokens.dtype, device=tokens.device)
        previous = torch.cat([start, tokens[:, :target_start]], dim=1)  # (B, ts + 1): x_CL is forced
        logits, state = self._run_tokens(previous, constraint_out[:, : target_start + 1])
        generated = torch.empty(tokens.shape[0], target_length, dtype=torch.long, device=tokens.device)
        for step in range(target_length):
            if step > 0:
                position = target_start + step
                logits, state = self._run_tokens(
                    generated[:, step - 1 : step], constraint_out[:, position : position + 1], state
                )
            generated[:, step] = sample_logits(logits[:, -1], temperature, top_p, generator)
        return generated
