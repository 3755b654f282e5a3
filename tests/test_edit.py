"""edit.py on a tiny random CLSM: shapes, seeding, batching and the latent geometry of section 2.3."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clsm_cli import edit
from clsm_cli.constants import HOLD_TOKEN, NUM_MUSIC_TOKENS, REST_TOKEN, WINDOW_STEPS
from clsm_cli.models.config import preset_config, with_decoding
from clsm_cli.models.registry import build_model

TARGET = (48, 32)  # bars 4-5 of the window


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(preset_config("clsm", "tiny")).eval()


@pytest.fixture(scope="module")
def window() -> np.ndarray:
    """A stepwise melody of quarter and eighth notes with a rest: canonical music tokens."""
    tokens = np.full(WINDOW_STEPS, HOLD_TOKEN, dtype=np.uint8)
    pitch_tokens = [12, 14, 16, 17, 19, 17, 16, 14]
    for index, start in enumerate(range(0, WINDOW_STEPS, 4)):
        tokens[start] = pitch_tokens[index % len(pitch_tokens)]
    tokens[100] = REST_TOKEN
    return tokens


def same_candidates(first, second) -> bool:
    return len(first) == len(second) and all(
        np.array_equal(a.tokens, b.tokens) and np.array_equal(a.w, b.w) for a, b in zip(first, second)
    )


def test_infill_returns_n_target_candidates_of_music_tokens(model, window):
    candidates = edit.infill(model, window, TARGET, n=3, seed=1, temperature=1.0)
    assert len(candidates) == 3
    for candidate in candidates:
        assert candidate.tokens.shape == (TARGET[1],) and candidate.tokens.dtype == np.uint8
        assert np.all(candidate.tokens < NUM_MUSIC_TOKENS)
        assert candidate.w.shape == (model.config.z_dim,) and candidate.w.dtype == np.float32


def test_same_seed_same_candidates_and_other_seeds_differ(model, window):
    first = edit.infill(model, window, TARGET, n=4, seed=7, temperature=1.0)
    again = edit.infill(model, window, TARGET, n=4, seed=7, temperature=1.0)
    other = edit.infill(model, window, TARGET, n=4, seed=8, temperature=1.0)
    assert same_candidates(first, again)
    assert not any(np.array_equal(a.w, b.w) for a, b in zip(first, other))
    assert any(not np.array_equal(a.tokens, b.tokens) for a, b in zip(first, other))


def test_infill_draws_w_from_the_contextual_prior(model, window):
    candidates = edit.infill(model, window, TARGET, n=2, seed=3, temperature=0)
    tokens = torch.as_tensor(window.astype(np.int64)).unsqueeze(0)
    with torch.no_grad():
        w_mean, w_logvar = model.prior(tokens, *TARGET)
    generator = torch.Generator().manual_seed(3)
    noise = torch.randn((2, model.config.z_dim), generator=generator)
    expected = (w_mean + torch.exp(0.5 * w_logvar) * noise).numpy()
    np.testing.assert_allclose(np.stack([c.w for c in candidates]), expected, rtol=0, atol=1e-6)


def test_candidates_decode_as_one_batch(model, window, monkeypatch):
    calls = []
    original = type(model).decode

    def counting_decode(self, tokens, start, length, z, **options):
        calls.append(z.shape[0])
        return original(self, tokens, start, length, z, **options)

    monkeypatch.setattr(type(model), "decode", counting_decode)
    edit.infill(model, window, TARGET, n=5, seed=0, temperature=1.0)
    edit.vary(model, window, TARGET, 0.5, n=5, seed=0, temperature=1.0)
    edit.interpolate(model, window, TARGET, 4, *edit.prior_endpoints(model, window, TARGET, seed=0), temperature=0)
    assert calls == [5, 5, 5]


def test_decoder_gets_z_from_the_inverse_flow(model, window, monkeypatch):
    seen = []
    original = type(model).decode

    def spying_decode(self, tokens, start, length, z, **options):
        seen.append(z.clone())
        return original(self, tokens, start, length, z, **options)

    monkeypatch.setattr(type(model), "decode", spying_decode)
    candidates = edit.infill(model, window, TARGET, n=2, seed=4, temperature=0)
    with torch.no_grad():
        expected_z = model.flow.inverse(torch.as_tensor(np.stack([c.w for c in candidates])))
    torch.testing.assert_close(seen[0], expected_z)


def test_default_decoding_is_the_models_recommendation(window):
    torch.manual_seed(0)
    sampling_model = build_model(with_decoding(preset_config("clsm", "tiny"), 1.0, 0.9)).eval()
    default = edit.infill(sampling_model, window, TARGET, n=4, seed=5)
    explicit = edit.infill(sampling_model, window, TARGET, n=4, seed=5, temperature=1.0, top_p=0.9)
    argmax = edit.infill(sampling_model, window, TARGET, n=4, seed=5, temperature=0.0)
    assert same_candidates(default, explicit)
    assert edit.resolve_decoding(sampling_model, None, None) == edit.Decoding(1.0, 0.9)
    assert not same_candidates(default, argmax)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_interpolation_is_linear_in_w_with_exact_endpoints(model, window, temperature):
    w1, w2 = edit.prior_endpoints(model, window, TARGET, seed=11)
    points = edit.interpolate(model, window, TARGET, 4, w1, w2, temperature=temperature, seed=2)
    assert len(points) == 5
    assert np.array_equal(points[0].w, w1) and np.array_equal(points[-1].w, w2)
    for k, point in enumerate(points):
        alpha = k / 4
        np.testing.assert_allclose(point.w, (1 - alpha) * w1 + alpha * w2, rtol=0, atol=1e-6)
    # Each endpoint is what decoding its w on its own gives (same seed: the same sampling noise).
    alone = edit.decode_w(model, window, TARGET, [w1, w2], temperature=temperature, seed=2)
    if temperature == 0:
        assert np.array_equal(points[0].tokens, alone[0].tokens)
        assert np.array_equal(points[-1].tokens, alone[1].tokens)
    else:
        first = edit.decode_w(model, window, TARGET, [w1], temperature=temperature, seed=2)
        last = edit.decode_w(model, window, TARGET, [w2], temperature=temperature, seed=2)
        assert np.array_equal(points[0].tokens, first[0].tokens)
        assert np.array_equal(points[-1].tokens, last[0].tokens)


def test_prior_endpoints_are_seeded_and_distinct(model, window):
    first = edit.prior_endpoints(model, window, TARGET, seed=1)
    again = edit.prior_endpoints(model, window, TARGET, seed=1)
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert not np.array_equal(first[0], first[1])


def test_encode_w_is_the_flow_of_the_posterior_mean(model, window):
    tokens = torch.as_tensor(window.astype(np.int64)).unsqueeze(0)
    with torch.no_grad():
        mean, _ = model.posterior(tokens, *TARGET)
        expected, _ = model.flow.forward(mean)
    np.testing.assert_allclose(edit.encode_w(model, window, TARGET), expected[0].numpy(), rtol=0, atol=1e-6)


def test_vary_amount_zero_decodes_the_centre(model, window):
    centre = edit.encode_w(model, window, TARGET)
    expected = edit.decode_w(model, window, TARGET, [centre], temperature=0)[0]
    variations = edit.vary(model, window, TARGET, 0.0, n=3, seed=9, temperature=0)
    for variation in variations:
        assert np.array_equal(variation.w, centre)
        assert np.array_equal(variation.tokens, expected.tokens)


def test_vary_moves_w_by_amount_times_prior_sigma(model, window):
    centre = np.linspace(-1, 1, model.config.z_dim).astype(np.float32)
    variations = edit.vary(model, window, TARGET, 0.25, n=3, seed=6, around_w=centre, temperature=0)
    tokens = torch.as_tensor(window.astype(np.int64)).unsqueeze(0)
    with torch.no_grad():
        _, w_logvar = model.prior(tokens, *TARGET)
    noise = torch.randn((3, model.config.z_dim), generator=torch.Generator().manual_seed(6))
    expected = torch.as_tensor(centre) + 0.25 * torch.exp(0.5 * w_logvar) * noise
    np.testing.assert_allclose(np.stack([v.w for v in variations]), expected.numpy(), rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "call",
    [
        lambda m, w: edit.infill(m, w[:64], TARGET, n=1),
        lambda m, w: edit.infill(m, w, (120, 16), n=1),
        lambda m, w: edit.infill(m, w, TARGET, n=0),
        lambda m, w: edit.infill(m, np.full(128, 33, np.uint8), TARGET, n=1),
        lambda m, w: edit.infill(m, w, TARGET, n=1, temperature=-1),
        lambda m, w: edit.vary(m, w, TARGET, -0.1, n=1),
        lambda m, w: edit.interpolate(m, w, TARGET, 2, np.zeros(3, np.float32), np.zeros(3, np.float32)),
    ],
    ids=["short-window", "target-outside", "no-candidates", "special-tokens", "negative-temperature",
         "negative-amount", "wrong-w-size"],
)
def test_bad_arguments_raise_value_error(model, window, call):
    with pytest.raises(ValueError):
        call(model, window)
