"""The install without torch: every editing command works, training and evaluation say what to install.

Each command runs in a fresh interpreter where ``import torch`` fails (the ``run_without_torch``
fixture), as after ``pip install .`` alone. A command that reached torch on its way would fail here.
"""

import re
from pathlib import Path

import mido
import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
EXAMPLE = REPOSITORY / "examples" / "hoert-ihr-herrn.mid"


def note_events(path: Path) -> list[tuple[int, int]]:
    """(pitch, absolute tick) of every note-on with velocity, in file order."""
    events, ticks = [], 0
    for message in mido.merge_tracks(mido.MidiFile(path).tracks):
        ticks += message.time
        if message.type == "note_on" and message.velocity > 0:
            events.append((message.note, ticks))
    return events


@pytest.mark.parametrize(
    ("verb", "options", "files"),
    [
        ("infill", ["--bars", "3-4", "-n", "2"], 2),
        ("interpolate", ["--bars", "3-4", "--steps", "2"], 3),
        ("vary", ["--bars", "3-4", "--amount", "0.5", "-n", "2"], 2),
    ],
)
def test_editing_commands_run_where_torch_cannot_be_imported(run_without_torch, tmp_path, verb, options, files):
    result = run_without_torch("-m", "clsm_cli", verb, EXAMPLE, *options, "--seed", "7", "--out", tmp_path, "--no-preview")
    assert result.returncode == 0, result.stderr
    written = sorted(tmp_path.glob("*.mid"))
    assert len(written) == files
    original = note_events(EXAMPLE)
    assert any(note_events(path) != original for path in written)  # bars 3-4 were rewritten


@pytest.mark.parametrize("command", [["show", str(EXAMPLE), "--bars", "3-4"], ["models"]])
def test_show_and_models_run_where_torch_cannot_be_imported(run_without_torch, command):
    result = run_without_torch("-m", "clsm_cli", *command)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_torch_asked_for_where_it_cannot_be_imported_is_one_sentence_and_exit_4(run_without_torch, tmp_path):
    result = run_without_torch("-m", "clsm_cli", "infill", EXAMPLE, "--bars", "3-4", "--engine", "torch", "--out", tmp_path)
    assert result.returncode == 4
    assert "--engine torch needs torch" in result.stderr and "pip install torch==2.13.0" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "command",
    [
        ["train", "clsm", "--data", "data", "--out", "m"],
        ["evaluate", "--data", "data", "--lm", "lm", "--out", "results", "--models", "m"],
    ],
)
def test_train_and_evaluate_without_torch_say_what_to_install(run_without_torch, tmp_path, command):
    result = run_without_torch("-m", "clsm_cli", *command, cwd=tmp_path)
    assert result.returncode == 4, result.stderr
    assert f"clsm {command[0]} needs torch" in result.stderr and "pip install torch==2.13.0" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_data_build_runs_where_torch_cannot_be_imported(run_without_torch, tmp_path):
    songs = tmp_path / "songs"
    songs.mkdir()
    for example in sorted((REPOSITORY / "examples").glob("*.mid")):
        (songs / example.name).write_bytes(example.read_bytes())
    result = run_without_torch("-m", "clsm_cli", "data", "build", songs, "--out", tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data").is_dir() and any((tmp_path / "data").iterdir())


def test_every_package_under_clsm_cli_is_in_the_install():
    """A non-editable install holds only the packages pyproject lists."""
    settings = (REPOSITORY / "pyproject.toml").read_text()
    listed = set(re.findall(r'"(clsm_cli[\w.]*)"', settings.split("packages = [", 1)[1].split("]", 1)[0]))
    found = {
        ".".join(init.parent.relative_to(REPOSITORY).parts)
        for init in (REPOSITORY / "clsm_cli").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert found <= listed, f"missing from pyproject.toml's package list: {sorted(found - listed)}"
