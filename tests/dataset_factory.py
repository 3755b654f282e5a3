"""Write token windows as a dataset folder in the real shard format (``data/shards.py``).

Held-out splits skip the build's "seen in training" filter, so tests may repeat motifs on purpose.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clsm_cli.constants import WINDOW_STEPS
from clsm_cli.data.shards import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST_NAME,
    SOURCES_NAME,
    DatasetWriter,
    content_sha256,
    write_json,
)
from clsm_cli.data.splits import HELD_OUT_SPLITS, TRAIN_SPLITS


def write_windows_dataset(directory: Path, windows_by_split: dict[str, np.ndarray], windows_per_shard: int) -> Path:
    """A dataset folder holding ``windows_by_split[split]`` ((n, 128) uint8; missing splits are empty)."""
    directory.mkdir(parents=True)
    writer = DatasetWriter(directory, windows_per_shard=windows_per_shard)
    empty = np.zeros((0, WINDOW_STEPS), dtype=np.uint8)
    for split in TRAIN_SPLITS + HELD_OUT_SPLITS:
        windows = windows_by_split.get(split, empty)
        origins = np.zeros((len(windows), 4), dtype=np.int32)
        if split in TRAIN_SPLITS:
            writer.add_training(split, windows, origins, original_key=empty)
        else:
            writer.add_held_out(split, windows, origins)
    splits = writer.finish()
    write_json(directory / SOURCES_NAME, [])
    manifest = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "splits": splits}
    manifest["content_sha256"] = content_sha256(directory)
    write_json(directory / MANIFEST_NAME, manifest)
    return directory
