"""The one random-number scheme of an edit: numpy generators keyed by seed and candidate.

Every random number an edit uses (the latent noise and the uniforms that sample tokens) comes from
``np.random.default_rng(SeedSequence([seed, candidate, chunk, attempt]))``, drawn in that order:
first ``z_dim`` standard normals, then one uniform per target step. So

* candidate k of a call depends only on (file, bars, seed, k, model, decoding), never on how many
  candidates were asked for: ``-n 4`` is ``-n 2`` plus two more;
* chunk c of a long infill and redraw a of an empty candidate get streams of their own;
* either inference engine (numpy or torch) reads the same numbers, so both write the same notes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CandidateDraws:
    """The random numbers of one decoded target."""

    latent_noise: np.ndarray  # (z_dim,) float32 standard normals
    token_uniforms: np.ndarray  # (target_length,) float64 in [0, 1)


def draw_generator(seed: int, candidate: int, chunk: int = 0, attempt: int = 0) -> np.random.Generator:
    """The generator of one (seed, candidate, chunk, attempt); all four are non-negative integers."""
    keys = (seed, candidate, chunk, attempt)
    if any(int(key) < 0 for key in keys):
        raise ValueError(f"seed, candidate, chunk and attempt must be 0 or more, got {keys}")
    return np.random.default_rng(np.random.SeedSequence([int(key) for key in keys]))


def candidate_draws(
    seed: int, candidate: int, z_dim: int, target_length: int, chunk: int = 0, attempt: int = 0
) -> CandidateDraws:
    """Latent noise, then token uniforms, from the generator of (seed, candidate, chunk, attempt)."""
    generator = draw_generator(seed, candidate, chunk, attempt)
    latent_noise = generator.standard_normal(z_dim).astype(np.float32)
    token_uniforms = generator.random(target_length)
    return CandidateDraws(latent_noise=latent_noise, token_uniforms=token_uniforms)
