"""``--init-from``: a new run that starts from a saved model's weights (fresh optimizer, step 0)."""

from __future__ import annotations

import dataclasses

import torch

from clsm_cli.errors import UsageError
from clsm_cli.models.registry import ModelKind, kind_of_config


def load_initial_weights(model: torch.nn.Module, name_or_path: str, kind: ModelKind, config, preset: str) -> dict:
    """Copy the saved model's weights into ``model``; what the records say about where they came from.

    The saved model must be of the same kind and have the same config (preset and meter); only the
    recommended decoding may differ, since it is not part of the architecture.
    """
    from clsm_cli.checkpoint import load_model, resolve_model
    from clsm_cli.models.config import config_to_dict

    source = load_model(resolve_model(name_or_path))  # ModelError (exit 4) when unreadable
    source_kind = kind_of_config(source.config)
    source_config = dataclasses.replace(
        source.config, decoding_temperature=config.decoding_temperature, decoding_top_p=config.decoding_top_p
    )
    if source_kind != kind or config_to_dict(source_config) != config_to_dict(config):
        raise UsageError(
            f"--init-from {name_or_path} is a {source_kind.name} model ({source.metadata.get('training', {}).get('preset', '?')} "
            f"preset) that does not fit a {kind.name} of preset {preset}; start from a model of the same kind, preset and meter"
        )
    model.load_state_dict(source.model.state_dict())
    return {
        "model": str(source.directory),
        "weights_sha256": source.metadata.get("weights_sha256"),
        "steps": source.metadata.get("training", {}).get("steps"),
    }
