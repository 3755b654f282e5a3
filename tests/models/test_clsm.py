"""CLSM parity and correctness: cache vs recomputation, mask leakage, prior blindness, latent paths."""

import numpy as np
import pytest
import torch

from clsm_cli.constants import NUM_MUSIC_TOKENS, PLACEHOLDER_TOKEN
from clsm_cli.engine import latent
from clsm_cli.sampling import Decoding
from clsm_cli.models.clsm import three_segment_mask

from .conftest import random_windows, tiny_model

TARGETS = [(0, 16), (32, 32), (48, 48), (64, 64), (112, 16)]  # left-only, both sides, right-only ...


def _changed(tokens, index):
    """tokens with one step set to another music token."""
    changed = tokens.clone()
    changed[:, index] = (changed[:, index] + 7) % NUM_MUSIC_TOKENS
    return changed


def test_three_segment_mask_layout():
    mask = three_segment_mask(target_start=2, target_length=3, length=8)
    # inputs: 0 <s>, 1..2 x_CL, 3..5 x_T, 6..7 x_CR
    context_row = [True, True, True, False, False, False, True, True]
    assert mask[0].tolist() == context_row and mask[2].tolist() == context_row and mask[7].tolist() == context_row
    assert mask[3].tolist() == [True, True, True, True, False, False, True, True]
    assert mask[5].tolist() == [True] * 8


@pytest.mark.parametrize("target_start,target_length", TARGETS)
def test_cached_decoding_matches_full_recomputation(clsm, target_start, target_length):
    tokens = random_windows(4)
    z = torch.randn(4, clsm.config.z_dim, generator=torch.Generator().manual_seed(1))
    cached, cached_logits = clsm.decode(tokens, target_start, target_length, z, return_logits=True)
    naive, naive_logits = clsm.decode_uncached(tokens, target_start, target_length, z, return_logits=True)
    torch.testing.assert_close(cached_logits, naive_logits, rtol=0, atol=1e-5)
    assert torch.equal(cached, naive)
    # And both equal the teacher-forced logits of the generated target.
    filled = tokens.clone()
    filled[:, target_start : target_start + target_length] = cached
    forced = clsm.decode_logits(filled, target_start, target_length, z)
    torch.testing.assert_close(forced, cached_logits, rtol=0, atol=1e-5)


def test_cached_sampling_matches_full_recomputation_with_the_same_uniforms(clsm):
    tokens = random_windows(1)
    z = torch.randn(6, clsm.config.z_dim, generator=torch.Generator().manual_seed(2))
    uniforms = np.random.default_rng(5).random((6, 48))
    cached = clsm.decode(tokens, 16, 48, z, Decoding(1.0, 1.0), uniforms)
    naive = clsm.decode_uncached(tokens, 16, 48, z, Decoding(1.0, 1.0), uniforms)
    assert torch.equal(cached, naive)


def test_sampled_tokens_are_chosen_from_the_steps_logits_by_the_uniforms(clsm):
    """Each token is the inverse-CDF pick of its uniform in the softmax of the logits it was read from."""
    tokens = random_windows(1)
    z = torch.randn(4, clsm.config.z_dim, generator=torch.Generator().manual_seed(3))
    uniforms = np.random.default_rng(8).random((4, 32))
    generated, logits = clsm.decode(tokens, 32, 32, z, Decoding(1.0, 1.0), uniforms, return_logits=True)
    cumulative = torch.softmax(logits.double(), dim=-1).cumsum(-1)  # (B, tl, C)
    chosen = torch.gather(cumulative, -1, generated[..., None])[..., 0]
    before = chosen - torch.gather(torch.softmax(logits.double(), dim=-1), -1, generated[..., None])[..., 0]
    u = torch.from_numpy(uniforms)
    assert bool(((before <= u + 1e-12) & (u < chosen + 1e-12)).all())


def test_sampling_needs_one_uniform_per_candidate_and_step(clsm, windows):
    z = torch.randn(3, clsm.config.z_dim)
    with pytest.raises(ValueError, match="uniforms"):
        clsm.decode(windows, 32, 32, z, Decoding(1.0, 1.0), None)
    with pytest.raises(ValueError, match="shape"):
        clsm.decode(windows, 32, 32, z, Decoding(1.0, 1.0), np.zeros((3, 31)))


def test_decode_ignores_the_target_tokens_it_is_given(clsm, windows):
    z = torch.randn(3, clsm.config.z_dim)
    placeholders = windows.clone()
    placeholders[:, 32:64] = PLACEHOLDER_TOKEN
    assert torch.equal(clsm.decode(windows, 32, 32, z), clsm.decode(placeholders, 32, 32, z))


def test_decode_outputs_music_tokens_only(clsm, windows):
    z = torch.randn(3, clsm.config.z_dim)
    out = clsm.decode(windows, 0, 64, z, Decoding(2.0, 1.0), np.random.default_rng(0).random((3, 64)))
    assert out.shape == (3, 64) and out.dtype == torch.long
    assert int(out.min()) >= 0 and int(out.max()) < NUM_MUSIC_TOKENS


@pytest.mark.parametrize("target_index", [0, 5, 31])
def test_changing_a_target_token_leaks_nowhere_before_it(clsm, target_index):
    target_start, target_length = 32, 32
    tokens = random_windows(2)
    changed = _changed(tokens, target_start + target_index)
    z = torch.randn(2, clsm.config.z_dim)
    states = clsm.decoder_hidden_states(tokens, target_start, target_length, z)  # (B, 129, d)
    changed_states = clsm.decoder_hidden_states(changed, target_start, target_length, z)
    context_inputs = list(range(0, target_start + 1)) + list(range(target_start + target_length + 1, 129))
    torch.testing.assert_close(changed_states[:, context_inputs], states[:, context_inputs], rtol=0, atol=1e-6)

    logits = clsm.decode_logits(tokens, target_start, target_length, z)  # (B, tl, C)
    changed_logits = clsm.decode_logits(changed, target_start, target_length, z)
    # Logits predicting x_T[0..i] (1-based: tokens 1..i+1 include the changed one) cannot see x_T[i].
    torch.testing.assert_close(changed_logits[:, : target_index + 1], logits[:, : target_index + 1], rtol=0, atol=1e-6)
    if target_index + 1 < target_length:  # the next prediction reads it: the mask is not over-blocking
        assert not torch.allclose(changed_logits[:, target_index + 1], logits[:, target_index + 1], atol=1e-4)


@pytest.mark.parametrize("context_index", [0, 31, 64, 127])
def test_changing_a_context_token_may_change_every_prediction(clsm, context_index):
    tokens = random_windows(2)
    z = torch.randn(2, clsm.config.z_dim)
    logits = clsm.decode_logits(tokens, 32, 32, z)
    changed_logits = clsm.decode_logits(_changed(tokens, context_index), 32, 32, z)
    differs = (changed_logits - logits).abs().amax(dim=(0, 2)) > 1e-5  # (tl,)
    assert bool(differs.all())


def test_prior_never_sees_the_target_and_the_encoder_does(clsm, windows):
    changed = windows.clone()
    changed[:, 40:56] = (changed[:, 40:56] + 3) % NUM_MUSIC_TOKENS
    prior = clsm.prior(windows, 32, 32)
    changed_prior = clsm.prior(changed, 32, 32)
    for a, b in zip(prior, changed_prior):
        assert torch.equal(a, b)
    posterior = clsm.posterior(windows, 32, 32)[0]
    assert not torch.allclose(clsm.posterior(changed, 32, 32)[0], posterior, atol=1e-5)
    # The prior does read the context.
    context_changed = _changed(windows, 100)
    assert not torch.allclose(clsm.prior(context_changed, 32, 32)[0], prior[0], atol=1e-5)


def test_forward_loss_terms(clsm, windows):
    clsm.train()
    generator = torch.Generator().manual_seed(0)
    losses = clsm.forward_loss(windows, 32, 32, kl_weight=0.5, generator=generator)
    assert set(losses) >= {"loss", "reconstruction", "kl", "accuracy"}
    torch.testing.assert_close(losses["loss"], losses["reconstruction"] + 0.5 * losses["kl"])
    assert 0.0 <= losses["accuracy"].item() <= 1.0
    again = clsm.forward_loss(windows, 32, 32, kl_weight=0.5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(again["kl"], losses["kl"])
    losses["loss"].backward()
    assert all(p.grad is not None for p in clsm.parameters())  # every part of the model is trained


def test_kl_estimate_is_log_q_minus_log_p(clsm, windows):
    """The one-sample KL: log q(z|x) − [log N(f(z); μ_w, σ_w) + log|det ∂f/∂z|] at the drawn z."""
    losses = clsm.forward_loss(windows, 32, 32, 1.0, generator=torch.Generator().manual_seed(9))
    mean, logvar = clsm.posterior(windows, 32, 32)
    noise = torch.randn(mean.shape, generator=torch.Generator().manual_seed(9))  # the same draw
    z = mean + torch.exp(0.5 * logvar) * noise
    log_q = torch.distributions.Normal(mean, torch.exp(0.5 * logvar)).log_prob(z).sum(-1)
    w_mean, w_logvar = clsm.prior(windows, 32, 32)
    w, logdet = clsm.flow(z)
    log_p = torch.distributions.Normal(w_mean, torch.exp(0.5 * w_logvar)).log_prob(w).sum(-1) + logdet
    torch.testing.assert_close(losses["kl"], (log_q - log_p).mean(), rtol=1e-5, atol=1e-5)


def test_same_uniforms_same_samples_and_other_uniforms_other_samples(clsm, windows):
    z = torch.randn(4, clsm.config.z_dim, generator=torch.Generator().manual_seed(6))

    def sample(seed):
        uniforms = np.random.default_rng(seed).random((4, 32))
        return clsm.decode(windows[:1], 16, 32, z, Decoding(1.0, 0.9), uniforms)

    assert torch.equal(sample(11), sample(11))
    assert not torch.equal(sample(11), sample(12))


def test_interpolation_endpoints_reproduce_the_endpoints(clsm, windows):
    w_mean, w_logvar = (part[0].detach().numpy() for part in clsm.prior(windows[:1], 32, 32))
    w1, w2 = latent.prior_sample_w(w_mean, w_logvar, np.random.default_rng(4).standard_normal((2, w_mean.size)))
    path = latent.interpolate_w(w1, w2, steps=4)  # (5, z)
    with torch.inference_mode():
        z_path = clsm.flow.inverse(torch.from_numpy(path))
        z_ends = clsm.flow.inverse(torch.from_numpy(np.stack([w1, w2])))
        torch.testing.assert_close(z_path[[0, -1]], z_ends)
        decoded = clsm.decode(windows[:1], 32, 32, z_path)
        assert torch.equal(decoded[[0, -1]], clsm.decode(windows[:1], 32, 32, z_ends))
        # z -> w -> z round trip, so an encoded endpoint is reproduced too.
        torch.testing.assert_close(clsm.flow.inverse(clsm.flow(z_ends)[0]), z_ends, rtol=0, atol=1e-5)


def test_one_window_broadcasts_to_many_candidates(clsm, windows):
    z = torch.randn(5, clsm.config.z_dim)
    one = clsm.decode(windows[:1], 48, 16, z)
    many = clsm.decode(windows[:1].expand(5, -1).clone(), 48, 16, z)
    assert torch.equal(one, many)


def test_bad_targets_are_rejected(clsm, windows):
    z = torch.randn(3, clsm.config.z_dim)
    for start, length in [(120, 16), (0, 0), (-16, 16)]:
        with pytest.raises(ValueError):
            clsm.decode(windows, start, length, z)


@pytest.mark.slow
def test_clsm_overfits_a_handful_of_windows():
    model = tiny_model("clsm").train()
    tokens = random_windows(3, seed=3)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, foreach=True)
    targets = [(0, 16), (32, 32), (64, 64), (112, 16)]
    for step in range(120):
        start, length = targets[step % len(targets)]
        losses = model.forward_loss(tokens, start, length, kl_weight=0.0, generator=torch.Generator().manual_seed(step))
        optimizer.zero_grad()
        losses["loss"].backward()
        optimizer.step()
    model.eval()
    for start, length in targets:
        final = model.forward_loss(tokens, start, length, kl_weight=0.0, generator=torch.Generator().manual_seed(0))
        assert final["reconstruction"].item() < 0.05, (start, length, final["reconstruction"].item())
        assert final["accuracy"].item() == 1.0
        # Decoding the posterior mean (argmax, cached) reproduces the targets.
        mean, _ = model.posterior(tokens, start, length)
        assert torch.equal(model.decode(tokens, start, length, mean), tokens[:, start : start + length])
