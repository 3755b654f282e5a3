"""``--init-from``: a new run that starts from a saved model's weights (fresh optimizer, step 0)."""

from __future__ import annotations

import dataclasses

import torch

from clsm_cli.errors import UsageError
from clsm_cli.models.registry import ModelKind, kind_of_config


def load_initial_weights(model: torch.nn.Module, name_or_path: str, kind: ModelKind, config, preset: str) -> dict:
    """Copy the saved model's weights into ``model``; what the records say about where they came from.

    The saved model must be of the same kind and have the same config (preset and meter); only the
    recommended decoding may differ, since it is not part of the architecture. One upgrade is allowed:
    a 16th-grid model starts a triplet-grid model of the same config (:func:`upgraded_state`): every
    weight is copied, and the rows of the vocabulary the 16th grid lacks (the ``3:`` marker's
    embedding and the output classes it adds) keep their fresh initialisation.
    """
    from clsm_cli.checkpoint import load_model, resolve_model
    from clsm_cli.models.config import config_to_dict

    source = load_model(resolve_model(name_or_path))  # ModelError (exit 4) when unreadable
    source_kind = kind_of_config(source.config)
    source_config = dataclasses.replace(
        source.config, decoding_temperature=config.decoding_temperature, decoding_top_p=config.decoding_top_p
    )
    upgrade = _grid_upgrade(source_config, config)
    if upgrade:
        source_config = dataclasses.replace(source_config, grid_encoding=config.grid_encoding,
                                            vocab_size=config.vocab_size, num_music_tokens=config.num_music_tokens)
    if source_kind != kind or config_to_dict(source_config) != config_to_dict(config):
        raise UsageError(
            f"--init-from {name_or_path} is a {source_kind.name} model ({source.metadata.get('training', {}).get('preset', '?')} "
            f"preset) that does not fit a {kind.name} of preset {preset}; start from a model of the same kind, preset and meter"
        )
    state = source.model.state_dict()
    model.load_state_dict(upgraded_state(state, model.state_dict()) if upgrade else state)
    return {
        "grid_upgrade": f"{source.config.grid_encoding} -> {config.grid_encoding}" if upgrade else None,
        "model": str(source.directory),
        "weights_sha256": source.metadata.get("weights_sha256"),
        "steps": source.metadata.get("training", {}).get("steps"),
    }


def _grid_upgrade(source_config, config) -> bool:
    """Whether ``source_config`` is the 16th-grid twin of a triplet-grid ``config``."""
    return (getattr(source_config, "grid_encoding", None) == "16th"
            and getattr(config, "grid_encoding", None) == "triplet"
            and hasattr(config, "num_music_tokens"))


def upgraded_state(source: dict, target: dict) -> dict:
    """``target`` (a fresh model's state) with every tensor of ``source`` copied in: whole where the
    shapes agree, its leading rows where only the first dimension (the vocabulary) grew."""
    state = {}
    for name, fresh in target.items():
        old = source.get(name)
        if old is None or old.dim() != fresh.dim() or old.shape[1:] != fresh.shape[1:] or old.shape[0] > fresh.shape[0]:
            raise UsageError(f"--init-from: the weight {name} does not carry over to the triplet grid")
        merged = fresh.clone()
        merged[: old.shape[0]] = old
        state[name] = merged
    return state
