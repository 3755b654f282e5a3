"""Two CPU processes under torchrun (gloo) take the same steps as one process on the same batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from clsm_cli.models.config import preset_config
from clsm_cli.models.registry import build_model
from clsm_cli.train.loop import LOG_FILE_NAME, TrainOptions, derive_seed, train

BATCH_SIZE, MAX_STEPS, LEARNING_RATE, VALIDATION_WINDOWS = 8, 3, 3e-3, 8
LOSS_TERMS = ("loss", "reconstruction", "kl")  # the ones a model reports (ARNN: loss only)

pytestmark = pytest.mark.slow  # starts torchrun processes: seconds each


def train_with_two_processes(kind: str, data: Path, out: Path) -> Path:
    """``clsm train`` under ``torchrun --nproc_per_node 2`` on the CPU; the model's directory."""
    arguments = [
        kind, "--data", str(data), "--preset", "tiny", "--batch-size", str(BATCH_SIZE), "--max-steps", str(MAX_STEPS),
        "--lr", str(LEARNING_RATE), "--device", "cpu", "--max-val-windows", str(VALIDATION_WINDOWS), "--workers", "0",
        "--log-every", "1",
    ]
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "clsm_cli", "train", *arguments, "--out", str(out),
    ]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "NO_COLOR": "1"}
    completed = subprocess.run(command, capture_output=True, text=True, timeout=240, env=environment)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "2 processes" in completed.stderr
    return out


def train_with_one_process(kind: str, data: Path, out: Path) -> Path:
    """The same run as ``train_with_two_processes``, in this process; the model's directory."""
    result = train(
        TrainOptions(
            kind=kind, data_dir=data, out=str(out), preset="tiny", batch_size=BATCH_SIZE, max_steps=MAX_STEPS,
            learning_rate=LEARNING_RATE, device="cpu", max_validation_windows=VALIDATION_WINDOWS, workers=0,
            log_every=1,
        ),
    )
    return result.model_directory


def logged_loss_terms(model_directory: Path) -> list[tuple[str, int, dict[str, float]]]:
    """(type, step, loss terms) of every line of the run's JSONL log."""
    lines = (json.loads(line) for line in (model_directory / LOG_FILE_NAME).read_text().splitlines())
    return [(line["type"], line["step"], {name: line[name] for name in LOSS_TERMS if name in line}) for line in lines]


# ARNN: every rank must draw the same global constraint masks and take its own rows of them.
# CLSM and VAE: the same for the posterior's reparameterisation noise (and τ for CLSM).
@pytest.mark.parametrize("kind", ["arnn", "clsm", "vae"])
def test_two_gloo_processes_match_one_process(kind, short_data, tmp_path):
    # Dropout masks are drawn per rank, so exact agreement needs a model without dropout.
    assert preset_config(kind, "tiny").dropout == 0.0

    two = train_with_two_processes(kind, short_data, tmp_path / "two")
    one = train_with_one_process(kind, short_data, tmp_path / "one")

    # The loss terms of every step (step 1 is computed before any update, so it checks that the
    # ranks' rows saw the single process's τ, masks and noise) and of the final validation, which
    # measures what the trained weights compute.
    two_log, one_log = logged_loss_terms(two), logged_loss_terms(one)
    assert [line[:2] for line in two_log] == [line[:2] for line in one_log]
    assert [line[:2] for line in one_log] == [("train", 1), ("train", 2), ("train", 3), ("validation", 3)]
    for (kind_of_line, step, two_terms), (_, _, one_terms) in zip(two_log, one_log):
        assert "loss" in one_terms and two_terms.keys() == one_terms.keys()
        assert two_terms == pytest.approx(one_terms, rel=1e-5), (kind_of_line, step)

    # The weights. Adam moves an element whose gradient is zero in exact arithmetic (the key half
    # of an attention bias: softmax ignores a constant added to every score) by a fraction of the
    # learning rate on float rounding alone, and rounding differs with the batch split; so the
    # tolerance is a tenth of the learning rate. Different rows of noise (each rank drawing its
    # own) move weights by about 2 · steps · lr = 1.8e-2.
    two_weights = load_file(str(two / "model.safetensors"))
    one_weights = load_file(str(one / "model.safetensors"))
    assert one_weights.keys() == two_weights.keys()
    for name in one_weights:
        assert torch.allclose(two_weights[name], one_weights[name], rtol=1e-4, atol=LEARNING_RATE / 10), name

    # The comparison means something only because training moved the weights from their start.
    torch.manual_seed(derive_seed(0, "init"))
    initial = build_model(preset_config(kind, "tiny")).state_dict()
    moved = max(float((one_weights[name] - initial[name]).abs().max()) for name in one_weights)
    assert moved > 1e-3
