"""The model kinds, as MusicVAE's named configs: one record per kind says everything the rest asks.

A :class:`ModelKind` binds a name (what ``clsm train KIND`` accepts) to its model class, its
objective (what a training batch draws: a target span, a constraint mask, a KL weight), the splits
it trains and validates on, whether it has a latent, and its name in the paper's tables. Training,
evaluation and ``clsm models`` read these records instead of testing kind names one by one.

This module imports no torch: the model classes are named by module and resolved on first use
(``ModelKind.model_class``), so listing models and parsing the command line stay fast.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Optional

from clsm_cli.errors import ModelError, UsageError
from clsm_cli.models.config import ModelConfig, validate_config

GENERATOR_SPLITS = ("train-1", "valid-1")  # the generators' data (paper section 3.1)
LM_SPLITS = ("train-2", "valid-2")  # the evaluation LM learns on songs the generators never saw


@dataclass(frozen=True)
class ModelKind:
    """One trainable kind of model and how it is trained and evaluated."""

    name: str  # what `clsm train` accepts: clsm, vae, arnn, arnn-t, lm
    paper_name: str  # the row name in the paper's tables: CLSM, VAE, ARNN, ARNN_T, LM
    config_kind: str  # the ``kind`` field of its config (arnn-t is an ARNN config)
    model_path: str  # "module:Class" of the torch model, resolved lazily
    splits: tuple[str, str]  # (training split, validation split)
    has_latent: bool  # trained with a KL term; evaluated by interpolation and reconstruction
    draws_target_span: bool  # each batch trains one sampled τ (CLSM)
    draws_constraint_mask: bool  # each batch draws a constraint mask (the ARNNs)
    kl_option: Optional[str] = None  # the flag that sets its KL weight (--beta, --gamma)
    default_kl_weight: float = 0.0
    generates: bool = True  # `clsm evaluate` compares it as a generator (the LM only scores)
    constraint_mode: Optional[str] = None  # ARNN: "random" or "targets"
    description: str = ""

    @property
    def model_class(self) -> type:
        module_name, class_name = self.model_path.split(":")
        return getattr(importlib.import_module(module_name), class_name)

    @property
    def training_split(self) -> str:
        return self.splits[0]

    @property
    def validation_split(self) -> str:
        return self.splits[1]


DEFAULT_BETA = 0.012  # CLSM's KL weight β (paper sections 3.4.1 and 4.3)
DEFAULT_GAMMA = 0.4  # the VAE's KL weight γ (paper sections 3.4.2 and 4.3)

KINDS: dict[str, ModelKind] = {
    kind.name: kind
    for kind in (
        ModelKind(
            "clsm", "CLSM", "clsm", "clsm_cli.models.clsm:CLSM", GENERATOR_SPLITS, has_latent=True,
            draws_target_span=True, draws_constraint_mask=False, kl_option="--beta", default_kl_weight=DEFAULT_BETA,
            description="the contextual latent space model",
        ),
        ModelKind(
            "vae", "VAE", "vae", "clsm_cli.models.vae:VAE", GENERATOR_SPLITS, has_latent=True,
            draws_target_span=False, draws_constraint_mask=False, kl_option="--gamma", default_kl_weight=DEFAULT_GAMMA,
            description="the baseline VAE",
        ),
        ModelKind(
            "arnn", "ARNN", "arnn", "clsm_cli.models.arnn:ARNN", GENERATOR_SPLITS, has_latent=False,
            draws_target_span=False, draws_constraint_mask=True, constraint_mode="random",
            description="Anticipation-RNN, constrained at random positions",
        ),
        ModelKind(
            "arnn-t", "ARNN_T", "arnn", "clsm_cli.models.arnn:ARNN", GENERATOR_SPLITS, has_latent=False,
            draws_target_span=False, draws_constraint_mask=True, constraint_mode="targets",
            description="Anticipation-RNN, constrained outside CLSM target sets",
        ),
        ModelKind(
            "lm", "LM", "lm", "clsm_cli.models.lm:LanguageModel", LM_SPLITS, has_latent=False,
            draws_target_span=False, draws_constraint_mask=False, generates=False,
            description="the language model that scores samples",
        ),
    )
}
KIND_NAMES = tuple(KINDS)


def model_kind(name: str) -> ModelKind:
    """The kind called ``name``; a UsageError naming the kinds otherwise."""
    if name not in KINDS:
        raise UsageError(f"model must be one of {', '.join(KIND_NAMES)}, got {name!r}")
    return KINDS[name]


def kind_of_config(config: Any) -> ModelKind:
    """The kind a config belongs to (an ARNN config trained on target sets is ``arnn-t``)."""
    for kind in KINDS.values():
        if kind.config_kind == config.kind and kind.constraint_mode == getattr(config, "constraint_mode", None):
            return kind
    raise ModelError(f"unknown model kind {config.kind!r}; this clsm builds {', '.join(KIND_NAMES)}")


def build_model(config: ModelConfig):
    """A freshly initialised torch model for ``config`` (seed torch first for reproducible weights)."""
    validate_config(config)
    return kind_of_config(config).model_class(config)


def parameter_count(model) -> int:
    return sum(parameter.numel() for parameter in model.parameters())
