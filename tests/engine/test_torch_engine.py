"""The torch adapter answers the protocol with the reference model's numbers, as numpy."""

import numpy as np
import pytest
import torch

from clsm_cli.engine.protocol import TargetSpan
from clsm_cli.sampling import ARGMAX, Decoding
from clsm_cli.engine.torch_engine import TorchEngine

from .conftest import random_window

TARGET = TargetSpan(start=32, length=32)


@pytest.fixture
def engine(tiny_torch_model):
    return TorchEngine(tiny_torch_model, "cpu")


def test_prior_and_posterior_are_the_models_gaussians_as_float32_rows(engine, tiny_torch_model):
    window = random_window(1)
    tokens = torch.as_tensor(window.astype(np.int64))[None]
    prior = engine.prior(window, TARGET)
    posterior = engine.posterior(window, TARGET)
    with torch.inference_mode():
        expected_prior = tiny_torch_model.prior(tokens, 32, 32)
        expected_posterior = tiny_torch_model.posterior(tokens, 32, 32)
    for gaussian, (mean, logvar) in [(prior, expected_prior), (posterior, expected_posterior)]:
        assert gaussian.mean.dtype == np.float32 and gaussian.mean.shape == (engine.config.z_dim,)
        np.testing.assert_array_equal(gaussian.mean, mean[0].numpy())
        np.testing.assert_array_equal(gaussian.logvar, logvar[0].numpy())
    assert not np.allclose(prior.mean, posterior.mean)


def test_flow_inverse_undoes_flow_forward(engine):
    z = np.random.default_rng(2).standard_normal((5, engine.config.z_dim)).astype(np.float32)
    w = engine.flow_forward(z)
    assert w.shape == z.shape and w.dtype == np.float32 and not np.allclose(w, z)
    np.testing.assert_allclose(engine.flow_inverse(w), z, rtol=0, atol=1e-5)


def test_decode_gives_uint8_music_tokens_and_follows_the_uniforms(engine):
    window = random_window(3)
    z = np.random.default_rng(4).standard_normal((3, engine.config.z_dim)).astype(np.float32)
    uniforms = np.random.default_rng(5).random((3, 32))
    sampled = engine.decode(window, TARGET, z, Decoding(1.0, 0.95), uniforms)
    assert sampled.shape == (3, 32) and sampled.dtype == np.uint8 and int(sampled.max()) < 32
    np.testing.assert_array_equal(engine.decode(window, TARGET, z, Decoding(1.0, 0.95), uniforms), sampled)
    other = engine.decode(window, TARGET, z, Decoding(1.0, 0.95), np.random.default_rng(6).random((3, 32)))
    assert not np.array_equal(other, sampled)
    tokens, logits = engine.decode_with_logits(window, TARGET, z, ARGMAX, None)
    np.testing.assert_array_equal(tokens, logits.argmax(-1))


def test_decode_ignores_the_windows_target_tokens(engine):
    window = random_window(7)
    changed = window.copy()
    changed[TARGET.start : TARGET.end] = (changed[TARGET.start : TARGET.end] + 5) % 32
    z = np.zeros((2, engine.config.z_dim), dtype=np.float32)
    np.testing.assert_array_equal(engine.decode(window, TARGET, z, ARGMAX, None), engine.decode(changed, TARGET, z, ARGMAX, None))


def test_malformed_windows_and_latents_are_refused(engine):
    z = np.zeros((1, engine.config.z_dim), dtype=np.float32)
    with pytest.raises(ValueError, match="128 tokens"):
        engine.decode(np.zeros(64, dtype=np.uint8), TARGET, z, ARGMAX, None)
    with pytest.raises(ValueError, match="music tokens"):
        engine.prior(np.full(128, 33, dtype=np.uint8), TARGET)
    with pytest.raises(ValueError, match="rows of"):
        engine.flow_inverse(np.zeros(engine.config.z_dim, dtype=np.float32))


def test_teacher_forced_logits_are_the_decoders_and_match_the_numpy_engine(engine, tiny_engines):
    numpy_engine, _ = tiny_engines
    window = random_window(3)
    z = np.random.default_rng(3).standard_normal((2, engine.config.z_dim)).astype(np.float32)
    tokens, logits = engine.decode_with_logits(window, TARGET, z, Decoding(1.0, 1.0), np.full((2, 32), 0.4))
    windows = np.repeat(window[None], 2, axis=0)
    windows[:, TARGET.start : TARGET.end] = tokens
    forced = engine.teacher_forced_logits(windows, TARGET, z)  # (2, 32, C)
    assert forced.dtype == np.float32 and forced.shape == logits.shape
    np.testing.assert_allclose(forced, logits, rtol=0, atol=1e-4)
    np.testing.assert_allclose(forced, numpy_engine.teacher_forced_logits(windows, TARGET, z), rtol=0, atol=1e-4)
    one_window = engine.teacher_forced_logits(windows[0], TARGET, z[:1])
    np.testing.assert_allclose(one_window, forced[:1], rtol=0, atol=1e-6)
