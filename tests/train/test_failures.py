"""Training that fails safely (issue 19): each fault gives one sentence and its exit code, never a
diverged model, a dead-end folder or a silent resume of damaged state."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from clsm_cli.checkpoint import WEIGHTS_FILE, load_model
from clsm_cli.errors import EXIT_MODEL, EXIT_OUTPUT, ModelError, OutputError
from clsm_cli.train import loop
from clsm_cli.train import state as training_state
from clsm_cli.train.loop import LOG_FILE_NAME, TrainOptions, train

SETTINGS = dict(preset="tiny", batch_size=8, max_validation_windows=16, log_every=1, workers=0)


def run(kind, data, out, progress=None, **overrides):
    options = TrainOptions(kind=kind, data_dir=data, out=str(out), **{**SETTINGS, **overrides})
    return train(options, progress=progress)


def read_log(directory: Path) -> list[dict]:
    return [json.loads(line) for line in (directory / LOG_FILE_NAME).read_text().splitlines()]


def state_dir(directory: Path) -> Path:
    return training_state.state_directory(directory)


# Item 1: one kept song --------------------------------------------------------------------------


def test_a_single_song_trains_without_validation_and_says_so_once(train_only_data, tmp_path, recording_progress):
    result = run("clsm", train_only_data, tmp_path / "m", recording_progress, max_steps=3)
    assert result.global_step == 3 and result.validation_metrics == {}
    notes = [text for text in recording_progress.messages if "without validation" in text]
    assert len(notes) == 1 and "valid-1" in notes[0]
    assert not any(line["type"] == "validation" for line in read_log(result.model_directory))
    assert load_model(result.model_directory).metadata["training"]["data"]["validation_split"] is None


# Item 2: divergence -----------------------------------------------------------------------------


def test_a_diverged_run_stops_with_exit_4_and_keeps_its_last_good_checkpoint(short_data, tmp_path):
    out = tmp_path / "diverged"
    with pytest.raises(ModelError, match="training diverged") as caught:
        run("clsm", short_data, out, max_steps=40, learning_rate=1e4, checkpoint_every=1)
    assert caught.value.exit_code == EXIT_MODEL
    assert not (out / WEIGHTS_FILE).exists()
    kept_step = training_state.read_training_info(out)["progress"]["global_step"]
    assert f"the last good checkpoint (step {kept_step}) is kept" in caught.value.message
    # The kept checkpoint is finite and resumable (here with a learning rate that does not diverge).
    from clsm_cli.models.config import preset_config
    from clsm_cli.models.registry import build_model

    model = build_model(preset_config("clsm", "tiny"))
    optimizer = torch.optim.Adam(model.parameters())
    training_state.load_training_state(out, model=model, optimizer=optimizer, device=torch.device("cpu"))
    assert all(bool(torch.isfinite(parameter).all()) for parameter in model.parameters())
    logged = [line["loss"] for line in read_log(out) if line["type"] == "train"]
    assert None in logged  # the diverged steps' NaN losses, written as JSON null


def test_lr_1000_from_scratch_writes_no_model(short_data, tmp_path):
    with pytest.raises(ModelError, match="no checkpoint was written"):
        run("clsm", short_data, tmp_path / "m", max_steps=30, learning_rate=1000.0)
    assert not (tmp_path / "m" / WEIGHTS_FILE).exists()


# Item 3: dead-end folders and SIGTERM ------------------------------------------------------------


def _killed_before_first_checkpoint(directory: Path) -> Path:
    directory.mkdir()
    (directory / LOG_FILE_NAME).write_text('{"type": "train", "step": 1, "loss": 3.0}\n')
    (directory / "reproducibility.json").write_text("{}")
    (directory / "training").mkdir()
    (directory / "training" / ".state-000000001.safetensors.abc.tmp").write_bytes(b"half")
    return directory


@pytest.mark.parametrize("resume", [False, True])
def test_a_run_killed_before_its_first_checkpoint_starts_again(short_data, tmp_path, recording_progress, resume):
    out = _killed_before_first_checkpoint(tmp_path / "early")
    result = run("lm", short_data, out, recording_progress, resume=resume, max_steps=2)
    assert result.global_step == 2
    assert any("step 0" in text for text in recording_progress.messages)
    assert [line["step"] for line in read_log(out) if line["type"] == "train"] == [1, 2]
    assert not list(state_dir(out).glob("*.tmp"))


def test_resume_on_an_empty_folder_starts_at_step_zero(short_data, tmp_path, recording_progress):
    result = run("lm", short_data, tmp_path / "new", recording_progress, resume=True, max_steps=1)
    assert result.global_step == 1
    assert any("no training checkpoint" in text and "step 0" in text for text in recording_progress.messages)


def test_sigterm_stops_with_a_checkpoint_like_ctrl_c(short_data, tmp_path, monkeypatch):
    calls = []
    real_step = loop.train_step

    def step_then_terminate(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return real_step(*args, **kwargs)

    monkeypatch.setattr(loop, "train_step", step_then_terminate)
    result = run("lm", short_data, tmp_path / "m", epochs=3)
    assert result.stop_reason == "interrupted" and result.global_step == 2
    assert training_state.read_training_info(tmp_path / "m")["progress"]["global_step"] == 2
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_checkpoints_are_also_written_by_time(short_data, tmp_path, monkeypatch):
    saved_steps = []
    real_save = training_state.save_training_state

    def recording_save(directory, **kwargs):
        saved_steps.append(kwargs["progress"]["global_step"])
        return real_save(directory, **kwargs)

    monkeypatch.setattr(training_state, "save_training_state", recording_save)
    run("lm", short_data, tmp_path / "m", max_steps=3, checkpoint_every=1000, checkpoint_seconds=0.0)
    assert saved_steps == [1, 2, 3]


def test_the_default_checkpoint_interval_is_minutes():
    options = TrainOptions(kind="clsm", data_dir=Path("d"), out="m")
    assert options.checkpoint_every <= 250 and options.checkpoint_seconds <= 600


# Item 4: output failures are exit 5 ---------------------------------------------------------------


def test_an_out_path_through_a_file_is_an_output_error(short_data, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="cannot write the model folder") as caught:
        run("lm", short_data, tmp_path / "file" / "model", max_steps=1)
    assert caught.value.exit_code == EXIT_OUTPUT


def test_a_full_disk_while_checkpointing_is_an_output_error(short_data, tmp_path, monkeypatch):
    def full_disk(path, content, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(training_state, "atomic_write", full_disk)
    with pytest.raises(OutputError, match="No space left on device") as caught:
        run("lm", short_data, tmp_path / "m", max_steps=2)
    assert caught.value.exit_code == EXIT_OUTPUT


# Item 9: checkpoints carry checksums ----------------------------------------------------------------


def _stopped_run(short_data, directory):
    run("lm", short_data, directory, max_steps=2)
    return state_dir(directory)


def _document(directory):
    return json.loads((directory / "state.json").read_text())


def _write_document(directory, document, fix_checksum=True):
    if fix_checksum:
        content = {key: value for key, value in document.items() if key != "document_sha256"}
        document["document_sha256"] = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    (directory / "state.json").write_text(json.dumps(document))


def _flip_a_tensor_byte(directory):
    path = next(directory.glob("state-*.safetensors"))
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))


def _nan_in_tensors(directory):
    path = next(directory.glob("state-*.safetensors"))
    tensors = load_file(str(path))
    name = next(name for name in tensors if name.startswith("model/"))
    tensors[name] = torch.full_like(tensors[name], float("nan"))
    save_file(tensors, str(path))
    document = _document(directory)
    document["tensor_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    _write_document(directory, document)


def _edited_step_count(directory):
    document = _document(directory)
    document["progress"]["global_step"] = 1  # hand-edited, checksum left as it was
    _write_document(directory, document, fix_checksum=False)


def _without_progress(directory):
    document = _document(directory)
    del document["progress"]
    _write_document(directory, document)


def _without_global_step(directory):
    document = _document(directory)
    del document["progress"]["global_step"]
    _write_document(directory, document)


@pytest.mark.parametrize(
    "damage, message",
    [
        (_flip_a_tensor_byte, "checksum does not match"),
        (_nan_in_tensors, "non-finite values"),
        (_edited_step_count, "checksum does not match its content"),
        (_without_progress, "has no step count"),
        (_without_global_step, "has no step count"),
    ],
)
def test_a_damaged_checkpoint_refuses_to_resume_with_exit_4(short_data, tmp_path, damage, message):
    damage(_stopped_run(short_data, tmp_path / "m"))
    with pytest.raises(ModelError, match=message) as caught:
        run("lm", short_data, tmp_path / "m", resume=True, max_steps=3)
    assert caught.value.exit_code == EXIT_MODEL


# Item 10: leftovers, the log after a resume, NaN, --max-steps below the done steps -------------------


def test_temporaries_of_killed_writes_go_on_the_next_save(short_data, tmp_path):
    directory = _stopped_run(short_data, tmp_path / "m")
    leftovers = [directory / ".state.json.x1.tmp", directory / "state.json.tmp-4242", tmp_path / "m" / "model.safetensors.tmp-4242"]
    for leftover in leftovers:
        leftover.write_bytes(b"half")
    run("lm", short_data, tmp_path / "m", resume=True, max_steps=3)
    assert not any(leftover.exists() for leftover in leftovers)


def test_the_log_after_a_resume_reads_like_an_uninterrupted_run(short_data, tmp_path):
    common = dict(log_every=3, learning_rate=2e-3, checkpoint_every=1000)
    straight = run("clsm", short_data, tmp_path / "straight", max_steps=6, **common)
    run("clsm", short_data, tmp_path / "resumed", max_steps=4, **common)  # stops between log lines
    resumed = run("clsm", short_data, tmp_path / "resumed", resume=True, max_steps=6, **common)

    def train_lines(directory):
        return [{key: line[key] for key in ("step", "loss", "kl", "accuracy")} for line in read_log(directory) if line["type"] == "train"]

    # The stopped run also logged step 4 (where it stopped); the resume drops that line and the
    # line at step 6 averages steps 4-6, as the uninterrupted run's does.
    assert [line["step"] for line in train_lines(resumed.model_directory)] == [3, 6]
    assert train_lines(resumed.model_directory) == train_lines(straight.model_directory)
    assert [line["type"] for line in read_log(resumed.model_directory)] == [line["type"] for line in read_log(straight.model_directory)]


def test_non_finite_numbers_are_written_as_json_null(tmp_path):
    from clsm_cli.train.records import RunLog

    log = RunLog(tmp_path / LOG_FILE_NAME)
    log.append({"type": "train", "step": 1, "loss": float("nan"), "kl": float("inf")})
    assert json.loads((tmp_path / LOG_FILE_NAME).read_text()) == {"type": "train", "step": 1, "loss": None, "kl": None}


def test_resuming_below_the_done_steps_warns(short_data, tmp_path, recording_progress):
    run("lm", short_data, tmp_path / "m", max_steps=3)
    result = run("lm", short_data, tmp_path / "m", recording_progress, resume=True, max_steps=1)
    assert result.global_step == 3
    assert any(text.startswith("warning:") and "--max-steps 1" in text for text in recording_progress.messages)


# SIGKILL at any moment, then --resume: the same weights as an uninterrupted run --------------------

CHILD_RUN = """
import sys, time
from pathlib import Path
from clsm_cli.train import loop
real_step = loop.train_step
def slow_step(*args, **kwargs):
    time.sleep(0.05)  # slow enough to be killed mid-run
    return real_step(*args, **kwargs)
loop.train_step = slow_step
options = loop.TrainOptions(kind="clsm", data_dir=Path(sys.argv[1]), out=sys.argv[2], preset="tiny", batch_size=8,
                            max_validation_windows=16, log_every=1, workers=0, max_steps=12, epochs=3, learning_rate=2e-3,
                            checkpoint_every=int(sys.argv[3]))
loop.train(options)
"""


@pytest.mark.parametrize("checkpoint_every, kill_after_lines", [(1000, 2), (4, 7)])
def test_a_sigkilled_run_resumes_to_the_uninterrupted_weights(short_data, tmp_path, checkpoint_every, kill_after_lines):
    import subprocess
    import sys
    import time

    out = tmp_path / "killed"
    child = subprocess.Popen([sys.executable, "-c", CHILD_RUN, str(short_data), str(out), str(checkpoint_every)])
    log = out / LOG_FILE_NAME
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        if log.exists() and len(log.read_text().splitlines()) >= kill_after_lines:
            break
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL and not (out / WEIGHTS_FILE).exists()
    assert training_state.has_training_state(out) == (checkpoint_every == 4)

    common = dict(max_steps=12, epochs=3, learning_rate=2e-3, checkpoint_every=checkpoint_every)
    resumed = run("clsm", short_data, out, resume=True, **common)
    straight = run("clsm", short_data, tmp_path / "straight", **common)
    a, b = load_file(str(straight.model_directory / WEIGHTS_FILE)), load_file(str(resumed.model_directory / WEIGHTS_FILE))
    assert a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a)
    assert [line["step"] for line in read_log(out) if line["type"] == "train"] == list(range(1, 13))
