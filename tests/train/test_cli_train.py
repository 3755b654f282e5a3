"""`clsm train` through the real Typer app: a loadable model where --model NAME finds it, clear errors."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from clsm_cli.checkpoint import load_model, resolve_model
from clsm_cli.cli.app import app
from clsm_cli.cli.train import parse_duration
from clsm_cli.errors import UsageError

ENV = {"COLUMNS": "100", "NO_COLOR": "1"}


def clsm(*args):
    return CliRunner(env=ENV).invoke(app, [str(arg) for arg in args])


def test_train_writes_a_model_that_model_name_finds(tiny_data, models_home):
    result = clsm(
        "train", "clsm", "--data", tiny_data, "--out", "tiny-clsm", "--preset", "tiny", "--batch-size", "8",
        "--max-steps", "2", "--max-val-windows", "8", "--workers", "0",
    )
    assert result.exit_code == 0, result.output
    directory = resolve_model("tiny-clsm")
    assert directory == models_home / "models" / "tiny-clsm"
    loaded = load_model(directory)
    assert loaded.kind == "clsm" and loaded.metadata["training"]["steps"] == 2
    assert "tiny-clsm" in result.stdout and "--resume" in result.stdout  # stopped early: says how to go on


def test_beta_for_a_vae_is_a_usage_error(tiny_data, tmp_path):
    result = clsm("train", "vae", "--data", tiny_data, "--out", tmp_path / "m", "--beta", "0.01")
    assert result.exit_code == 2
    assert "--beta is the CLSM" in result.stderr


def test_missing_data_folder_is_an_input_error(tmp_path):
    result = clsm("train", "clsm", "--data", tmp_path / "no-data", "--out", tmp_path / "m")
    assert result.exit_code == 3
    assert "does not exist" in result.stderr and "clsm data build" in result.stderr
    assert "Traceback" not in result.output


def test_existing_output_is_an_output_error(tiny_data, tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "file").write_text("x")
    result = clsm("train", "lm", "--data", tiny_data, "--out", taken)
    assert result.exit_code == 5
    assert "already exists" in result.stderr


def test_unknown_model_kind_is_rejected():
    result = clsm("train", "gan", "--data", ".", "--out", "x")
    assert result.exit_code == 2


def test_help_lists_models_defaults_and_examples():
    result = clsm("train", "--help")
    assert result.exit_code == 0
    for text in ("arnn-t", "--beta", "--gamma", "--resume", "--time-limit", "torchrun", "Examples", "[default: 0.012]"):
        assert text in result.stdout


@pytest.mark.parametrize("text, seconds", [("600", 600.0), ("90s", 90.0), ("45m", 2700.0), ("1.5h", 5400.0)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "-5m", "0"])
def test_bad_durations(text):
    with pytest.raises(UsageError):
        parse_duration(text)


def test_meter_chooses_the_group_and_the_models_grid(tiny_data, models_home, monkeypatch):
    import numpy as np

    from clsm_cli.constants import HOLD_TOKEN
    from clsm_cli.train import data as training_data

    groups = []

    def three_four(data_dir, split, meter_group):
        groups.append(meter_group)
        windows = np.full((16, 96), HOLD_TOKEN, dtype=np.uint8)
        windows[:, ::12] = np.arange(16, dtype=np.uint8)[:, None]
        return windows

    monkeypatch.setattr(training_data, "open_meter_split", three_four)
    result = clsm("train", "lm", "--data", tiny_data, "--out", "waltz-lm", "--preset", "tiny", "--batch-size", "8",
                  "--max-steps", "1", "--meter", "3/4", "--workers", "0")
    assert result.exit_code == 0, result.output
    config = load_model(resolve_model("waltz-lm")).config
    assert config.meters == ((3, 4),) and config.steps_per_bar == 12 and set(groups) == {"3/4"}


def test_two_two_trains_the_four_four_group(tiny_data, models_home):
    result = clsm("train", "lm", "--data", tiny_data, "--out", "cut-time", "--preset", "tiny", "--batch-size", "8",
                  "--max-steps", "1", "--meter", "2/2", "--workers", "0")
    assert result.exit_code == 0, result.output
    assert load_model(resolve_model("cut-time")).metadata["training"]["meter_group"] == "4/4"


def test_a_malformed_meter_is_a_usage_error(tiny_data, models_home):
    result = clsm("train", "lm", "--data", tiny_data, "--out", "x", "--meter", "waltz")
    assert result.exit_code == 2 and "a meter is written like 3/4" in result.stderr


def test_a_diverged_run_exits_4_and_an_unwritable_out_exits_5(tiny_data, tmp_path):
    diverged = clsm("train", "clsm", "--data", tiny_data, "--out", tmp_path / "d", "--preset", "tiny", "--batch-size", "8",
                    "--max-steps", "30", "--lr", "1000", "--workers", "0")
    assert diverged.exit_code == 4 and "training diverged" in diverged.stderr and "Traceback" not in diverged.output
    (tmp_path / "file").write_text("x")
    blocked = clsm("train", "lm", "--data", tiny_data, "--out", tmp_path / "file" / "m", "--preset", "tiny",
                   "--batch-size", "8", "--max-steps", "1", "--workers", "0")
    assert blocked.exit_code == 5 and "cannot write the model folder" in blocked.stderr
