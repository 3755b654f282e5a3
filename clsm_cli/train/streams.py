"""The run's random streams, seeded apart, saved in every checkpoint and restored on resume.

- conditions: τ and ARNN constraint masks; one CPU stream that every rank advances identically;
- noise: the latent models' posterior noise for the global batch, on the device, shared by ranks
  (seeded as rank 0's stream was when noise was drawn per rank, so one-process runs are unchanged);
- torch's global stream: dropout, one per rank.
Model initialisation and the batch order have their own seeds (``step.derive_seed``).
"""

from __future__ import annotations

import torch

from clsm_cli.train.distributed import Runtime, all_gather_objects
from clsm_cli.train.step import derive_seed


class RandomStreams:
    def __init__(self, seed: int, runtime: Runtime):
        self.runtime = runtime
        self.conditions = torch.Generator().manual_seed(derive_seed(seed, "conditions"))
        self.noise = torch.Generator(device=runtime.device).manual_seed(derive_seed(seed, "noise", 0))
        torch.manual_seed(derive_seed(seed, "dropout", runtime.rank))

    def gather(self) -> dict[str, torch.Tensor]:
        """Every stream's state; the per-rank streams are collected from all ranks (a collective call)."""
        own = {"torch": torch.get_rng_state()}
        if self.runtime.device.type == "cuda":
            own["cuda"] = torch.cuda.get_rng_state(self.runtime.device)
        states = {"conditions": self.conditions.get_state(), "noise": self.noise.get_state()}
        for rank, rank_states in enumerate(all_gather_objects(own, self.runtime)):
            for name, value in rank_states.items():
                states[f"rank{rank}/{name}"] = value
        return states

    def restore(self, states: dict[str, torch.Tensor]) -> None:
        self.conditions.set_state(states["conditions"])
        noise = states.get("noise", states.get("rank0/noise"))  # older checkpoints kept one per rank
        if noise is not None:
            try:
                self.noise.set_state(noise)
            except RuntimeError:  # the saved run used another device type; keep the fresh stream
                pass
        prefix = f"rank{self.runtime.rank}/"
        if prefix + "torch" not in states:
            return  # a rank the saved run did not have keeps its freshly seeded dropout stream
        torch.set_rng_state(states[prefix + "torch"])
        if self.runtime.device.type == "cuda" and prefix + "cuda" in states:
            torch.cuda.set_rng_state(states[prefix + "cuda"], self.runtime.device)
