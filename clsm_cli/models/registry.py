"""Config kind -> model class: the one place that knows which class builds which config."""

from __future__ import annotations

from torch import nn

from clsm_cli.errors import ModelError
from clsm_cli.models.arnn import ARNN
from clsm_cli.models.clsm import CLSM
from clsm_cli.models.config import ModelConfig, validate_config
from clsm_cli.models.lm import LanguageModel
from clsm_cli.models.vae import VAE

MODEL_KINDS: dict[str, type[nn.Module]] = {
    "clsm": CLSM,
    "vae": VAE,
    "arnn": ARNN,  # ARNN and ARNN_T: same class, ARNNConfig.constraint_mode differs
    "lm": LanguageModel,
}


def build_model(config: ModelConfig) -> nn.Module:
    """A freshly initialised model for ``config`` (seed torch first for reproducible weights)."""
    if config.kind not in MODEL_KINDS:
        raise ModelError(f"unknown model kind {config.kind!r}; this clsm builds {', '.join(MODEL_KINDS)}")
    validate_config(config)
    return MODEL_KINDS[config.kind](config)


def parameter_count(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())
