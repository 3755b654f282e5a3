"""The latent maths of paper section 2.3, once, in numpy (``engine/latent.py``)."""

import numpy as np
import pytest

from clsm_cli.engine import latent

Z_DIM = 6


def _prior(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(Z_DIM).astype(np.float32), rng.uniform(-2, 0.5, Z_DIM).astype(np.float32)


def test_prior_samples_are_mean_plus_sigma_times_noise():
    mean, logvar = _prior()
    noise = np.random.default_rng(1).standard_normal((4, Z_DIM))
    w = latent.prior_sample_w(mean, logvar, noise)
    assert w.shape == (4, Z_DIM) and w.dtype == np.float32
    np.testing.assert_allclose(w, mean + np.exp(0.5 * logvar) * noise, rtol=1e-6, atol=1e-6)


def test_interpolation_is_linear_in_w_with_exact_ends():
    start, end = (np.random.default_rng(seed).standard_normal(Z_DIM).astype(np.float32) for seed in (2, 3))
    path = latent.interpolate_w(start, end, steps=4)
    assert path.shape == (5, Z_DIM) and path.dtype == np.float32
    assert np.array_equal(path[0], start) and np.array_equal(path[-1], end)
    np.testing.assert_allclose(path[2], (start + end) / 2, rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.diff(path, axis=0), np.repeat(((end - start) / 4)[None], 4, axis=0), rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="at least 1"):
        latent.interpolate_w(start, end, steps=0)


def test_vary_scales_noise_by_the_prior_covariance():
    centre, logvar = _prior(4)
    assert np.array_equal(latent.vary_w(centre, logvar, 0.0, np.ones((3, Z_DIM))), np.repeat(centre[None], 3, axis=0))
    varied = latent.vary_w(centre, logvar, 0.5, np.random.default_rng(0).standard_normal((20000, Z_DIM)))
    np.testing.assert_allclose(varied.std(axis=0), 0.5 * np.exp(0.5 * logvar), rtol=0.05)
    np.testing.assert_allclose(varied.mean(axis=0), centre, rtol=0, atol=0.02)
