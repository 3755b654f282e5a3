"""The CLSM's flow f: Z -> W, a stack of realNVP affine couplings (paper eq. 5-6, section 2.4.2).

Each coupling keeps one half of the vector and moves the other half by a scale and shift computed
from the kept half: ``b' = b * exp(s(a)) + t(a)``, with ``s`` squashed by tanh. Successive couplings
alternate which half moves. The couplings do not see the musical context: only the Gaussian
p(w | x_C, τ) does, so f is one fixed reshaping of the latent space shared by every context.

``forward(z) -> (w, logdet)`` gives log|det ∂w/∂z| for the density
``log p(z) = log N(f(z); μ, σ) + log|det ∂f/∂z|``; ``inverse(w)`` maps W back to Z exactly.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

LEAKY_SLOPE = 0.01  # paper: leaky ReLUs with a negative slope of 0.01


def _coupling_mlp(in_dim: int, hidden: int, out_dim: int, squash: bool) -> nn.Sequential:
    """Three linear layers with leaky ReLUs between them; tanh after the last for the scale net."""
    layers = [
        nn.Linear(in_dim, hidden), nn.LeakyReLU(LEAKY_SLOPE),
        nn.Linear(hidden, hidden), nn.LeakyReLU(LEAKY_SLOPE),
        nn.Linear(hidden, out_dim),
    ]
    if squash:
        layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class AffineCoupling(nn.Module):
    """One realNVP coupling that moves the first or the second half of its input."""

    def __init__(self, dim: int, hidden: int, moves_second_half: bool):
        super().__init__()
        self.split = dim // 2
        self.moves_second_half = moves_second_half
        kept, moved = (self.split, dim - self.split) if moves_second_half else (dim - self.split, self.split)
        self.scale_net = _coupling_mlp(kept, hidden, moved, squash=True)
        self.shift_net = _coupling_mlp(kept, hidden, moved, squash=False)

    def _halves(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(kept, moved) halves of x (B, dim)."""
        first, second = x[:, : self.split], x[:, self.split :]
        return (first, second) if self.moves_second_half else (second, first)

    def _join(self, kept: Tensor, moved: Tensor) -> Tensor:
        return torch.cat([kept, moved] if self.moves_second_half else [moved, kept], dim=-1)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        kept, moved = self._halves(z)
        log_scale = self.scale_net(kept)  # (B, moved), in (-1, 1)
        moved = moved * torch.exp(log_scale) + self.shift_net(kept)
        return self._join(kept, moved), log_scale.sum(-1)  # (B, dim), (B,)

    def inverse(self, w: Tensor) -> Tensor:
        kept, moved = self._halves(w)
        moved = (moved - self.shift_net(kept)) * torch.exp(-self.scale_net(kept))
        return self._join(kept, moved)


class AffineCouplingFlow(nn.Module):
    """f = coupling_n ∘ ... ∘ coupling_1, alternating the moved half (second, first, second, ...)."""

    def __init__(self, dim: int, num_layers: int, hidden: int):
        super().__init__()
        self.couplings = nn.ModuleList(
            AffineCoupling(dim, hidden, moves_second_half=(number % 2 == 0)) for number in range(num_layers)
        )

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """z (B, dim) -> w = f(z) (B, dim) and log|det ∂f/∂z| (B,)."""
        logdet = z.new_zeros(z.shape[0])
        for coupling in self.couplings:
            z, coupling_logdet = coupling(z)
            logdet = logdet + coupling_logdet
        return z, logdet

    def inverse(self, w: Tensor) -> Tensor:
        """w (B, dim) -> z = f⁻¹(w) (B, dim)."""
        for coupling in reversed(self.couplings):
            w = coupling.inverse(w)
        return w
