"""Suite-wide settings and the fixtures tests in several folders share.

The tests run tiny models whose work is too small to share between threads: on a busy 2-core CI
machine two spinning OpenMP threads made them 15-100x slower. One passive thread keeps the suite
fast and its timings stable; benchmarks (not tests) measure the default thread settings.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

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


# --- the command line, in-process -----------------------------------------------------------------
# ``run_clsm("show", "song.mid", "--bars", "3-4")`` invokes the real Typer app and returns click's
# ``Result`` (``exit_code``, ``stdout``, ``stderr``, ``output``). The environment is pinned so results
# do not depend on the developer's terminal: 100 columns, no FORCE_COLOR / NO_COLOR unless a test
# passes ``env={...}`` (a value of None removes a variable).

CLI_ENV = {"COLUMNS": "100", "LINES": "50", "FORCE_COLOR": None, "NO_COLOR": None, "TERM": "xterm-256color"}


@pytest.fixture
def cli_runner():
    from typer.testing import CliRunner

    return CliRunner(env=dict(CLI_ENV))


@pytest.fixture
def run_clsm(cli_runner):
    from clsm_cli.cli.app import app

    def run(*args: str, env: dict[str, str | None] | None = None):
        return cli_runner.invoke(app, [str(arg) for arg in args], env={**CLI_ENV, **(env or {})})

    return run


# --- a Python where torch cannot be imported --------------------------------------------------------
# What ``pip install .`` without torch gives: ``run_without_torch("-c", code)`` or
# ``run_without_torch("-m", "clsm_cli", "infill", ...)`` runs a fresh interpreter whose first act is
# to install an import hook that refuses torch, so any ``import torch`` on the way fails loudly.

BLOCK_TORCH = """
import importlib.abc, sys
class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is not installed here")
sys.meta_path.insert(0, NoTorch())
sys.modules["torch"] = None  # as if absent: importlib.util.find_spec("torch") answers None
"""


@pytest.fixture
def run_without_torch():
    """Run ``python ARGS`` (``-c CODE`` or ``-m MODULE ...``) with torch unimportable; a CompletedProcess."""
    import subprocess
    import sys

    def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
        if args[0] == "-c":
            code, rest = BLOCK_TORCH + args[1], args[2:]
        elif args[0] == "-m":
            code, rest = BLOCK_TORCH + f"import runpy\nrunpy.run_module({args[1]!r}, run_name='__main__')\n", args[2:]
        else:
            raise ValueError("run_without_torch takes '-c CODE ...' or '-m MODULE ...'")
        env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1"}
        return subprocess.run([sys.executable, "-c", code, *map(str, rest)], capture_output=True, text=True, cwd=cwd, env=env)

    return run
