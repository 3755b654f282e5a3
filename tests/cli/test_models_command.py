"""``clsm models``: user-trained and shipped models with what they are, and names ``--model`` takes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from synthetic_midi.midi_factory import scale_melody, write_song


@pytest.fixture
def clsm_home(tmp_path, monkeypatch):
    """A user data folder with one trained-looking tiny CLSM and one broken model folder."""
    from clsm_cli.checkpoint import save_model
    from clsm_cli.models.config import preset_config
    from clsm_cli.models.registry import build_model

    home = tmp_path / "home"
    monkeypatch.setenv("CLSM_HOME", str(home))
    torch.manual_seed(0)
    training = {
        "preset": "tiny",
        "data": {"directory": "/data/folk-corpus", "manifest_hash": "abcdef0123456789"},
        "steps": 1200,
        "final_validation": {"loss": 1.234, "accuracy": 0.61, "kl": 0.5},
    }
    save_model(build_model(preset_config("clsm", "tiny")), home / "models" / "my-folk", training=training)
    broken = home / "models" / "broken"
    broken.mkdir(parents=True)
    (broken / "config.json").write_text("{not json")
    return home


def test_models_table_lists_a_user_model_and_a_broken_one(run_clsm, clsm_home):
    result = run_clsm("models", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    first = next(index for index, line in enumerate(lines) if "my-folk" in line)
    broken = next(index for index, line in enumerate(lines) if "broken" in line)
    user_rows = " ".join(lines[first:broken] if broken > first else lines[first:])  # the cells wrap onto lines
    for words in ("user", "clsm", "tiny", "folk-corpus", "4/4", "2/2", "params", "loss 1.23", "acc 0.61", "KL 0.5"):
        assert words in user_rows
    assert "cannot load" in " ".join(lines[broken:broken + 3])


def test_models_json_describes_each_model(run_clsm, clsm_home):
    result = run_clsm("models", "--json")
    assert result.exit_code == 0
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    mine = rows["my-folk"]
    assert mine["source"] == "user" and mine["kind"] == "clsm" and mine["preset"] == "tiny"
    assert mine["meters"] == ["4/4", "2/2"] and mine["steps"] == 1200 and mine["grid"] == "16th"
    assert mine["parameters"] > 0 and mine["bytes"] > 0
    assert mine["validation"] == {"loss": 1.234, "accuracy": 0.61, "kl": 0.5}
    assert mine["decoding"] == {"temperature": 0.0, "top_p": 1.0}
    assert rows["broken"]["problem"]


def test_a_listed_name_works_as_model(run_clsm, clsm_home, tmp_path):
    song = write_song(tmp_path / "song.mid", scale_melody(8))
    result = run_clsm("infill", song, "--bars", "3-4", "-n", "1", "--seed", "1", "--model", "my-folk",
                      "--out", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["model"] == "my-folk"


def test_a_broken_model_is_exit_four_with_a_sentence(run_clsm, clsm_home, tmp_path):
    song = write_song(tmp_path / "song.mid", scale_melody(8))
    result = run_clsm("infill", song, "--bars", "3-4", "--model", "broken")
    assert result.exit_code == 4 and "not readable JSON" in result.stderr and "Traceback" not in result.output


def test_models_never_imports_torch(clsm_home):
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from clsm_cli.cli.app import app\n"
        "result = CliRunner().invoke(app, ['models', '--json'])\n"
        "print(result.exit_code, 'torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert done.stdout.split() == ["0", "False"], done.stderr


@pytest.mark.parametrize("field, value", [("num_heads", 0), ("d_model", "128"), ("steps_per_bar", 12)])
def test_a_model_with_a_bad_config_value_is_marked_and_the_others_listed(run_clsm, clsm_home, field, value):
    from clsm_cli.checkpoint import save_model
    from clsm_cli.models.config import preset_config
    from clsm_cli.models.registry import build_model

    folder = save_model(build_model(preset_config("clsm", "tiny")), clsm_home / "models" / "odd")
    record = json.loads((folder / "config.json").read_text())
    record["config"][field] = value
    (folder / "config.json").write_text(json.dumps(record))
    result = run_clsm("models", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["my-folk"]["problem"] is None and rows["my-folk"]["kind"] == "clsm"
    assert field in rows["odd"]["problem"]


def test_models_says_which_models_read_the_triplet_grid(run_clsm, clsm_home):
    from clsm_cli.checkpoint import save_model
    from clsm_cli.models.config import preset_config, with_grid
    from clsm_cli.models.registry import build_model
    from clsm_cli.timebase import TRIPLET_GRID

    save_model(build_model(with_grid(preset_config("clsm", "tiny"), TRIPLET_GRID)), clsm_home / "models" / "swing")
    rows = {row["name"]: row for row in json.loads(run_clsm("models", "--json").stdout)}
    assert rows["swing"]["grid"] == "triplet" and rows["my-folk"]["grid"] == "16th"
    lines = run_clsm("models", env={"COLUMNS": "200"}).stdout.splitlines()
    first = next(index for index, line in enumerate(lines) if "swing" in line)
    assert "triplets" in " ".join(lines[first : first + 4])
    assert not any("triplets" in line for line in lines[:first])
