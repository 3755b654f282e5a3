"""Shared fixtures for model tests: tiny models with fixed seeds and random canonical windows."""

import pytest
import torch

from clsm_cli.constants import HOLD_TOKEN, NUM_MUSIC_TOKENS, WINDOW_STEPS
from clsm_cli.models.config import preset_config
from clsm_cli.models.registry import build_model


def random_windows(batch: int, seed: int = 0) -> torch.Tensor:
    """(batch, 128) canonical music tokens (the first is never a hold)."""
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, NUM_MUSIC_TOKENS, (batch, WINDOW_STEPS), generator=generator)
    tokens[:, 0] = torch.where(tokens[:, 0] == HOLD_TOKEN, torch.zeros_like(tokens[:, 0]), tokens[:, 0])
    return tokens


def tiny_model(kind: str, seed: int = 0):
    torch.manual_seed(seed)
    return build_model(preset_config(kind, "tiny")).eval()


@pytest.fixture
def clsm():
    return tiny_model("clsm")


@pytest.fixture
def windows():
    return random_windows(3)
