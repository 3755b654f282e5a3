"""The training loop on tiny models and a tiny dataset: learning, exact resume, refusals."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from clsm_cli.checkpoint import load_model
from clsm_cli.errors import InputFileError, OutputError, UsageError
from clsm_cli.models import config as model_config
from clsm_cli.train.loop import (
    LOG_FILE_NAME,
    REPRODUCIBILITY_FILE_NAME,
    TrainOptions,
    epoch_order,
    resolve_output_dir,
    train,
)


def run(kind: str, data: Path, out: Path | str, **overrides):
    settings = dict(preset="tiny", batch_size=8, max_validation_windows=16, log_every=1, workers=0)
    settings.update(overrides)
    return train(TrainOptions(kind=kind, data_dir=data, out=str(out), **settings))


def read_log(directory: Path) -> list[dict]:
    return [json.loads(line) for line in (directory / LOG_FILE_NAME).read_text().splitlines()]


def weights(directory: Path) -> dict[str, torch.Tensor]:
    return load_file(str(directory / "model.safetensors"))


@pytest.mark.parametrize("kind", ["clsm", "vae", "arnn", "lm"])
def test_tiny_models_learn_and_are_saved_loadable(kind, tiny_data, tmp_path):
    result = run(kind, tiny_data, tmp_path / kind, max_steps=12, learning_rate=3e-3, anneal_epochs=0.0 if kind in ("clsm", "vae") else None)
    assert result.global_step == 12 and result.stop_reason == "max-steps" and not result.completed
    log = read_log(result.model_directory)
    train_lines = [line for line in log if line["type"] == "train"]
    assert [line["step"] for line in train_lines] == list(range(1, 13))
    first = train_lines[0]["reconstruction"]
    last = np.mean([line["reconstruction"] for line in train_lines[-3:]])
    assert last < first - 0.1, f"{kind} reconstruction went {first:.3f} -> {last:.3f}"
    assert log[-1]["type"] == "validation" and log[-1]["step"] == 12

    loaded = load_model(result.model_directory)
    record = loaded.metadata["training"]
    assert record["kind"] == kind and record["steps"] == 12 and record["preset"] == "tiny"
    assert record["data"]["manifest_hash"] == json.loads((tiny_data / "manifest.json").read_text())["content_sha256"]
    assert record["final_validation"]["loss"] == pytest.approx(result.validation_metrics["loss"])
    reproducibility = json.loads((result.model_directory / REPRODUCIBILITY_FILE_NAME).read_text())
    assert reproducibility["seed"] == 0 and reproducibility["config"]["kind"] == loaded.config.kind
    assert reproducibility["result"]["steps"] == 12


def test_clsm_validation_shows_both_latent_accuracies(tiny_data, tmp_path):
    result = run("clsm", tiny_data, tmp_path / "m", max_steps=2)
    assert {"accuracy_posterior_mean", "accuracy_prior_mean", "kl", "reconstruction"} <= set(result.validation_metrics)


def test_interrupted_and_resumed_run_ends_with_identical_weights(short_data, tmp_path, monkeypatch):
    # Dropout on, so the saved global RNG state matters too; 32 windows / 8 = 4 steps per epoch,
    # and the run crosses an epoch boundary (with its validation) after the interruption.
    tiny = model_config.preset_config("clsm", "tiny")
    monkeypatch.setattr(
        model_config, "preset_config", lambda kind, preset: dataclasses.replace(tiny, dropout=0.1)
    )
    common = dict(max_steps=6, checkpoint_every=2, learning_rate=2e-3)
    straight = run("clsm", short_data, tmp_path / "straight", **common)
    first_part = run("clsm", short_data, tmp_path / "resumed", **{**common, "max_steps": 3})
    assert first_part.global_step == 3 and not first_part.completed
    resumed = run("clsm", short_data, tmp_path / "resumed", resume=True, max_steps=6, checkpoint_every=2)
    assert resumed.global_step == 6

    a, b = weights(straight.model_directory), weights(resumed.model_directory)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    # The log of the resumed run reads like the straight run's (no duplicated steps).
    assert [line["step"] for line in read_log(resumed.model_directory) if line["type"] == "train"] == list(range(1, 7))
    assert straight.validation_metrics == pytest.approx(resumed.validation_metrics)


def test_time_limit_stops_with_a_checkpoint_that_resumes(short_data, tmp_path):
    stopped = run("lm", short_data, tmp_path / "lm", time_limit_seconds=1e-9, epochs=1)
    assert stopped.global_step == 1 and stopped.stop_reason == "time-limit" and not stopped.completed
    finished = run("lm", short_data, tmp_path / "lm", resume=True)
    assert finished.completed and finished.global_step == 32 // 8
    assert load_model(finished.model_directory).metadata["training"]["completed"] is True


def test_resume_refuses_changed_settings(tiny_data, tmp_path):
    run("clsm", tiny_data, tmp_path / "m", max_steps=1)
    with pytest.raises(UsageError, match="--beta 0.02 differs"):
        run("clsm", tiny_data, tmp_path / "m", resume=True, beta=0.02)


def test_init_from_starts_a_new_run_from_saved_weights(tiny_data, tmp_path):
    first = run("clsm", tiny_data, tmp_path / "first", max_steps=3, learning_rate=3e-3)
    # With a learning rate of 0 the warm-started model keeps exactly the weights it started from.
    warm = run("clsm", tiny_data, tmp_path / "warm", max_steps=2, learning_rate=1e-12, init_from=str(first.model_directory))
    assert warm.global_step == 2
    a, b = weights(first.model_directory), weights(warm.model_directory)
    assert all(torch.allclose(a[name], b[name], atol=1e-6) for name in a)
    cold = weights(run("clsm", tiny_data, tmp_path / "cold", max_steps=2, learning_rate=1e-12).model_directory)
    assert not all(torch.allclose(a[name], cold[name], atol=1e-6) for name in a)
    record = load_model(warm.model_directory).metadata["training"]
    assert record["init_from"]["model"] == str(first.model_directory) and record["init_from"]["steps"] == 3

    # A model shipped with another recommended decoding still fits (decoding is not architecture).
    config_path = first.model_directory / "config.json"
    record = json.loads(config_path.read_text())
    record["config"]["decoding_temperature"] = 1.0
    config_path.write_text(json.dumps(record))
    assert run("clsm", tiny_data, tmp_path / "warm-2", max_steps=1, init_from=str(first.model_directory)).global_step == 1
    with pytest.raises(UsageError, match="does not fit"):
        run("vae", tiny_data, tmp_path / "other-kind", max_steps=1, init_from=str(first.model_directory))
    with pytest.raises(UsageError, match="one or the other"):
        run("clsm", tiny_data, tmp_path / "warm", resume=True, init_from=str(first.model_directory))


def test_existing_output_is_never_overwritten(tiny_data, tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="already exists"):
        run("lm", tiny_data, out, max_steps=1)


def test_bad_data_folders_are_input_errors(tiny_data, tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        run("lm", tmp_path / "nowhere", tmp_path / "m")
    with pytest.raises(InputFileError, match="fewer than one batch"):
        run("lm", tiny_data, tmp_path / "m", batch_size=128)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(kind="vae", beta=0.01), "--beta is the CLSM"),
        (dict(kind="clsm", gamma=0.3), "--gamma is the VAE"),
        (dict(kind="lm", free_bits=0.1), "--free-bits applies"),
        (dict(kind="clsm", epochs=0), "--epochs must be greater than 0"),
        (dict(kind="clsm", batch_size=12, device="cpu"), None),
    ],
)
def test_option_checks(overrides, message, tiny_data, tmp_path):
    kind = overrides.pop("kind")
    if message is None:  # a batch that does not split evenly is fine in one process
        assert run(kind, tiny_data, tmp_path / "ok", max_steps=1, **overrides).global_step == 1
        return
    with pytest.raises(UsageError, match=message):
        run(kind, tiny_data, tmp_path / "m", **overrides)


def test_cpu_precision_is_fp32_unless_bf16_is_asked_for(short_data, tmp_path):
    result = run("lm", short_data, tmp_path / "bf16", max_steps=1, device="cpu", precision="bf16")
    assert load_model(result.model_directory).metadata["training"]["precision"] == "bf16"
    with pytest.raises(UsageError, match="fp16 needs a CUDA GPU"):
        run("lm", short_data, tmp_path / "fp16", max_steps=1, device="cpu", precision="fp16")


def test_epoch_order_is_a_seeded_permutation():
    order = epoch_order(50, seed=3, epoch=1)
    assert sorted(order.tolist()) == list(range(50))
    assert np.array_equal(order, epoch_order(50, seed=3, epoch=1))
    assert not np.array_equal(order, epoch_order(50, seed=3, epoch=2))
    assert not np.array_equal(order, epoch_order(50, seed=4, epoch=1))


def test_plain_names_go_to_the_user_models_folder(models_home):
    assert resolve_output_dir("folk-clsm") == models_home / "models" / "folk-clsm"
    assert resolve_output_dir("runs/try") == Path("runs/try")
    assert resolve_output_dir("./here") == Path("here")
