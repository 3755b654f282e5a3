"""The evaluation language model: a vanilla causal transformer over whole windows (paper section 4.2).

It is trained on train-2 / valid-2, apart from the generators it judges, and used only to score
samples: ``token_nll`` gives the NLL (nats) of each token given ``<s>`` and the tokens before it.
"Vanilla" means learned absolute positions and plain causal self-attention, no relative embeddings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clsm_cli.constants import START_TOKEN
from clsm_cli.models.config import LMConfig
from clsm_cli.models.layers import TransformerStack, causal_mask


class LanguageModel(nn.Module):
    def __init__(self, config: LMConfig):
        super().__init__()
        self.config = config
        d = config.d_model
        self.token_embedding = nn.Embedding(config.vocab_size, d)
        self.position_embedding = nn.Embedding(config.window_steps, d)
        self.input_dropout = nn.Dropout(config.dropout)
        self.transformer = TransformerStack(
            config.num_layers, d, config.num_heads, config.ff_dim, config.dropout, max_relative_distance=None
        )
        self.output = nn.Linear(d, config.num_music_tokens)

    def logits(self, tokens: Tensor) -> Tensor:
        """Logits for each token of ``tokens`` (B, T) given those before it. (B, T, C)"""
        start = torch.full((tokens.shape[0], 1), START_TOKEN, dtype=tokens.dtype, device=tokens.device)
        previous = torch.cat([start, tokens[:, :-1]], dim=1)  # (B, T): <s> x_0 … x_{T-2}
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.input_dropout(self.token_embedding(previous) + self.position_embedding(positions))  # (B, T, d)
        hidden = self.transformer(x, positions, causal_mask(tokens.shape[1], tokens.device))
        return self.output(hidden)

    def token_nll(self, tokens: Tensor) -> Tensor:
        """Negative log-likelihood in nats of each token given ``<s>`` and the previous ones. (B, T)"""
        logits = self.logits(tokens).float()  # (B, T, C)
        return F.cross_entropy(logits.transpose(1, 2), tokens, reduction="none")

    def forward_loss(self, tokens: Tensor) -> dict[str, Tensor]:
        logits = self.logits(tokens)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), tokens.reshape(-1))
        accuracy = (logits.detach().argmax(-1) == tokens).float().mean()
        return {"loss": loss, "reconstruction": loss.detach(), "accuracy": accuracy}
