"""`clsm train` faults of issue 27 (item 6), through the command: --force on a damaged checkpoint, a
changed --precision on resume, another kind on resume, and SIGTERM's exit code 143."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from typer.testing import CliRunner

from clsm_cli.checkpoint import WEIGHTS_FILE
from clsm_cli.cli.app import app
from clsm_cli.train import state as training_state
from clsm_cli.train.loop import LOG_FILE_NAME

ENV = {"COLUMNS": "100", "NO_COLOR": "1"}
SMALL_RUN = ("--preset", "tiny", "--batch-size", "8", "--max-val-windows", "8", "--workers", "0")


def clsm(*args):
    return CliRunner(env=ENV).invoke(app, [str(arg) for arg in args])


def stopped_run(data, out, kind="lm"):
    result = clsm("train", kind, "--data", data, "--out", out, *SMALL_RUN, "--max-steps", "2")
    assert result.exit_code == 0, result.output
    assert training_state.has_training_state(out)


def damage_checkpoint(out):
    state_json = training_state.state_directory(out) / "state.json"
    document = json.loads(state_json.read_text())
    document["progress"]["global_step"] = 1  # edited by hand: the checksum no longer matches
    state_json.write_text(json.dumps(document))


def test_force_starts_a_damaged_checkpoint_folder_afresh(short_data, tmp_path):
    out = tmp_path / "m"
    stopped_run(short_data, out)
    damage_checkpoint(out)
    resumed = clsm("train", "lm", "--data", short_data, "--out", out, *SMALL_RUN, "--max-steps", "3", "--resume")
    assert resumed.exit_code == 4 and "--force" in resumed.stderr, resumed.output
    plain = clsm("train", "lm", "--data", short_data, "--out", out, *SMALL_RUN, "--max-steps", "3")
    assert plain.exit_code == 5 and "--force" in plain.stderr, plain.output
    forced = clsm("train", "lm", "--data", short_data, "--out", out, *SMALL_RUN, "--max-steps", "3", "--force",
                  "--log-every", "1")
    assert forced.exit_code == 0, forced.output
    assert training_state.read_training_info(out)["progress"]["global_step"] == 3  # from step 0, not resumed
    assert (out / WEIGHTS_FILE).exists()
    lines = [json.loads(line) for line in (out / LOG_FILE_NAME).read_text().splitlines()]
    assert [line["step"] for line in lines if line["type"] == "train"] == [1, 2, 3]  # the old log went too


def test_force_never_removes_someone_elses_files(short_data, tmp_path):
    out = tmp_path / "m"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = clsm("train", "lm", "--data", short_data, "--out", out, *SMALL_RUN, "--max-steps", "1", "--force")
    assert result.exit_code == 5 and (out / "notes.txt").read_text() == "mine"
    both = clsm("train", "lm", "--data", short_data, "--out", out, "--force", "--resume")
    assert both.exit_code == 2


def test_resuming_with_another_precision_exits_2(short_data, tmp_path):
    out = tmp_path / "m"
    stopped_run(short_data, out)
    result = clsm("train", "lm", "--data", short_data, "--out", out, *SMALL_RUN, "--max-steps", "3", "--resume",
                  "--precision", "bf16")
    assert result.exit_code == 2 and "--precision bf16" in result.stderr and "auto" in result.stderr, result.output
    assert training_state.read_training_info(out)["progress"]["global_step"] == 2


def test_resuming_as_another_kind_names_the_kind(short_data, tmp_path):
    out = tmp_path / "m"
    stopped_run(short_data, out)
    result = clsm("train", "arnn", "--data", short_data, "--out", out, *SMALL_RUN, "--max-steps", "3", "--resume")
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())
    assert "trains lm, not arnn" in message and "preset" not in message
    assert training_state.read_training_info(out)["progress"]["global_step"] == 2


SLOW_TRAIN = """
import sys, time
from clsm_cli.train import loop
real_step = loop.train_step
def slow_step(*args, **kwargs):
    time.sleep(0.05)  # slow enough to be stopped mid-run
    return real_step(*args, **kwargs)
loop.train_step = slow_step
from clsm_cli.cli.app import main
sys.argv = ["clsm", *sys.argv[1:]]
main()
"""


def test_sigterm_saves_a_checkpoint_then_exits_143(short_data, tmp_path):
    out = tmp_path / "m"
    child = subprocess.Popen(
        [sys.executable, "-c", SLOW_TRAIN, "train", "lm", "--data", str(short_data), "--out", str(out), *SMALL_RUN,
         "--epochs", "50", "--log-every", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**__import__("os").environ, **ENV},
    )
    log = out / LOG_FILE_NAME
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        if log.exists() and len(log.read_text().splitlines()) >= 3:
            break
        time.sleep(0.01)
    child.send_signal(signal.SIGTERM)
    stdout, stderr = child.communicate(timeout=120)
    assert child.returncode == 143, stderr
    assert "stopped (interrupted)" in stdout and "--resume" in stdout
    assert training_state.read_training_info(out)["progress"]["global_step"] >= 3
    assert (out / WEIGHTS_FILE).exists()
