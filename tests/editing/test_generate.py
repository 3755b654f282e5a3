"""editing/generate.py on a tiny random CLSM behind the torch engine: shapes, seeding, batching,
the random-number scheme and the latent geometry of section 2.3."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clsm_cli.constants import HOLD_TOKEN, NUM_MUSIC_TOKENS, REST_TOKEN, WINDOW_STEPS
from clsm_cli.editing import generate
from clsm_cli.editing.draw import pool_indices
from clsm_cli.editing.options import command_decoding
from clsm_cli.engine.draws import candidate_draws
from clsm_cli.engine.protocol import TargetSpan
from clsm_cli.sampling import ARGMAX, Decoding
from clsm_cli.engine.torch_engine import TorchEngine
from clsm_cli.music.tokens import tokens_to_text as tokens_text
from clsm_cli.errors import UsageError
from clsm_cli.models.config import preset_config, with_decoding
from clsm_cli.models.registry import build_model

TARGET = TargetSpan(48, 32)  # bars 4-5 of the window
SAMPLING = Decoding(1.0, 1.0)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return TorchEngine(build_model(preset_config("clsm", "tiny")).eval(), "cpu")


@pytest.fixture(scope="module")
def window() -> np.ndarray:
    """A stepwise melody of quarter and eighth notes with a rest: canonical music tokens."""
    tokens = np.full(WINDOW_STEPS, HOLD_TOKEN, dtype=np.uint8)
    pitch_tokens = [12, 14, 16, 17, 19, 17, 16, 14]
    for index, start in enumerate(range(0, WINDOW_STEPS, 4)):
        tokens[start] = pitch_tokens[index % len(pitch_tokens)]
    tokens[100] = REST_TOKEN
    return tokens


def noise_of(seed, candidates, z_dim, length=TARGET.length):
    """(n, z_dim) latent noise of the given candidates under the one random-number scheme."""
    return np.stack([candidate_draws(seed, k, z_dim, length).latent_noise for k in candidates])


def infill(model, window, target, n, seed, decoding=SAMPLING):
    return generate.infill(model, window, target, decoding, seed, pool_indices(n))


def vary(model, window, target, amount, n, seed, decoding=SAMPLING, centre=None):
    return generate.vary(model, window, target, decoding, seed, pool_indices(n), amount, centre)


def same_candidates(first, second) -> bool:
    return len(first) == len(second) and all(
        np.array_equal(a.tokens, b.tokens) and np.array_equal(a.w, b.w) for a, b in zip(first, second)
    )


def test_infill_returns_n_target_candidates_of_music_tokens(model, window):
    candidates = infill(model, window, TARGET, 3, 1)
    assert len(candidates) == 3
    for candidate in candidates:
        assert candidate.tokens.shape == (TARGET.length,) and candidate.tokens.dtype == np.uint8
        assert np.all(candidate.tokens < NUM_MUSIC_TOKENS)
        assert candidate.w.shape == (model.config.z_dim,) and candidate.w.dtype == np.float32


def test_same_seed_same_candidates_and_other_seeds_differ(model, window):
    first = infill(model, window, TARGET, 4, 7)
    again = infill(model, window, TARGET, 4, 7)
    other = infill(model, window, TARGET, 4, 8)
    assert same_candidates(first, again)
    assert not any(np.array_equal(a.w, b.w) for a, b in zip(first, other))
    assert any(not np.array_equal(a.tokens, b.tokens) for a, b in zip(first, other))


def test_infill_draws_w_from_the_contextual_prior(model, window):
    candidates = infill(model, window, TARGET, 2, 3, ARGMAX)
    prior = model.prior(window, TARGET)
    noise = noise_of(3, (1, 2), model.config.z_dim)
    expected = prior.mean + np.exp(0.5 * prior.logvar) * noise
    np.testing.assert_allclose(np.stack([c.w for c in candidates]), expected, rtol=0, atol=1e-6)


def test_candidates_decode_as_one_batch(model, window, monkeypatch):
    calls = []
    original = model.decode_with_logits

    def counting_decode(window, target, z, decoding, uniforms, step_mask=None):
        calls.append(z.shape[0])
        return original(window, target, z, decoding, uniforms, step_mask)

    monkeypatch.setattr(model, "decode_with_logits", counting_decode)
    infill(model, window, TARGET, 5, 0)
    vary(model, window, TARGET, 0.5, 5, 0)
    ends = generate.prior_endpoints(model, window, TARGET, ARGMAX, 0)
    generate.interpolate(model, window, TARGET, ARGMAX, 0, 4, *ends)
    assert calls == [5, 5, 2, 5]


def test_decoder_gets_z_from_the_inverse_flow(model, window, monkeypatch):
    seen = []
    original = model.decode_with_logits

    def spying_decode(window, target, z, decoding, uniforms, step_mask=None):
        seen.append(np.array(z))
        return original(window, target, z, decoding, uniforms, step_mask)

    monkeypatch.setattr(model, "decode_with_logits", spying_decode)
    candidates = infill(model, window, TARGET, 2, 4, ARGMAX)
    expected_z = model.flow_inverse(np.stack([c.w for c in candidates]))
    np.testing.assert_allclose(seen[0], expected_z, rtol=0, atol=1e-6)


def test_default_decoding_is_the_models_recommendation(window):
    torch.manual_seed(0)
    sampling_model = TorchEngine(build_model(with_decoding(preset_config("clsm", "tiny"), 1.0, 0.9)).eval(), "cpu")
    default = infill(sampling_model, window, TARGET, 4, 5, command_decoding(sampling_model.config, None, None))
    explicit = infill(sampling_model, window, TARGET, 4, 5, command_decoding(sampling_model.config, 1.0, 0.9))
    argmax = infill(sampling_model, window, TARGET, 4, 5, command_decoding(sampling_model.config, 0.0, None))
    assert same_candidates(default, explicit)
    assert command_decoding(sampling_model.config, None, None) == Decoding(1.0, 0.9)
    assert not same_candidates(default, argmax)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_interpolation_is_linear_in_w_with_exact_endpoints(model, window, temperature):
    decoding = Decoding(temperature, 1.0)
    start, end = generate.prior_endpoints(model, window, TARGET, decoding, 11)
    points = generate.interpolate(model, window, TARGET, decoding, 2, 4, start, end)
    assert len(points) == 5
    assert np.array_equal(points[0].w, start.w) and np.array_equal(points[-1].w, end.w)
    for k, point in enumerate(points):
        alpha = k / 4
        np.testing.assert_allclose(point.w, (1 - alpha) * start.w + alpha * end.w, rtol=0, atol=1e-6)
    assert np.array_equal(points[0].tokens, start.tokens) and np.array_equal(points[-1].tokens, end.tokens)


def test_anchored_uniforms_make_a_latent_decode_the_given_tokens(model, window):
    """Posterior-anchored decoding: a latent decodes the tokens it was anchored to, exactly (any
    tokens without a nucleus; with one, tokens inside it, such as the latent's own samples)."""
    fresh = np.stack([candidate_draws(3, k, model.config.z_dim, TARGET.length).token_uniforms for k in (1, 2)])
    nucleus = Decoding(1.0, 0.9)
    sampled = infill(model, window, TARGET, 1, 5, nucleus)[0]
    cases = [
        (SAMPLING, window[TARGET.start : TARGET.end], generate.encode_w(model, window, TARGET)),
        (SAMPLING, sampled.tokens, np.linspace(-2, 2, model.config.z_dim)),  # another latent's sample
        (nucleus, sampled.tokens, sampled.w),
    ]
    for decoding, given, w in cases:
        w = np.stack([w, w]).astype(np.float32)
        given = np.stack([given, given])
        anchors = generate.anchored_uniforms(model, window, TARGET, given, w, decoding, fresh)
        decoded = generate.decode_w(model, window, TARGET, w, decoding, anchors)
        assert [tokens_text(c.tokens) for c in decoded] == [tokens_text(row) for row in given]


def test_interpolation_ends_decode_to_the_endpoints_without_the_copy(model, window, monkeypatch):
    """The anchored uniforms reproduce the ends by themselves; the copy is only a guard."""
    decoding = Decoding(1.0, 1.0)
    start, end = generate.prior_endpoints(model, window, TARGET, decoding, 4)
    decoded = []
    original = generate.decode_w

    def keeping(*args):
        decoded.extend(original(*args))
        return original(*args)

    monkeypatch.setattr(generate, "decode_w", keeping)
    generate.interpolate(model, window, TARGET, decoding, 4, 3, start, end)
    assert np.array_equal(decoded[0].tokens, start.tokens) and np.array_equal(decoded[-1].tokens, end.tokens)


def test_prior_endpoints_are_infill_candidates_one_and_two(model, window):
    first = generate.prior_endpoints(model, window, TARGET, SAMPLING, 1)
    assert same_candidates(list(first), infill(model, window, TARGET, 2, 1))
    assert not np.array_equal(first[0].w, first[1].w)


def test_encode_w_is_the_flow_of_the_posterior_mean(model, window):
    tokens = torch.as_tensor(window.astype(np.int64)).unsqueeze(0)
    with torch.no_grad():
        mean, _ = model.model.posterior(tokens, TARGET.start, TARGET.length)
        expected, _ = model.model.flow.forward(mean)
    np.testing.assert_allclose(generate.encode_w(model, window, TARGET), expected[0].numpy(), rtol=0, atol=1e-6)


def test_vary_amount_zero_is_the_centre_itself(model, window):
    centre = generate.encode_w(model, window, TARGET)
    for decoding in (ARGMAX, SAMPLING):
        for variation in vary(model, window, TARGET, 0.0, 3, 9, decoding):
            assert np.array_equal(variation.w, centre)
            assert np.array_equal(variation.tokens, window[TARGET.start : TARGET.end])


def test_a_tiny_amount_stays_on_the_centres_notes_and_amount_one_leaves_them(model, window):
    original = window[TARGET.start : TARGET.end]
    close = vary(model, window, TARGET, 1e-4, 4, 2)
    assert all(np.array_equal(c.tokens, original) for c in close)
    free = vary(model, window, TARGET, 1.0, 4, 2)
    assert not any(np.array_equal(c.tokens, original) for c in free)


def test_vary_moves_w_by_amount_times_prior_sigma(model, window):
    centre = np.linspace(-1, 1, model.config.z_dim).astype(np.float32)
    around = generate.Candidate(window[TARGET.start : TARGET.end].copy(), centre)
    variations = vary(model, window, TARGET, 0.25, 3, 6, ARGMAX, centre=around)
    w_logvar = model.prior(window, TARGET).logvar
    noise = noise_of(6, (1, 2, 3), model.config.z_dim)
    expected = centre + 0.25 * np.exp(0.5 * w_logvar) * noise
    np.testing.assert_allclose(np.stack([v.w for v in variations]), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "call",
    [
        lambda m, w: infill(m, w[:64], TARGET, 1, 0),
        lambda m, w: infill(m, w, TargetSpan(120, 16), 1, 0),
        lambda m, w: infill(m, w, TARGET, 0, 0),
        lambda m, w: infill(m, np.full(128, 33, np.uint8), TARGET, 1, 0),
        lambda m, w: vary(m, w, TARGET, -0.1, 1, 0),
        lambda m, w: generate.interpolate(m, w, TARGET, ARGMAX, 0, 2, *[generate.Candidate(
            np.zeros(TARGET.length, np.uint8), np.zeros(3, np.float32))] * 2),
    ],
    ids=["short-window", "target-outside", "no-candidates", "special-tokens", "negative-amount", "wrong-w-size"],
)
def test_bad_arguments_raise_value_error(model, window, call):
    with pytest.raises(ValueError):
        call(model, window)


def test_a_negative_temperature_is_a_usage_error():
    with pytest.raises(UsageError):
        Decoding(-1, 1.0)


def test_candidate_k_does_not_depend_on_how_many_were_asked_for(model, window):
    two = infill(model, window, TARGET, 2, 7)
    four = infill(model, window, TARGET, 4, 7)
    assert same_candidates(two, four[:2])
    assert same_candidates(vary(model, window, TARGET, 0.5, 2, 7), vary(model, window, TARGET, 0.5, 4, 7)[:2])
