"""Suite-wide settings.

The tests run tiny models whose work is too small to share between threads: on a busy 2-core CI
machine two spinning OpenMP threads made them 15-100x slower. One passive thread keeps the suite
fast and its timings stable; benchmarks (not tests) measure the default thread settings.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402 - after the thread settings, before anything imports torch


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A randomly initialised tiny CLSM saved like any installed model ("tiny-test")."""
    import torch

    from clsm_cli.checkpoint import save_model
    from clsm_cli.models.config import preset_config
    from clsm_cli.models.registry import build_model

    torch.manual_seed(0)
    return save_model(build_model(preset_config("clsm", "tiny")), tmp_path_factory.mktemp("models") / "tiny-test")


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    """The tiny CLSM loaded as the editing commands load a model (``engine.load.load_engine``)."""
    from clsm_cli.engine.load import load_engine

    return load_engine(str(tiny_model_dir), "auto", "cpu")
