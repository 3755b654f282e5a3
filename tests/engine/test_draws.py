"""The random-number scheme: one generator per (seed, candidate, chunk, attempt)."""

import numpy as np
import pytest

from clsm_cli.engine.draws import candidate_draws


def test_candidate_k_does_not_depend_on_how_many_are_asked_for():
    first_of_two = [candidate_draws(7, k, 8, 32) for k in range(2)]
    first_of_four = [candidate_draws(7, k, 8, 32) for k in range(4)][:2]
    for a, b in zip(first_of_two, first_of_four):
        assert np.array_equal(a.latent_noise, b.latent_noise) and np.array_equal(a.token_uniforms, b.token_uniforms)


def test_every_key_gives_its_own_stream():
    base = candidate_draws(7, 0, 8, 32)
    for other in (candidate_draws(8, 0, 8, 32), candidate_draws(7, 1, 8, 32), candidate_draws(7, 0, 8, 32, chunk=1),
                  candidate_draws(7, 0, 8, 32, attempt=1)):
        assert not np.array_equal(base.latent_noise, other.latent_noise)
    assert base.latent_noise.dtype == np.float32 and base.latent_noise.shape == (8,)
    assert base.token_uniforms.shape == (32,) and 0 <= base.token_uniforms.min() and base.token_uniforms.max() < 1


def test_negative_keys_are_refused():
    with pytest.raises(ValueError, match="0 or more"):
        candidate_draws(-1, 0, 8, 32)
