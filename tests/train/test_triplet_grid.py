"""The triplet grid through the data build and training: ``clsm data build --grid triplet`` writes
windows with ``3:`` markers (x/4 and 2/2 groups only) and records the grid; ``clsm train`` reads
the grid from the manifest, so the saved model has the triplet vocabulary and its hash."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from clsm_cli.checkpoint import read_model_config
from clsm_cli.constants import TRIPLET_TOKEN, vocabulary_hash
from clsm_cli.data.corpus import build_dataset
from clsm_cli.data.shards import manifest_grid, open_split
from clsm_cli.timebase import TRIPLET_GRID
from clsm_cli.train.loop import TrainOptions, train
from synthetic_midi.midi_factory import TrackSpec, make_midi


def triplet_tune(rng: random.Random, num_bars: int = 12, ticks_per_beat: int = 480):
    """Quarters of straight 8ths, 16ths or a triplet of 8ths, a melody walking in 60..79."""
    notes, pitch = [], 67
    for quarter in range(4 * num_bars):
        start = quarter * ticks_per_beat
        pattern = rng.choice(((0, 240), (0, 120, 240, 360), (0, 160, 320), (0,)))
        bounds = list(pattern) + [ticks_per_beat]
        for offset, following in zip(bounds, bounds[1:]):
            pitch = min(79, max(60, pitch + rng.choice((-2, -1, 1, 2))))
            notes.append((start + offset, start + following, pitch, 90))
    return notes


@pytest.fixture(scope="module")
def triplet_data(tmp_path_factory):
    source = tmp_path_factory.mktemp("triplet-songs")
    rng = random.Random(5)
    for index in range(16):
        make_midi(source / f"tune{index:02d}.mid", [TrackSpec(triplet_tune(rng), name="Lead")])
    jig = [(step * 160, step * 160 + 160, 67 + step % 5, 90) for step in range(12 * 9)]
    make_midi(source / "jig.mid", [TrackSpec(jig, name="Lead")], time_signatures=((0, 6, 8),))
    out = tmp_path_factory.mktemp("built") / "triplet-data"
    manifest = build_dataset(out, [source], workers=1, grid="triplet")
    return out, manifest


def test_a_triplet_build_records_its_grid_and_puts_markers_only_on_quarter_lines(triplet_data):
    out, manifest = triplet_data
    assert manifest_grid(manifest) == TRIPLET_GRID and manifest["vocabulary_hash"] == vocabulary_hash("triplet")
    assert list(manifest["meter_groups"]) == ["4/4"]  # the 6/8 tune has no triplet grid
    assert manifest["files"]["skipped_by_reason"]["meter"]["examples"] == [
        {"detail": "in 6/8, which the triplet grid does not hold", "source": "jig.mid"}]
    windows = np.asarray(open_split(out, "train-1", meter_group="4/4")[:])
    markers = np.argwhere(windows == TRIPLET_TOKEN)
    assert len(markers) and set((markers[:, 1] % 4).tolist()) == {0}
    assert ((windows < 32) | (windows == TRIPLET_TOKEN)).all()  # music tokens and markers only


def test_training_on_triplet_data_saves_a_triplet_model(triplet_data, tmp_path):
    out, _ = triplet_data
    result = train(TrainOptions(kind="clsm", data_dir=str(out), out=str(tmp_path / "m"), preset="tiny", batch_size=8,
                                max_steps=2, max_validation_windows=8, workers=0))
    record, config = read_model_config(result.model_directory)
    assert config.grid == TRIPLET_GRID and config.vocab_size == config.num_music_tokens == 36
    assert record["vocabulary_hash"] == vocabulary_hash("triplet") != vocabulary_hash()
    assert json.loads((result.model_directory / "config.json").read_text())["config"]["grid_encoding"] == "triplet"


def test_a_trained_triplet_model_edits_a_triplet_fixture_the_same_in_both_engines(triplet_data, tmp_path):
    from pathlib import Path

    from typer.testing import CliRunner

    from clsm_cli.cli.app import app

    out, _ = triplet_data
    result = train(TrainOptions(kind="clsm", data_dir=str(out), out=str(tmp_path / "m"), preset="tiny", batch_size=8,
                                max_steps=3, max_validation_windows=8, workers=0))
    tune = Path(__file__).resolve().parent.parent / "fixtures" / "triplets" / "swung_hornpipe.mid"  # 4/4
    tokens = {}
    for engine in ("numpy", "torch"):
        run = CliRunner().invoke(app, ["infill", str(tune), "--bars", "2-3", "-n", "4", "--seed", "2", "--model",
                                       str(result.model_directory), "--engine", engine, "--temperature", "1.0",
                                       "--json", "--no-preview", "--out", str(tmp_path / engine)])
        assert run.exit_code == 0, run.output
        tokens[engine] = [output["target_tokens"] for output in json.loads(run.stdout)["outputs"]]
    assert tokens["numpy"] == tokens["torch"]


def test_a_16th_grid_model_starts_a_triplet_model_with_every_weight_carried_over(triplet_data, tiny_model_dir, tmp_path):
    """--init-from a 16th-grid model (the tiny shipped-like one): every tensor is copied, the rows the
    triplet vocabulary adds (3:'s embedding, the extra decoder classes) keep their fresh values."""
    from safetensors.numpy import load_file

    out, _ = triplet_data
    result = train(TrainOptions(kind="clsm", data_dir=str(out), out=str(tmp_path / "up"), preset="tiny", batch_size=8,
                                max_steps=1, learning_rate=1e-12, max_validation_windows=8, workers=0,
                                init_from=str(tiny_model_dir)))
    _, config = read_model_config(result.model_directory)
    assert config.grid == TRIPLET_GRID
    old = load_file(str(tiny_model_dir / "model.safetensors"))
    new = load_file(str(result.model_directory / "model.safetensors"))
    assert old.keys() == new.keys()
    grown = [name for name in old if old[name].shape != new[name].shape]
    assert grown and all(new[name].shape[0] == 36 and old[name].shape[0] in (32, 35) for name in grown)
    for name, tensor in old.items():  # with a learning rate of ~0 the copied rows stay as they were
        assert np.allclose(new[name][: tensor.shape[0]], tensor, atol=1e-5), name
    record = json.loads((result.model_directory / "config.json").read_text())["training"]
    assert record["init_from"]["grid_upgrade"] == "16th -> triplet"
