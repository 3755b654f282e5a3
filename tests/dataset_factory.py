"""Write token windows as a dataset folder in the real shard format (``data/shards.py``).

Held-out splits skip the build's "seen in training" filter, so tests may repeat motifs on purpose.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clsm_cli.data.shards import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST_NAME,
    SOURCES_NAME,
    DatasetWriter,
    content_sha256,
    group_folder_name,
    write_json,
)
from clsm_cli.data.splits import HELD_OUT_SPLITS, TRAIN_SPLITS
from clsm_cli.timebase import Meter


def write_windows_dataset(
    directory: Path, windows_by_split: dict[str, np.ndarray], windows_per_shard: int, meter_group: str = "4/4"
) -> Path:
    """A dataset folder whose ``meter_group`` holds ``windows_by_split[split]`` ((n, window_steps)
    uint8: 128 steps in 4/4, 96 in 3/4; missing splits are empty)."""
    group = Meter.parse(meter_group).group
    directory.mkdir(parents=True)
    folder = group_folder_name(group)
    writer = DatasetWriter(directory / folder, windows_per_shard=windows_per_shard, window_steps=group.window_steps)
    empty = np.zeros((0, group.window_steps), dtype=np.uint8)
    for split in TRAIN_SPLITS + HELD_OUT_SPLITS:
        windows = windows_by_split.get(split, empty)
        origins = np.zeros((len(windows), 4), dtype=np.int32)
        if split in TRAIN_SPLITS:
            writer.add_training(split, windows, origins, original_key=empty)
        else:
            writer.add_held_out(split, windows, origins)
    splits = writer.finish()
    write_json(directory / folder / SOURCES_NAME, [])
    record = {
        "folder": folder,
        "steps_per_bar": group.steps_per_bar,
        "window_steps": group.window_steps,
        "splits": splits,
    }
    manifest = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "meter_groups": {str(group): record}}
    manifest["content_sha256"] = content_sha256(directory)
    write_json(directory / MANIFEST_NAME, manifest)
    return directory
