"""The one place that chooses and loads an inference engine for the editing commands.

``load_engine(name_or_path, engine, device)`` resolves ``--model``, checks it is a CLSM and returns
a :class:`LoadedEngine`: the engine plus what provenance records (name, weights digest, folder,
config, device). The numpy engine answers unless torch is asked for (``--engine torch``) or CUDA
is (``--device cuda``): a model this small gains nothing from a GPU at edit time, and the numpy
engine needs no torch.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from clsm_cli.engine.protocol import InferenceEngine
from clsm_cli.errors import ModelError, UsageError

ENGINE_CHOICES = ("auto", "numpy", "torch")
DEVICE_CHOICES = ("auto", "cpu", "cuda")
TORCH_INSTALL_HINT = "pip install torch==2.13.0 (the CPU build; any torch >= 2.2 works)"


@dataclass(frozen=True)
class LoadedEngine:
    """An engine over one CLSM, plus what provenance needs to recognise the model again."""

    engine: InferenceEngine
    config: Any  # the model's CLSMConfig
    name: str
    sha256: str  # first 16 hex digits of model.safetensors' SHA-256: the same name with other weights is another model
    directory: Path
    device: str  # "cpu" or "cuda"
    metadata: dict = field(default_factory=dict)  # the model's whole config.json record


def choose_engine(engine: str = "auto", device: str = "auto") -> str:
    """``numpy`` or ``torch`` for the options given: torch only for ``--engine torch`` or ``--device cuda``."""
    if engine not in ENGINE_CHOICES:
        raise UsageError(f"--engine must be {', '.join(ENGINE_CHOICES[:-1])} or {ENGINE_CHOICES[-1]}, got '{engine}'")
    if device not in DEVICE_CHOICES:
        raise UsageError(f"--device must be {', '.join(DEVICE_CHOICES[:-1])} or {DEVICE_CHOICES[-1]}, got '{device}'")
    if engine == "numpy" and device == "cuda":
        raise UsageError("the numpy engine runs on the CPU; use --engine torch (or leave --engine out) with --device cuda")
    if engine == "torch" or device == "cuda":
        return "torch"
    return "numpy"


def load_engine(name_or_path: Optional[str], engine: str = "auto", device: str = "auto") -> LoadedEngine:
    """Resolve ``--model`` (None = the shipped default) and load it into the chosen engine; a CLSM only."""
    from clsm_cli import checkpoint

    chosen = choose_engine(engine, device)
    directory = checkpoint.resolve_model(name_or_path)
    if chosen == "torch":
        require_torch("--device cuda" if device == "cuda" else "--engine torch")
        return _load_torch(directory, device)
    return _load_numpy(directory)


def require_torch(what: str) -> None:
    """ModelError (exit 4) in one sentence when torch is not installed."""
    if importlib.util.find_spec("torch") is None:
        raise ModelError(f"{what} needs torch, which is not installed; install it with {TORCH_INSTALL_HINT}")


def _load_torch(directory: Path, device: str) -> LoadedEngine:
    from clsm_cli import checkpoint
    from clsm_cli.device import choose_device
    from clsm_cli.engine.torch_engine import TorchEngine

    resolved = choose_device(device)
    loaded = checkpoint.load_model(directory, resolved)
    name = _model_name(loaded.metadata, Path(loaded.directory))
    _check_clsm(loaded.kind, name)
    return LoadedEngine(
        engine=TorchEngine(loaded.model, resolved),
        config=loaded.config,
        name=name,
        sha256=_weights_digest(loaded.metadata, Path(loaded.directory)),
        directory=Path(loaded.directory),
        device=resolved,
        metadata=loaded.metadata,
    )


def _load_numpy(directory: Path) -> LoadedEngine:
    from clsm_cli import checkpoint
    from clsm_cli.engine.numpy_engine import NumpyEngine

    record, config, tensors = checkpoint.read_model_files(directory)
    name = _model_name(record, directory)
    _check_clsm(config.kind, name)
    return LoadedEngine(
        engine=NumpyEngine.from_tensors(tensors, config, directory),
        config=config,
        name=name,
        sha256=_weights_digest(record, directory),
        directory=directory,
        device="cpu",
        metadata=record,
    )


def _check_clsm(kind: str, name: str) -> None:
    if kind != "clsm":
        raise ModelError(f"model {name} is a {kind} model; infill, interpolate and vary need a CLSM model (see clsm models)")


def _model_name(metadata: dict, directory: Path) -> str:
    return str(metadata.get("name") or directory.name)


def _weights_digest(metadata: dict, directory: Path) -> str:
    """The first 16 hex digits of the weights' SHA-256: recorded in config.json, else computed."""
    from clsm_cli.checkpoint import weights_sha256

    return str(metadata.get("weights_sha256") or weights_sha256(directory))[:16]
