"""VAE, Anticipation-RNN and evaluation LM: behaviour and overfitting."""

import pytest
import torch

from clsm_cli.constants import NUM_MUSIC_TOKENS
from clsm_cli.models.arnn import context_constraint_mask, random_constraint_mask

from .conftest import random_windows, tiny_model


def _overfit(model, loss_of, steps, lr=1e-2):
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, foreach=True)
    for step in range(steps):
        losses = loss_of(step)
        optimizer.zero_grad()
        losses["loss"].backward()
        optimizer.step()
    model.eval()
    return model


# VAE ---------------------------------------------------------------------------------------------


def test_vae_loss_terms_and_analytic_kl():
    model = tiny_model("vae")
    tokens = random_windows(3)
    losses = model.forward_loss(tokens, kl_weight=0.4, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(losses["loss"], losses["reconstruction"] + 0.4 * losses["kl"])
    mean, logvar = model.posterior(tokens)
    q = torch.distributions.Normal(mean, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    torch.testing.assert_close(losses["kl"], torch.distributions.kl_divergence(q, p).sum(-1).mean())


def test_vae_decode_has_no_right_context_dependence_and_matches_teacher_forcing():
    model = tiny_model("vae")
    tokens = random_windows(2)
    z = torch.randn(2, model.config.z_dim)
    generated = model.decode(tokens, 32, 32, z)
    changed = tokens.clone()
    changed[:, 64:] = (changed[:, 64:] + 5) % NUM_MUSIC_TOKENS  # x_CR only
    assert torch.equal(model.decode(changed, 32, 32, z), generated)
    changed_left = tokens.clone()
    changed_left[:, 10] = (changed_left[:, 10] + 5) % NUM_MUSIC_TOKENS
    assert not torch.allclose(model.decode_logits(changed_left, 32, 32, z), model.decode_logits(tokens, 32, 32, z))
    filled = tokens.clone()
    filled[:, 32:64] = generated
    assert torch.equal(model.decode_logits(filled, 32, 32, z).argmax(-1), generated)


def test_vae_same_seed_same_samples():
    model = tiny_model("vae")
    tokens = random_windows(1)

    def sample(seed):
        generator = torch.Generator().manual_seed(seed)
        return model.decode(tokens, 0, 64, model.sample_prior(4, generator), temperature=1.0, generator=generator)

    assert torch.equal(sample(1), sample(1)) and not torch.equal(sample(1), sample(2))


@pytest.mark.slow
def test_vae_overfits_a_handful_of_windows():
    model = tiny_model("vae")
    tokens = random_windows(3, seed=4)
    _overfit(model, lambda step: model.forward_loss(tokens, 0.0, torch.Generator().manual_seed(step)), 150)
    final = model.forward_loss(tokens, 0.0, torch.Generator().manual_seed(0))
    assert final["reconstruction"].item() < 0.05 and final["accuracy"].item() == 1.0
    mean, _ = model.posterior(tokens)
    assert torch.equal(model.decode(tokens, 64, 64, mean), tokens[:, 64:])


# ARNN --------------------------------------------------------------------------------------------


def test_random_constraint_masks():
    generator = torch.Generator().manual_seed(0)
    random_mask = random_constraint_mask(500, "random", generator)
    assert random_mask.shape == (500, 128) and random_mask.dtype == torch.bool
    proportions = random_mask.float().mean(1)
    assert proportions.min() < 0.1 and proportions.max() > 0.9  # p ~ U(0, 1) per row
    target_mask = random_constraint_mask(random_windows(500), "targets", generator)
    free = ~target_mask
    lengths = free.sum(1)
    assert set(lengths.tolist()) == {16, 32, 48, 64}
    starts = free.float().argmax(1)
    assert bool((starts % 16 == 0).all())
    assert bool((free.cumsum(1).amax(1) == lengths).all())  # one contiguous run per row
    assert bool(((starts + lengths) <= 128).all())
    with pytest.raises(ValueError):
        random_constraint_mask(2, "bars", generator)


def test_arnn_sample_respects_constraints_and_reads_the_right_context():
    model = tiny_model("arnn")
    tokens = random_windows(2)
    generated = model.sample(tokens, 48, 32, temperature=0.0)
    assert generated.shape == (2, 32) and int(generated.max()) < NUM_MUSIC_TOKENS
    filled = tokens.clone()
    filled[:, 48:80] = generated
    assert torch.equal(model.target_logits(filled, 48, 32).argmax(-1), generated)
    changed = tokens.clone()
    changed[:, 100] = (changed[:, 100] + 3) % NUM_MUSIC_TOKENS  # a right-context constraint
    assert not torch.allclose(model.target_logits(changed, 48, 32), model.target_logits(tokens, 48, 32))
    # The target's own tokens are unconstrained: changing them changes nothing before them.
    changed_target = tokens.clone()
    changed_target[:, 60] = (changed_target[:, 60] + 3) % NUM_MUSIC_TOKENS
    torch.testing.assert_close(
        model.target_logits(changed_target, 48, 32)[:, :13], model.target_logits(tokens, 48, 32)[:, :13]
    )


def test_arnn_same_seed_same_samples():
    model = tiny_model("arnn")
    tokens = random_windows(3)
    first = model.sample(tokens, 16, 48, 1.0, torch.Generator().manual_seed(8))
    assert torch.equal(first, model.sample(tokens, 16, 48, 1.0, torch.Generator().manual_seed(8)))
    assert not torch.equal(first, model.sample(tokens, 16, 48, 1.0, torch.Generator().manual_seed(9)))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["arnn", "arnn-t"])
def test_arnn_overfits_a_handful_of_windows(kind):
    model = tiny_model(kind)
    tokens = random_windows(3, seed=5)
    # With no constraints at all it must still memorise the windows (the hardest mask).
    free = torch.zeros(3, 128, dtype=torch.bool)
    _overfit(model, lambda step: model.forward_loss(tokens, free if step % 2 else None,
                                                    torch.Generator().manual_seed(step)), 300)
    # Unconstrained, the first token given <s> alone is a 1-in-3 guess: loss floor log(3)/128.
    assert model.forward_loss(tokens, free)["reconstruction"].item() < 0.05
    constrained = context_constraint_mask(3, 64, 64, 128)
    assert model.forward_loss(tokens, constrained)["accuracy"].item() == 1.0
    assert torch.equal(model.sample(tokens, 64, 64, temperature=0.0), tokens[:, 64:])


# LM ----------------------------------------------------------------------------------------------


def test_lm_token_nll_is_causal():
    model = tiny_model("lm")
    tokens = random_windows(2)
    nll = model.token_nll(tokens)
    assert nll.shape == (2, 128) and bool((nll > 0).all())
    torch.testing.assert_close(model.forward_loss(tokens)["loss"], nll.mean())
    changed = tokens.clone()
    changed[:, 50] = (changed[:, 50] + 1) % NUM_MUSIC_TOKENS
    changed_nll = model.token_nll(changed)
    torch.testing.assert_close(changed_nll[:, :50], nll[:, :50], rtol=0, atol=1e-6)
    assert not torch.allclose(changed_nll[:, 51], nll[:, 51])


@pytest.mark.slow
def test_lm_overfits_a_handful_of_windows():
    model = tiny_model("lm")
    tokens = random_windows(3, seed=6)
    _overfit(model, lambda step: model.forward_loss(tokens), 150)
    assert model.token_nll(tokens).mean().item() < 0.05
