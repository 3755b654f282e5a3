"""Tiny datasets for training tests, written in the real shard format (``data/shards.py``).

The windows are simple, learnable melodies (a few motifs of quarter notes, transposed), so a tiny
model's loss falls within a few steps. Held-out splits skip the build's "seen in training" filter
(these motifs repeat on purpose).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clsm_cli.constants import HOLD_TOKEN, REST_TOKEN, WINDOW_STEPS
from clsm_cli.data.splits import HELD_OUT_SPLITS, TRAIN_SPLITS
from tests.dataset_factory import write_windows_dataset

MOTIFS = (  # scale degrees in semitones above a base; None is a rest
    (0, 2, 4, 5, 7, 5, 4, 2),
    (0, 4, 7, 12, 7, 4, 0, None),
    (7, 5, 4, 2, 0, 2, 4, 0),
    (0, 0, 7, 7, 9, 9, 7, None),
)
NOTE_STEPS = 4  # every motif note is a quarter note


def melodic_windows(count: int, seed: int) -> np.ndarray:
    """(count, 128) uint8 canonical windows: one motif repeated, transposed by a random base."""
    rng = np.random.default_rng(seed)
    windows = np.full((count, WINDOW_STEPS), HOLD_TOKEN, dtype=np.uint8)
    for row in range(count):
        motif = MOTIFS[rng.integers(len(MOTIFS))]
        base = int(rng.integers(0, 30 - 12))  # token id of the motif's lowest pitch
        for note_index, step in enumerate(range(0, WINDOW_STEPS, NOTE_STEPS)):
            degree = motif[note_index % len(motif)]
            windows[row, step] = REST_TOKEN if degree is None else base + degree
    return windows


def write_dataset(directory: Path, counts: dict[str, int], seed: int = 0) -> Path:
    """A dataset directory with ``counts[split]`` windows per split (missing splits are empty)."""
    splits = TRAIN_SPLITS + HELD_OUT_SPLITS
    windows = {split: melodic_windows(counts.get(split, 0), seed + offset) for offset, split in enumerate(splits)}
    return write_windows_dataset(directory, windows, windows_per_shard=100)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """96 training and 32 validation windows for the generators and for the LM."""
    counts = {"train-1": 96, "valid-1": 32, "train-2": 96, "valid-2": 32, "test": 16}
    return write_dataset(tmp_path_factory.mktemp("data") / "tiny", counts)


@pytest.fixture
def models_home(tmp_path, monkeypatch) -> Path:
    """Point the user data directory (where `--out NAME` lands) at a temporary folder."""
    home = tmp_path / "clsm-home"
    monkeypatch.setenv("CLSM_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def short_data(tmp_path_factory) -> Path:
    """32 training windows: 4 steps per epoch at batch 8, so runs cross epochs cheaply."""
    counts = {"train-1": 32, "valid-1": 16, "train-2": 32, "valid-2": 16}
    return write_dataset(tmp_path_factory.mktemp("data") / "short", counts, seed=5)


class RecordingProgress:
    """A ``clsm_cli.progress.Progress`` that keeps the messages, for tests that read what a run said."""

    def __init__(self):
        self.messages: list[str] = []

    def task(self, description, total, completed=0):
        from clsm_cli.progress import SilentProgress

        return SilentProgress().task(description, total, completed)

    def message(self, text: str) -> None:
        self.messages.append(text)


@pytest.fixture
def recording_progress() -> RecordingProgress:
    return RecordingProgress()


@pytest.fixture(scope="session")
def train_only_data(tmp_path_factory) -> Path:
    """What one kept song gives: train-1 windows and nothing in any other split."""
    return write_dataset(tmp_path_factory.mktemp("data") / "one-song", {"train-1": 16})
