"""CLSM and the VAE take their posterior noise from the caller (data-parallel training draws it
for the whole global batch), and without it draw the same noise from their generator."""

import pytest
import torch

from .conftest import random_windows, tiny_model


def _forward_loss(model, kind, tokens, **noise_source):
    if kind == "clsm":
        return model.forward_loss(tokens, 32, 32, 0.5, **noise_source)
    return model.forward_loss(tokens, 0.5, **noise_source)


@pytest.mark.parametrize("kind", ["clsm", "vae"])
def test_given_noise_is_the_posterior_sample(kind):
    model = tiny_model(kind)
    tokens = random_windows(3)
    z_dim = model.config.z_dim
    from_generator = _forward_loss(model, kind, tokens, generator=torch.Generator().manual_seed(4))
    noise = torch.randn((3, z_dim), generator=torch.Generator().manual_seed(4))  # the same draws
    given = _forward_loss(model, kind, tokens, noise=noise)
    for name in ("loss", "reconstruction", "kl"):
        torch.testing.assert_close(given[name], from_generator[name])
    # The noise is used, not ignored: other draws decode another z (the VAE's KL is analytic).
    other_noise = torch.randn((3, z_dim), generator=torch.Generator().manual_seed(5))
    other = _forward_loss(model, kind, tokens, noise=other_noise)
    assert not torch.allclose(other["reconstruction"], given["reconstruction"])


@pytest.mark.parametrize("kind", ["clsm", "vae"])
def test_noise_of_the_wrong_shape_is_rejected(kind):
    model = tiny_model(kind)
    with pytest.raises(ValueError, match="posterior's shape"):
        _forward_loss(model, kind, random_windows(3), noise=torch.zeros(2, model.config.z_dim))
