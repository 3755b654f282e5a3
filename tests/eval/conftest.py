"""Fixtures for the evaluation tests: a tiny dataset in the real shard format and tiny saved models.

The models are randomly initialised ``tiny`` presets saved with ``checkpoint.save_model``: the
harness only needs them to run, not to be good. The test windows are simple scale-and-arpeggio
melodies, so the melody statistics have something musical to measure.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from clsm_cli.constants import HOLD_TOKEN, REST_TOKEN, WINDOW_STEPS
from clsm_cli.data.splits import HELD_OUT_SPLITS, TRAIN_SPLITS
from tests.dataset_factory import write_windows_dataset

MOTIFS = ((0, 2, 4, 5, 7, 5, 4, 2), (0, 4, 7, 12, 7, 4, 0, None), (7, 5, 4, 2, 0, 2, 4, 0))
KINDS = ("clsm", "vae", "arnn", "arnn-t")  # the generators; "lm" is saved separately
CLI_ENV = {"COLUMNS": "120", "LINES": "50", "FORCE_COLOR": None, "NO_COLOR": "1", "TERM": "dumb"}


def melodic_windows(count: int, seed: int) -> np.ndarray:
    """(count, 128) canonical windows: a motif in quarter and eighth notes on a random base pitch."""
    rng = np.random.default_rng(seed)
    windows = np.full((count, WINDOW_STEPS), HOLD_TOKEN, dtype=np.uint8)
    for row in range(count):
        motif = MOTIFS[rng.integers(len(MOTIFS))]
        base = int(rng.integers(0, 30 - 12))
        step, index = 0, 0
        while step < WINDOW_STEPS:
            degree = motif[index % len(motif)]
            windows[row, step] = REST_TOKEN if degree is None else base + degree
            step += int(rng.choice([2, 4]))
            index += 1
    return windows


def write_dataset(directory: Path, test_windows: int, seed: int = 0) -> Path:
    splits = TRAIN_SPLITS + HELD_OUT_SPLITS
    windows = {
        split: melodic_windows(test_windows if split == "test" else 4, seed + offset)
        for offset, split in enumerate(splits)
    }
    return write_windows_dataset(directory, windows, windows_per_shard=16)


@pytest.fixture(scope="session")
def eval_data(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("eval-data") / "melodies", test_windows=40)


def tiny_model(kind: str, seed: int):
    from clsm_cli.models.config import preset_config
    from clsm_cli.models.registry import build_model

    torch.manual_seed(seed)
    return build_model(preset_config(kind, "tiny")).eval()


@pytest.fixture(scope="session")
def saved_models(tmp_path_factory) -> dict[str, Path]:
    """Folders of saved tiny models by kind: clsm, vae, arnn, arnn-t and lm."""
    from clsm_cli.checkpoint import save_model

    root = tmp_path_factory.mktemp("eval-models")
    folders = {}
    for seed, kind in enumerate(KINDS + ("lm",)):
        folders[kind] = save_model(tiny_model(kind, seed), root / f"tiny-{kind}", training={"preset": "tiny"})
    return folders


@pytest.fixture
def run_clsm():
    from clsm_cli.cli.app import app

    runner = CliRunner(env=dict(CLI_ENV))

    def run(*args):
        return runner.invoke(app, [str(arg) for arg in args])

    return run
