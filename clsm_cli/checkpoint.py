"""Saving, loading and finding models.

A model folder holds two files:

* ``model.safetensors``: the weights (float32, or float16 to ship smaller), plus string metadata;
  never a pickle, so loading a stranger's file cannot run code;
* ``config.json``: ``format_version``, ``kind``, ``config`` (the model's config dict),
  ``vocabulary_hash``, ``weights_sha256``, ``parameter_count``, ``created``, ``clsm_version``,
  ``name`` and the ``training`` record (data, steps, losses, metrics: whatever the trainer passes).

``save_model`` writes both atomically (temporary files renamed into place, weights first); the
config records the weights' SHA-256, so a torn or truncated write is caught on load. ``load_model``
checks version, vocabulary, digest and shapes and turns every problem into a ``ModelError``
(exit code 4) with one sentence.

Models are found by name in the user's models folder (``CLSM_HOME/models`` or the platform's user
data dir), then among the shipped ones (``clsm_cli/weights`` when installed, ``weights/`` in a
source checkout). Listing and resolving import no torch.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from clsm_cli import __version__
from clsm_cli.errors import ModelError, OutputError, UsageError

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CARD_FILE = "CARD.md"
DEFAULT_MODEL_NAME = "folk-small"
HOME_ENV = "CLSM_HOME"  # overrides the user data dir; user models then live in $CLSM_HOME/models


@dataclass(frozen=True)
class LoadedModel:
    model: Any  # torch.nn.Module, in eval mode on the requested device
    config: Any  # the model's config dataclass
    kind: str
    metadata: dict  # the whole config.json record
    directory: Path


@dataclass(frozen=True)
class InstalledModel:
    name: str
    directory: Path
    source: str  # "shipped" or "user"
    kind: str  # "unknown" when the folder cannot be read
    config: Any  # None when the folder cannot be read
    metadata: dict = field(default_factory=dict)
    problem: Optional[str] = None  # why the folder cannot be loaded, if it cannot


def vocabulary_hash() -> str:
    """The hash of this clsm's vocabulary and grid (``music.tokens``); stored in each checkpoint."""
    from clsm_cli.music.tokens import vocabulary_hash as tokens_vocabulary_hash

    return tokens_vocabulary_hash()


# Saving ------------------------------------------------------------------------------------------


def save_model(model, directory, training: Optional[dict] = None, name: Optional[str] = None, dtype=None) -> Path:
    """Write ``model`` (with a ``.config``) into ``directory``; returns the directory.

    ``dtype`` is ``torch.float32`` (default) or ``torch.float16`` for shipping; loading always
    gives float32 parameters. Other files in the folder (a trainer's optimizer state, logs) stay.
    """
    import torch
    from safetensors.torch import save_file

    from clsm_cli.models.config import config_to_dict

    dtype = torch.float32 if dtype is None else dtype
    if dtype not in (torch.float32, torch.float16):
        raise ValueError(f"dtype must be torch.float32 or torch.float16, got {dtype}")
    directory = Path(directory)
    config = model.config
    state = {
        key: (value.detach().to("cpu", dtype) if value.is_floating_point() else value.detach().cpu()).contiguous()
        for key, value in model.state_dict().items()
    }
    vocab = vocabulary_hash()
    suffix = f".tmp-{os.getpid()}"
    weights_tmp = directory / (WEIGHTS_FILE + suffix)
    config_tmp = directory / (CONFIG_FILE + suffix)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        save_file(
            state, str(weights_tmp),
            metadata={"format_version": str(FORMAT_VERSION), "kind": config.kind, "vocabulary_hash": vocab,
                      "clsm_version": __version__},
        )
        record = {
            "format_version": FORMAT_VERSION,
            "kind": config.kind,
            "name": name or directory.resolve().name,
            "config": config_to_dict(config),
            "vocabulary_hash": vocab,
            "parameter_count": sum(parameter.numel() for parameter in model.parameters()),
            "weights_dtype": str(dtype).removeprefix("torch."),
            "weights_sha256": _file_sha256(weights_tmp),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "clsm_version": __version__,
            "training": training or {},
        }
        config_tmp.write_text(json.dumps(record, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        os.replace(weights_tmp, directory / WEIGHTS_FILE)
        os.replace(config_tmp, directory / CONFIG_FILE)
    except OSError as error:
        raise OutputError(f"cannot write the model to {directory}: {error.strerror or error}") from None
    finally:
        for leftover in (weights_tmp, config_tmp):
            leftover.unlink(missing_ok=True)
    return directory


# Loading -----------------------------------------------------------------------------------------


def read_model_record(directory) -> dict:
    """The checked config.json of a model folder (format version and vocabulary), without torch."""
    directory = Path(directory)
    if not directory.exists():
        raise ModelError(f"no model at {directory}: that folder does not exist")
    if not directory.is_dir():
        raise ModelError(f"{directory} is not a model folder (expected a folder with {CONFIG_FILE} and {WEIGHTS_FILE})")
    config_path = directory / CONFIG_FILE
    if not config_path.is_file():
        raise ModelError(f"{directory} is not a clsm model: it has no {CONFIG_FILE}")
    try:
        record = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise ModelError(f"the {CONFIG_FILE} of the model in {directory} is not readable JSON") from None
    if not isinstance(record, dict) or "format_version" not in record:
        raise ModelError(f"the {CONFIG_FILE} in {directory} is not a clsm model config (it has no format_version)")
    version = record["format_version"]
    if version != FORMAT_VERSION:
        raise ModelError(
            f"the model in {directory} uses checkpoint format {version!r}, but clsm {__version__} reads "
            f"format {FORMAT_VERSION}; use the clsm version that saved it, or retrain it"
        )
    saved_hash = record.get("vocabulary_hash")
    if saved_hash != vocabulary_hash():
        raise ModelError(
            f"the model in {directory} was trained on a different vocabulary (hash {saved_hash}, this clsm "
            f"uses {vocabulary_hash()}), so it cannot read these tokens; retrain it with this version"
        )
    return record


def load_model(path, device="cpu") -> LoadedModel:
    """Load a model folder (or a file inside it) saved by ``save_model``; raises ModelError."""
    import torch
    from safetensors import safe_open

    from clsm_cli.models.config import config_from_dict
    from clsm_cli.models.registry import build_model

    directory = Path(path)
    if directory.is_file():
        directory = directory.parent
    record = read_model_record(directory)
    config = config_from_dict(record.get("config"))
    if record.get("kind") != config.kind:
        raise ModelError(f"the {CONFIG_FILE} in {directory} says kind {record.get('kind')!r} but holds a {config.kind} config")
    weights_path = directory / WEIGHTS_FILE
    if not weights_path.is_file():
        raise ModelError(f"the model in {directory} has no {WEIGHTS_FILE}: its weights are missing")
    expected_digest = record.get("weights_sha256")
    if expected_digest is not None and _file_sha256(weights_path) != expected_digest:
        raise ModelError(
            f"the weights in {directory} do not match its {CONFIG_FILE} (the file is truncated or was "
            "replaced); reinstall or retrain the model"
        )
    try:
        with safe_open(str(weights_path), framework="pt", device="cpu") as weights:
            state = {key: weights.get_tensor(key) for key in weights.keys()}
    except Exception:  # safetensors raises its own error types for truncated or foreign bytes
        raise ModelError(f"{weights_path} is not a readable safetensors file (truncated or not a clsm model)") from None

    if device is None:
        device = "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for, but no CUDA device is available")
    model = build_model(config)
    _check_state_fits(model, state, directory)
    expected = model.state_dict()
    model.load_state_dict({key: value.to(expected[key].dtype) for key, value in state.items()})
    model.to(device).eval()
    return LoadedModel(model=model, config=config, kind=config.kind, metadata=record, directory=directory)


def _check_state_fits(model, state: dict, directory: Path) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected {_few(unexpected)}")
        raise ModelError(f"the weights in {directory} do not fit its config ({'; '.join(parts)})")
    wrong = [key for key in expected if tuple(expected[key].shape) != tuple(state[key].shape)]
    if wrong:
        key = wrong[0]
        raise ModelError(
            f"the weights in {directory} do not fit its config ({len(wrong)} tensors have other shapes, "
            f"e.g. {key}: {tuple(state[key].shape)} instead of {tuple(expected[key].shape)})"
        )


def _few(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# Finding -----------------------------------------------------------------------------------------


def shipped_models_dir() -> Path:
    """``clsm_cli/weights`` in an installed package, else the checkout's top-level ``weights/``."""
    packaged = Path(__file__).resolve().parent / "weights"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "weights"


def user_models_dir() -> Path:
    """Where trained models land: ``$CLSM_HOME/models``, else the platform's user data dir."""
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser() / "models"
    import platformdirs

    return Path(platformdirs.user_data_dir("clsm")) / "models"


def user_model_dir(name: str) -> Path:
    """The folder a user model called ``name`` is saved to (``clsm train --out NAME``)."""
    if not name or name in (".", "..") or "/" in name or os.sep in name:
        raise UsageError(f"a model name is one word without slashes, got {name!r}")
    return user_models_dir() / name


def _looks_like_path(text: str) -> bool:
    return "/" in text or os.sep in text or text.startswith((".", "~"))


def resolve_model(name_or_path: Optional[str]) -> Path:
    """The folder of a model given by name (user models first, then shipped) or by path.

    ``None`` means the default model. A name that is not installed but is a model folder in the
    current directory is accepted too.
    """
    name = DEFAULT_MODEL_NAME if name_or_path is None else str(name_or_path)
    if _looks_like_path(name):
        candidate = Path(name).expanduser()
        if candidate.is_dir():
            return candidate
        raise ModelError(f"no model folder at {candidate}")
    for base in (user_models_dir(), shipped_models_dir()):
        if (base / name / CONFIG_FILE).is_file():
            return base / name
    local = Path(name)
    if (local / CONFIG_FILE).is_file():
        return local
    installed = sorted({model.name for model in list_installed_models()})
    listing = ", ".join(installed) if installed else "none"
    if name_or_path is None:
        problem = f"the default model {name!r} is not installed"
    else:
        problem = f"no installed model is called {name!r}"
    raise ModelError(f"{problem}; installed models: {listing} (or pass a model folder path)")


def list_installed_models() -> list[InstalledModel]:
    """User models, then shipped ones; unreadable folders are listed with their ``problem``."""
    found = []
    for source, base in (("user", user_models_dir()), ("shipped", shipped_models_dir())):
        if not base.is_dir():
            continue
        for directory in sorted(base.iterdir()):
            if not (directory.is_dir() and (directory / CONFIG_FILE).is_file()):
                continue
            found.append(_installed_model(directory, source))
    return found


def _installed_model(directory: Path, source: str) -> InstalledModel:
    from clsm_cli.models.config import config_from_dict

    try:
        record = read_model_record(directory)
        config = config_from_dict(record.get("config"))
    except ModelError as error:
        return InstalledModel(directory.name, directory, source, "unknown", None, {}, problem=str(error))
    return InstalledModel(directory.name, directory, source, config.kind, config, record)
