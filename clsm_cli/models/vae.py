"""The VAE baseline (paper section 3.2.1): Bi-LSTM encoder over the whole window, LSTM decoder.

The prior is N(0, I), so the latent knows nothing of the context. Training maximises the ELBO over
the whole window, eq. 9: we minimise the mean per-token cross-entropy (the 1/|x| normalisation) +
γ·KL(q(z|x) || N(0, I)), the KL computed analytically.

Infilling (eq. 11): teacher-force the decoder over ``<s>`` ⊕ x_CL with z, then generate |x_T| tokens.
The decoder has no view of x_CR; that is the baseline's known weakness, kept on purpose.

The decoder reads z twice, as is usual for sequence VAEs (MusicVAE): its initial LSTM state is
tanh(Linear(z)) and z is concatenated to every input embedding.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clsm_cli.constants import START_TOKEN
from clsm_cli.models.config import VAEConfig
from clsm_cli.models.layers import GaussianMLP, check_target, lstm_dropout, match_batch, sample_logits, standard_normal_like


class VAE(nn.Module):
    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = config
        between_layers = lstm_dropout(config.dropout, config.lstm_layers)
        self.token_embedding = nn.Embedding(config.vocab_size, config.embedding_dim)
        self.encoder_lstm = nn.LSTM(
            config.embedding_dim, config.lstm_hidden, num_layers=config.lstm_layers, batch_first=True,
            bidirectional=True, dropout=between_layers,
        )
        self.mean = GaussianMLP(2 * config.lstm_hidden, config.mlp_hidden, config.z_dim)
        self.logvar = GaussianMLP(2 * config.lstm_hidden, config.mlp_hidden, config.z_dim)
        self.latent_to_state = nn.Linear(config.z_dim, 2 * config.lstm_layers * config.lstm_hidden)
        self.decoder_lstm = nn.LSTM(
            config.embedding_dim + config.z_dim, config.lstm_hidden, num_layers=config.lstm_layers,
            batch_first=True, dropout=between_layers,
        )
        self.output = nn.Linear(config.lstm_hidden, config.num_music_tokens)

    def posterior(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """q(z | x): (mean, logvar), each (B, z_dim), from the whole window."""
        _, (h_n, _) = self.encoder_lstm(self.token_embedding(tokens))  # h_n: (layers * 2, B, H)
        summary = torch.cat([h_n[-2], h_n[-1]], dim=-1)  # (B, 2H): last fwd ⊕ last bwd
        return self.mean(summary), self.logvar(summary)

    def sample_prior(self, n: int, generator: Optional[torch.Generator] = None, device=None) -> Tensor:
        """n draws z ~ N(0, I). (n, z_dim)"""
        device = device if device is not None else self.output.weight.device
        return torch.randn((n, self.config.z_dim), generator=generator, device=device)

    def _initial_state(self, z: Tensor) -> tuple[Tensor, Tensor]:
        layers, hidden = self.config.lstm_layers, self.config.lstm_hidden
        state = torch.tanh(self.latent_to_state(z)).view(z.shape[0], 2, layers, hidden)  # (B, 2, L, H)
        return state[:, 0].transpose(0, 1).contiguous(), state[:, 1].transpose(0, 1).contiguous()  # (L, B, H) each

    def _run_decoder(self, previous: Tensor, z: Tensor, state=None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Logits (B, T, C) after reading ``previous`` tokens (B, T), and the LSTM state."""
        embedded = self.token_embedding(previous)  # (B, T, E)
        inputs = torch.cat([embedded, z[:, None, :].expand(-1, previous.shape[1], -1)], dim=-1)  # (B, T, E + z)
        outputs, state = self.decoder_lstm(inputs, state if state is not None else self._initial_state(z))
        return self.output(outputs), state  # (B, T, C)

    def forward_loss(
        self,
        tokens: Tensor,
        kl_weight: float,
        generator: Optional[torch.Generator] = None,
        noise: Optional[Tensor] = None,
    ) -> dict[str, Tensor]:
        """Mean per-token cross-entropy over the window + kl_weight · analytic KL (eq. 9, minimised).

        ``noise`` (B, z_dim) gives the posterior sample's standard-normal draws; without it they
        come from ``generator``.
        """
        mean, logvar = self.posterior(tokens)  # (B, z_dim)
        noise = standard_normal_like(mean, noise, generator)  # (B, z_dim)
        z = mean + torch.exp(0.5 * logvar) * noise
        kl = (-0.5 * (1 + logvar - mean**2 - torch.exp(logvar)).sum(-1)).mean()
        previous = _shift_right(tokens)  # (B, K): <s> x_0 … x_{K-2}
        logits, _ = self._run_decoder(previous, z)  # (B, K, C)
        reconstruction = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), tokens.reshape(-1))
        accuracy = (logits.detach().argmax(-1) == tokens).float().mean()
        return {"loss": reconstruction + kl_weight * kl, "reconstruction": reconstruction, "kl": kl, "accuracy": accuracy}

    def decode_logits(self, tokens: Tensor, target_start: int, target_length: int, z: Tensor) -> Tensor:
        """Teacher-forced logits for x_T from z and x_CL (nothing to the right). (B, tl, C)"""
        check_target(target_start, target_length, self.config.window_steps)
        tokens = match_batch(tokens, z.shape[0])
        previous = _shift_right(tokens)[:, : target_start + target_length]  # (B, ts + tl)
        logits, _ = self._run_decoder(previous, z)
        return logits[:, target_start:]

    @torch.inference_mode()
    def decode(
        self,
        tokens: Tensor,
        target_start: int,
        target_length: int,
        z: Tensor,
        temperature: float = 0.0,
        top_p: float = 1.0,
        generator: Optional[torch.Generator] = None,
    ) -> Tensor:
        """Read ``<s>`` ⊕ x_CL with z, then generate x_T (B, tl); ``tokens`` may be (1, K)."""
        check_target(target_start, target_length, self.config.window_steps)
        tokens = match_batch(tokens, z.shape[0])
        previous = _shift_right(tokens)[:, : target_start + 1]  # (B, ts + 1): <s> ⊕ x_CL
        logits, state = self._run_decoder(previous, z)
        generated = torch.empty(z.shape[0], target_length, dtype=torch.long, device=z.device)
        for step in range(target_length):
            if step > 0:
                logits, state = self._run_decoder(generated[:, step - 1 : step], z, state)
            generated[:, step] = sample_logits(logits[:, -1], temperature, top_p, generator)
        return generated


def _shift_right(tokens: Tensor) -> Tensor:
    """<s> ⊕ x without its last token: the decoder's input at each position. (B, K)"""
    start = torch.full((tokens.shape[0], 1), START_TOKEN, dtype=tokens.dtype, device=tokens.device)
    return torch.cat([start, tokens[:, :-1]], dim=1)

