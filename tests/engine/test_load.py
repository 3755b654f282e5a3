"""load_engine: which engine answers, what provenance it carries, and one-sentence refusals."""

import hashlib

import pytest

from clsm_cli.engine import load
from clsm_cli.errors import ModelError, UsageError


@pytest.mark.parametrize(
    ("engine", "device", "expected"),
    [
        ("auto", "auto", "numpy"),
        ("auto", "cpu", "numpy"),
        ("numpy", "auto", "numpy"),
        ("numpy", "cpu", "numpy"),
        ("auto", "cuda", "torch"),
        ("torch", "auto", "torch"),
        ("torch", "cpu", "torch"),
        ("torch", "cuda", "torch"),
    ],
)
def test_the_numpy_engine_answers_unless_torch_or_cuda_is_asked_for(engine, device, expected):
    assert load.choose_engine(engine, device) == expected


@pytest.mark.parametrize(
    "engine,device,message",
    [("numpy", "cuda", "runs on the CPU"), ("onnx", "auto", "--engine must be"), ("auto", "tpu", "--device must be")],
)
def test_impossible_choices_are_usage_errors(engine, device, message):
    with pytest.raises(UsageError, match=message):
        load.choose_engine(engine, device)


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_loaded_engine_carries_the_models_provenance(tiny_model_dir, engine):
    loaded = load.load_engine(str(tiny_model_dir), engine=engine, device="cpu")
    assert loaded.name == "tiny-engine" and loaded.directory == tiny_model_dir and loaded.device == "cpu"
    assert loaded.engine.name == engine and loaded.engine.device == "cpu"
    assert loaded.config.kind == "clsm" and loaded.engine.config == loaded.config
    digest = hashlib.sha256((tiny_model_dir / "model.safetensors").read_bytes()).hexdigest()
    assert loaded.sha256 == digest[:16]
    assert loaded.metadata["weights_sha256"] == digest


def test_the_default_engine_infills_with_the_shipped_model_where_torch_cannot_be_imported(run_without_torch):
    """What ``pip install .`` without torch gives: load, prior, flow and decode, all numpy."""
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from clsm_cli.engine.load import load_engine\n"
        "from clsm_cli.engine.protocol import TargetSpan\n"
        "from clsm_cli.sampling import Decoding\n"
        "loaded = load_engine(None)\n"
        "engine, target = loaded.engine, TargetSpan(32, 32)\n"
        "window = np.arange(128, dtype=np.uint8) % 30\n"
        "prior = engine.prior(window, target)\n"
        "z = engine.flow_inverse(np.stack([prior.mean, prior.mean]))\n"
        "tokens = engine.decode(window, target, z, Decoding(0.9, 0.95), np.full((2, 32), 0.5))\n"
        "print(engine.name, loaded.name, loaded.device, tokens.shape, sys.modules.get('torch') is not None)\n"
    )
    result = run_without_torch("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["numpy", "folk-small", "cpu", "(2,", "32)", "False"]


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_a_model_that_is_not_a_clsm_is_refused(tmp_path, engine):
    import torch

    from clsm_cli.checkpoint import save_model
    from clsm_cli.models.config import preset_config
    from clsm_cli.models.registry import build_model

    torch.manual_seed(0)
    directory = save_model(build_model(preset_config("vae", "tiny")), tmp_path / "a-vae")
    with pytest.raises(ModelError, match="a-vae is a vae model"):
        load.load_engine(str(directory), engine=engine, device="cpu")


def test_torch_asked_for_without_torch_installed_says_what_to_install(monkeypatch, tiny_model_dir):
    real_find_spec = load.importlib.util.find_spec
    monkeypatch.setattr(load.importlib.util, "find_spec", lambda name: None if name == "torch" else real_find_spec(name))
    with pytest.raises(ModelError, match=r"needs torch.*pip install torch==2\.13\.0"):
        load.load_engine(str(tiny_model_dir), engine="torch")
