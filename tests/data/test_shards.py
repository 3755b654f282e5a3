"""Reading datasets back: WindowSet indexing over several shards, origins, and broken directories."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from clsm_cli.data.corpus import build_dataset
from clsm_cli.data.shards import MANIFEST_NAME, open_split, read_manifest
from clsm_cli.errors import InputFileError, UsageError
from tests.data.synthetic_corpus import write_corpus


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    write_corpus(root)
    out = tmp_path_factory.mktemp("built") / "dataset"
    build_dataset(out, [root], workers=1, windows_per_shard=5)
    return out


def test_the_manifest_records_the_grid_of_its_windows(dataset):
    from clsm_cli.data.shards import manifest_grid
    from clsm_cli.timebase import SIXTEENTH_GRID

    manifest = read_manifest(dataset)
    assert manifest["grid"] == {"steps_per_quarter": 4, "encoding": "16th"}
    assert manifest_grid(manifest) == SIXTEENTH_GRID


def largest_split(directory):
    splits = read_manifest(directory)["meter_groups"]["4/4"]["splits"]
    return max(splits, key=lambda split: splits[split]["windows"])


def test_indexing_across_shards(dataset):
    split = largest_split(dataset)
    windows = open_split(dataset, split)
    assert len(windows) > 10 and len(read_manifest(dataset)["meter_groups"]["4/4"]["splits"][split]["shards"]) > 2
    every = np.stack(list(windows))
    assert every.shape == (len(windows), 128) and every.dtype == np.uint8
    for index in (0, 4, 5, 6, len(windows) - 1, -1):
        assert np.array_equal(windows[index], every[index])
    picks = np.array([7, 0, 5, 5, len(windows) - 1, 3])
    assert np.array_equal(windows[picks], every[picks])
    assert np.array_equal(windows[2:9:3], every[2:9:3])
    assert windows[np.array([], dtype=np.int64)].shape == (0, 128)
    mask = np.arange(len(windows)) % 3 == 0
    assert np.array_equal(windows[mask], every[mask])
    with pytest.raises(IndexError):
        windows[len(windows)]
    with pytest.raises(IndexError):
        windows[np.array([0, len(windows)])]


def test_origins_trace_windows_to_songs(dataset):
    split = largest_split(dataset)
    windows = open_split(dataset, split)
    assert windows.origins.shape == (len(windows), 4)
    origin = windows.origin(0)
    assert set(origin) == {"source", "song", "track", "first_bar", "semitones"}
    assert windows.song(0) == origin["song"] and origin["first_bar"] >= 1


def test_missing_and_broken_datasets_give_clear_errors(dataset, tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        open_split(tmp_path / "nothing", "train-1")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match="no manifest.json"):
        open_split(tmp_path / "empty", "train-1")
    with pytest.raises(UsageError, match="split must be one of"):
        open_split(dataset, "training")

    broken = tmp_path / "broken"
    shutil.copytree(dataset, broken)
    split = largest_split(broken)
    shard = broken / "4-4" / split / "shard-00001.u8"
    shard.write_bytes(shard.read_bytes()[:-1])
    with pytest.raises(InputFileError, match="missing or truncated"):
        open_split(broken, split)

    manifest = json.loads((broken / MANIFEST_NAME).read_text())
    manifest["format_version"] = 99
    (broken / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(InputFileError, match="version 99"):
        read_manifest(broken)
    (broken / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(InputFileError, match="not readable JSON"):
        read_manifest(broken)
