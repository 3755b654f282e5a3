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

Writing is atomic (``atomic_write``): the tensor file gets a new name per step, ``state.json`` is
replaced last, and older tensor files are removed only after that. A crash at any point leaves the
previous complete checkpoint readable. ``state.json`` records the SHA-256 of its tensor file and of
its own content, and a resume verifies both and that every tensor is finite: flipped bytes or a NaN
are a ModelError (exit 4), never a silent resume. Temporaries of killed writes are removed on the
next save or resume.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_tensor_bytes
from safetensors.torch import save as tensor_bytes

from clsm_cli.atomic import atomic_write, remove_stale_temporaries
from clsm_cli.errors import ModelError, OutputError

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
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot write a training checkpoint in {directory}: {error.strerror or error}") from None
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
    data = tensor_bytes(tensors)
    document = {
        "format_version": STATE_FORMAT_VERSION,
        "tensor_file": tensor_name,
        "tensor_sha256": hashlib.sha256(data).hexdigest(),
        "progress": progress,
        "optimizer": optimizer_meta,
        "scaler": scaler_state,
        "info": info,
    }
    document["document_sha256"] = _document_digest(document)
    try:
        atomic_write(directory / tensor_name, data)
        atomic_write(directory / STATE_JSON_NAME, json.dumps(document, indent=2, sort_keys=True))
    except OSError as error:
        raise OutputError(f"cannot write a training checkpoint in {directory}: {error.strerror or error}") from None
    for stale in directory.glob("state-*.safetensors"):
        if stale.name != tensor_name:
            stale.unlink(missing_ok=True)
    remove_leftovers(directory)
    return directory


def remove_leftovers(directory: Path) -> None:
    """Temporaries of killed writes (``.NAME.*.tmp``, older ``*.tmp`` and ``*.tmp-PID`` files)."""
    directory = Path(directory)
    if not directory.is_dir():
        return
    for name in [STATE_JSON_NAME, *(path.name for path in directory.glob("state-*.safetensors"))]:
        remove_stale_temporaries(directory, name)
    for pattern in (".state-*.tmp", "*.tmp", "*.tmp-*"):
        for leftover in directory.glob(pattern):
            leftover.unlink(missing_ok=True)


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
    tensors = _read_tensors(directory, document)
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
    damaged = f"the training checkpoint {path} is damaged"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ModelError(f"the training checkpoint {path} is not readable JSON; start it again with --force (or train into another --out)") from None
    if not isinstance(document, dict) or document.get("format_version") != STATE_FORMAT_VERSION:
        version = document.get("format_version") if isinstance(document, dict) else None
        raise ModelError(
            f"the training checkpoint in {directory} has format {version!r}, this clsm resumes format "
            f"{STATE_FORMAT_VERSION}; resume it with the clsm version that wrote it"
        )
    if document.get("document_sha256") != _document_digest(document):
        raise ModelError(f"{damaged} (its checksum does not match its content); start it again with --force (or train into another --out)")
    progress = document.get("progress")
    if not isinstance(progress, dict) or not _is_count(progress.get("global_step")):
        raise ModelError(f"{damaged} (it has no step count); start it again with --force (or train into another --out)")
    for name in ("tensor_file", "tensor_sha256"):
        if not isinstance(document.get(name), str):
            raise ModelError(f"{damaged} (it has no {name}); start it again with --force (or train into another --out)")
    for name in ("optimizer", "info"):
        if not isinstance(document.get(name), dict):
            raise ModelError(f"{damaged} (it has no {name} record); start it again with --force (or train into another --out)")
    return document


def _read_tensors(directory: Path, document: dict) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors, verified against the recorded checksum and checked to be finite."""
    path = directory / Path(document["tensor_file"]).name
    damaged = f"the training checkpoint in {directory} is missing or damaged ({path.name})"
    try:
        data = path.read_bytes()
    except OSError:
        raise ModelError(f"{damaged}; start it again with --force (or train into another --out)") from None
    if hashlib.sha256(data).hexdigest() != document["tensor_sha256"]:
        raise ModelError(f"{damaged}: its checksum does not match; start it again with --force (or train into another --out)")
    try:
        tensors = load_tensor_bytes(data)
    except Exception:  # safetensors raises its own error types for torn files
        raise ModelError(f"{damaged}; start it again with --force (or train into another --out)") from None
    for name, value in tensors.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise ModelError(f"the training checkpoint in {directory} holds non-finite values ({name}); it cannot resume, start it again with --force")
    return tensors


def _document_digest(document: dict) -> str:
    content = {key: value for key, value in document.items() if key != "document_sha256"}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode("utf-8")).hexdigest()


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _move_optimizer_state(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    # Optimizer.load_state_dict casts moments to each parameter's device already; Adam keeps its
    # ``step`` counter on the CPU unless capturable/fused, and load_state_dict respects that.
    for param_state in optimizer.state.values():
        for name, value in param_state.items():
            if isinstance(value, torch.Tensor) and name != "step" and value.device != device:
                param_state[name] = value.to(device)

