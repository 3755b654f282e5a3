"""Resumable training checkpoints: everything `clsm train --resume` needs to continue exactly.

A training checkpoint is not the finished model (that is ``checkpoint.save_model``'s shipped format).
It holds the model weights, the optimizer's moments and step counts, the mixed-precision scaler,
every random-number generator the run draws from, and the position in the data, so that a run
interrupted after a checkpoint and resumed ends with the same weights, bit for bit, as a run that
never stopped.

On disk, in ``<model dir>/training/``:

- ``state-<step>.safetensors``: every tensor (``model/<name>``, ``optimizer/<param index>/<name>``,
  ``rng/<name>``), so loading never unpickles anything;
- ``state.json``: the rest (counters, optimizer hyper-parameters, scaler, settings) and the name
  of the tensor file it belongs to.

Writing is atomic: the tensor file gets a new name per step, ``state.json`` is replaced last with
``os.replace``, and older tensor files are removed only after that. A crash at any point leaves the
previous complete checkpoint readable.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from clsm_cli.errors import ModelError

STATE_FORMAT_VERSION = 1
STATE_DIRECTORY_NAME = "training"
STATE_JSON_NAME = "state.json"

_MODEL_PREFIX = "model/"
_OPTIMIZER_PREFIX = "optimizer/"
_RNG_PREFIX = "rng/"


@dataclass
class TrainingState:
    """What a checkpoint gives back besides the tensors loaded in place.

    ``progress`` holds the loop's counters (global step, epoch, step within the epoch, ...);
    ``rng_states`` maps generator names to their ``ByteTensor`` states; ``info`` is free-form JSON
    (settings, data hash) the loop uses to refuse a resume that would not continue the same run.
    """

    progress: dict[str, Any]
    rng_states: dict[str, torch.Tensor]
    info: dict[str, Any]


def state_directory(model_directory: Path) -> Path:
    return Path(model_directory) / STATE_DIRECTORY_NAME


def has_training_state(model_directory: Path) -> bool:
    return (state_directory(model_directory) / STATE_JSON_NAME).is_file()


def flatten_optimizer_state(state_dict: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Split ``optimizer.state_dict()`` into named tensors and a JSON-able remainder."""
    tensors: dict[str, torch.Tensor] = {}
    scalar_state: dict[str, dict[str, Any]] = {}
    for param_index, param_state in state_dict["state"].items():
        for name, value in param_state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{_OPTIMIZER_PREFIX}{param_index}/{name}"] = value
            else:
                scalar_state.setdefault(str(param_index), {})[name] = value
    groups = [
        {key: (list(value) if isinstance(value, tuple) else value) for key, value in group.items()}
        for group in state_dict["param_groups"]
    ]
    return tensors, {"param_groups": groups, "scalar_state": scalar_state}


def unflatten_optimizer_state(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    """Inverse of ``flatten_optimizer_state`` (tuples such as Adam's betas come back as tuples)."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if not key.startswith(_OPTIMIZER_PREFIX):
            continue
        param_index, name = key[len(_OPTIMIZER_PREFIX) :].split("/", 1)
        state.setdefault(int(param_index), {})[name] = value
    for param_index, values in meta["scalar_state"].items():
        state.setdefault(int(param_index), {}).update(values)
    groups = []
    for group in meta["param_groups"]:
        restored = dict(group)
        if "betas" in restored and isinstance(restored["betas"], list):
            restored["betas"] = tuple(restored["betas"])
        groups.append(restored)
    return {"state": state, "param_groups": groups}


def save_training_state(
    model_directory: Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler_state: dict,
    progress: dict[str, Any],
    rng_states: dict[str, torch.Tensor],
    info: dict[str, Any],
) -> Path:
    """Write a complete training checkpoint atomically; return the state directory."""
    directory = state_directory(model_directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for name, value in model.state_dict().items():
        tensors[_MODEL_PREFIX + name] = value
    optimizer_tensors, optimizer_meta = flatten_optimizer_state(optimizer.state_dict())
    tensors.update(optimizer_tensors)
    for name, value in rng_states.items():
        tensors[_RNG_PREFIX + name] = value
    # safetensors refuses shared or non-contiguous storage; private CPU copies keep the file exact.
    tensors = {name: value.detach().to("cpu").contiguous().clone() for name, value in tensors.items()}

    step = int(progress["global_step"])
    tensor_name = f"state-{step:09d}.safetensors"
    _atomic_write(directory / tensor_name, lambda path: save_file(tensors, str(path)))
    document = {
        "format_version": STATE_FORMAT_VERSION,
        "tensor_file": tensor_name,
        "progress": progress,
        "optimizer": optimizer_meta,
        "scaler": scaler_state,
        "info": info,
    }
    text = json.dumps(document, indent=2, sort_keys=True)
    _atomic_write(directory / STATE_JSON_NAME, lambda path: path.write_text(text, encoding="utf-8"))
    for stale in directory.glob("state-*.safetensors"):
        if stale.name != tensor_name:
            stale.unlink(missing_ok=True)
    return directory


def load_training_state(
    model_directory: Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
) -> tuple[TrainingState, dict]:
    """Load weights and optimizer state in place; return the counters, RNG states and scaler state."""
    directory = state_directory(model_directory)
    document = _read_document(directory)
    try:
        tensors = load_file(str(directory / document["tensor_file"]), device="cpu")
    except Exception:  # safetensors raises its own error types for missing or torn files
        raise ModelError(
            f"the training checkpoint in {directory} is missing or damaged ({document['tensor_file']}); "
            "train a new model instead of resuming"
        ) from None
    model_state = {
        name[len(_MODEL_PREFIX) :]: value for name, value in tensors.items() if name.startswith(_MODEL_PREFIX)
    }
    model.load_state_dict(model_state, strict=True)
    optimizer_state = unflatten_optimizer_state(tensors, document["optimizer"])
    optimizer.load_state_dict(optimizer_state)
    _move_optimizer_state(optimizer, device)
    rng_states = {
        name[len(_RNG_PREFIX) :]: value for name, value in tensors.items() if name.startswith(_RNG_PREFIX)
    }
    state = TrainingState(progress=document["progress"], rng_states=rng_states, info=document["info"])
    return state, document.get("scaler", {})


def read_training_info(model_directory: Path) -> dict[str, Any]:
    """The checkpoint's counters and settings without loading any tensor."""
    document = _read_document(state_directory(model_directory))
    return {"progress": document["progress"], "info": document["info"]}


def _read_document(directory: Path) -> dict:
    path = directory / STATE_JSON_NAME
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise ModelError(f"the training checkpoint {path} is not readable JSON; train a new model instead") from None
    if not isinstance(document, dict) or document.get("format_version") != STATE_FORMAT_VERSION:
        version = document.get("format_version") if isinstance(document, dict) else None
        raise ModelError(
            f"the training checkpoint in {directory} has format {version!r}, this clsm resumes format "
            f"{STATE_FORMAT_VERSION}; resume it with the clsm version that wrote it"
        )
    return document


def _move_optimizer_state(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    # Optimizer.load_state_dict casts moments to each parameter's device already; Adam keeps its
    # ``step`` counter on the CPU unless capturable/fused, and load_state_dict respects that.
    for param_state in optimizer.state.values():
        for name, value in param_state.items():
            if isinstance(value, torch.Tensor) and name != "step" and value.device != device:
                param_state[name] = value.to(device)


def _atomic_write(path: Path, write) -> None:
    """Write through a temporary file in the same directory, fsync it, then rename over ``path``."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    temporary_path = Path(temporary)
    try:
        write(temporary_path)
        with open(temporary_path, "rb+") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary_path, path)
    except BaseException:
        temporary_path.unlink(missing_ok=True)
        raise
