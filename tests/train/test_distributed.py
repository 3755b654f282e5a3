"""Two CPU processes under torchrun (gloo) take the same steps as one process on the same batch."""

from __future__ import annotations

import os
import subprocess
import sys

import torch
from safetensors.torch import load_file

from clsm_cli.models.config import preset_config
from clsm_cli.models.registry import build_model
from clsm_cli.train.loop import TrainOptions, derive_seed, train


def test_two_gloo_processes_match_one_process(short_data, tmp_path):
    # ARNN: every rank must draw the same global constraint masks and take its own rows of them.
    arguments = [
        "arnn", "--data", str(short_data), "--preset", "tiny", "--batch-size", "8", "--max-steps", "3",
        "--lr", "3e-3", "--device", "cpu", "--max-val-windows", "8", "--workers", "0",
    ]
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "clsm_cli", "train", *arguments, "--out", str(tmp_path / "two"),
    ]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "NO_COLOR": "1"}
    completed = subprocess.run(command, capture_output=True, text=True, timeout=240, env=environment)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "2 processes" in completed.stderr

    single = train(
        TrainOptions(
            kind="arnn", data_dir=short_data, out=str(tmp_path / "one"), preset="tiny", batch_size=8, max_steps=3,
            learning_rate=3e-3, device="cpu", max_validation_windows=8, workers=0,
        ),
        show_progress=False,
    )
    two = load_file(str(tmp_path / "two" / "model.safetensors"))
    one = load_file(str(single.model_directory / "model.safetensors"))
    assert one.keys() == two.keys()
    for name in one:
        assert torch.allclose(two[name], one[name], rtol=1e-4, atol=1e-6), name

    # The comparison means something only because training moved the weights from their start.
    torch.manual_seed(derive_seed(0, "init"))
    initial = build_model(preset_config("arnn", "tiny")).state_dict()
    moved = max(float((one[name] - initial[name]).abs().max()) for name in one)
    assert moved > 1e-3
