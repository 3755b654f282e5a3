"""Shared fixtures for the engine tests: a tiny CLSM with every weight perturbed, saved to a folder.

Perturbing every parameter (layer norms included, which start at exactly 1 and 0) makes the parity
tests exercise each weight the engines read. The shipped model is the second case.
"""

from pathlib import Path

import numpy as np
import pytest

from clsm_cli.constants import HOLD_TOKEN, NUM_MUSIC_TOKENS, WINDOW_STEPS

SHIPPED_MODEL = Path(__file__).resolve().parents[2] / "weights" / "folk-small"


def random_window(seed: int) -> np.ndarray:
    """(128,) canonical music tokens (the first is never a hold), uint8."""
    window = np.random.default_rng(seed).integers(0, NUM_MUSIC_TOKENS, WINDOW_STEPS).astype(np.uint8)
    if window[0] == HOLD_TOKEN:
        window[0] = 0
    return window


def build_tiny_clsm(seed: int = 0):
    """A tiny-preset CLSM in eval mode whose parameters are all moved off their initial values."""
    import torch

    from clsm_cli.models.config import preset_config
    from clsm_cli.models.registry import build_model

    torch.manual_seed(seed)
    model = build_model(preset_config("clsm", "tiny")).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    return model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny CLSM saved with ``checkpoint.save_model`` (name "tiny-engine")."""
    from clsm_cli.checkpoint import save_model

    return save_model(build_tiny_clsm(), tmp_path_factory.mktemp("models") / "tiny-engine")


@pytest.fixture(scope="session")
def tiny_torch_model(tiny_model_dir):
    from clsm_cli.checkpoint import load_model

    return load_model(tiny_model_dir).model


@pytest.fixture(scope="session")
def tiny_engines(tiny_model_dir, tiny_torch_model):
    """(numpy engine, torch engine) over the same tiny weights."""
    from clsm_cli.engine.load import load_engine
    from clsm_cli.engine.torch_engine import TorchEngine

    return load_engine(str(tiny_model_dir), engine="numpy").engine, TorchEngine(tiny_torch_model, "cpu")


@pytest.fixture(scope="session")
def shipped_engines():
    """(numpy engine, torch engine) over the shipped folk-small weights."""
    from clsm_cli.engine.load import load_engine

    return (
        load_engine(str(SHIPPED_MODEL), engine="numpy").engine,
        load_engine(str(SHIPPED_MODEL), engine="torch", device="cpu").engine,
    )
