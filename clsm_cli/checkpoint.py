"""Saving, loading and finding models.

A model folder holds two files:

* ``model.safetensors``: the weights (float32, or float16 to ship smaller), plus string metadata;
  never a pickle, so loading a stranger's file cannot run code;
* ``config.json``: ``format_version``, ``kind``, ``config`` (the model's config dict),
  ``vocabulary_hash``, ``weights_sha256``, ``parameter_count``, ``created``, ``clsm_version``,
  ``name`` and the ``training`` record (data, steps, losses, metrics: whatever the trainer passes).

``save_model`` writes both with ``atomic_write`` (weights first); the config records the weights'
SHA-256, so a torn or truncated write is caught on load. ``read_model_files`` (no torch; both
inference engines start from it) checks version, vocabulary, every config value, the digest, each
tensor's dtype and that the weights are finite; ``load_model`` adds the shapes the torch model
expects. Every problem is a ``ModelError`` (exit code 4) with one sentence.

Models are found by name in the user's models folder (``CLSM_HOME/models`` or the platform's user
data dir), then among the shipped ones (``clsm_cli/weights`` when installed, ``weights/`` in a
source checkout). Listing and resolving import no torch.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from clsm_cli import __version__
from clsm_cli.atomic import atomic_write, remove_stale_temporaries
from clsm_cli.constants import vocabulary_hash
from clsm_cli.timebase import GRID_ENCODINGS, SIXTEENTH_ENCODING
from clsm_cli.errors import ModelError, OutputError, UsageError

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CARD_FILE = "CARD.md"
DEFAULT_MODEL_NAME = "folk-small"
SAFETENSORS_DTYPES = {"float32": "F32", "float16": "F16"}  # what weights_dtype may declare, as stored
MAX_WEIGHT_MAGNITUDE = 1e6  # trained weights stay far below; larger ones overflow half precision and activations
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


# Saving ------------------------------------------------------------------------------------------


def save_model(model, directory, training: Optional[dict] = None, name: Optional[str] = None, dtype=None) -> Path:
    """Write ``model`` (with a ``.config``) into ``directory``; returns the directory.

    ``dtype`` is ``torch.float32`` (default) or ``torch.float16`` for shipping; loading always
    gives float32 parameters. Other files in the folder (a trainer's optimizer state, logs) stay.
    Weights that are not finite are refused (a ModelError): a diverged model is never saved.
    """
    import torch
    from safetensors.torch import save as safetensors_bytes

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
    broken = [key for key, value in state.items() if value.is_floating_point() and not bool(torch.isfinite(value).all())]
    if broken:
        raise ModelError(
            f"the model's weights are not finite (e.g. {broken[0]}), so it was not saved to {directory}; "
            "training diverged"
        )
    weights = safetensors_bytes(
        state,
        metadata={"format_version": str(FORMAT_VERSION), "kind": config.kind,
                  "vocabulary_hash": vocabulary_hash(config.grid_encoding),
                  "clsm_version": __version__},
    )
    record = {
        "format_version": FORMAT_VERSION,
        "kind": config.kind,
        "name": name or directory.resolve().name,
        "config": config_to_dict(config),
        "vocabulary_hash": vocabulary_hash(config.grid_encoding),
        "parameter_count": sum(parameter.numel() for parameter in model.parameters()),
        "weights_dtype": str(dtype).removeprefix("torch."),
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "clsm_version": __version__,
        "training": training or {},
    }
    try:
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write(directory / WEIGHTS_FILE, weights)  # weights first: the config's digest names them
        atomic_write(directory / CONFIG_FILE, json.dumps(record, indent=2, sort_keys=False) + "\n")
    except OSError as error:
        raise OutputError(f"cannot write the model to {directory}: {error.strerror or error}") from None
    remove_leftover_temporaries(directory)
    return directory


def remove_leftover_temporaries(directory: Path) -> None:
    """Remove what killed writes of a model folder left: ``.NAME.*.tmp`` and older ``NAME.tmp-PID`` files."""
    for name in (WEIGHTS_FILE, CONFIG_FILE):
        remove_stale_temporaries(directory, name)
        for leftover in Path(directory).glob(f"{name}.tmp-*"):
            leftover.unlink(missing_ok=True)


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
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
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
    expected_hash = vocabulary_hash(_recorded_grid_encoding(record))
    if saved_hash != expected_hash:
        raise ModelError(
            f"the model in {directory} was trained on a different vocabulary (hash {saved_hash}, this clsm "
            f"uses {expected_hash}), so it cannot read these tokens; retrain it with this version"
        )
    return record


def _recorded_grid_encoding(record: dict) -> str:
    """The grid a model's config names (configs saved before grids existed are on 16ths); an
    encoding this clsm does not know falls back to the 16th grid's hash, which then fails to match."""
    config = record.get("config")
    encoding = config.get("grid_encoding", SIXTEENTH_ENCODING) if isinstance(config, dict) else SIXTEENTH_ENCODING
    return encoding if encoding in GRID_ENCODINGS else SIXTEENTH_ENCODING


def read_model_config(directory) -> tuple[dict, Any]:
    """The checked record and its validated config (every field in range), without torch or weights."""
    from clsm_cli.models.config import config_from_dict

    directory = Path(directory)
    record = read_model_record(directory)
    try:
        config = config_from_dict(record.get("config"))
    except ModelError as error:
        raise ModelError(f"the model in {directory} has a broken config: {error}") from None
    if record.get("kind") != config.kind:
        raise ModelError(f"the {CONFIG_FILE} in {directory} says kind {record.get('kind')!r} but holds a {config.kind} config")
    return record, config


def read_model_files(directory) -> tuple[dict, Any, dict]:
    """A model folder checked and read without torch: ``(record, config, tensors)``.

    ``tensors`` maps names to numpy arrays in the declared dtype (``weights_dtype``: float32, or
    float16 for shipping): read-only views into the file's bytes, read once. Every problem is a
    ModelError (exit 4) in one sentence: a missing, truncated or replaced weights file, a config
    value out of range, a tensor of another dtype, weights that are not finite or implausibly large.
    Both inference engines start here.
    """
    directory = Path(directory)
    if directory.is_file():
        directory = directory.parent
    record, config = read_model_config(directory)
    weights_path = directory / WEIGHTS_FILE
    if not weights_path.is_file():
        raise ModelError(f"the model in {directory} has no {WEIGHTS_FILE}: its weights are missing")
    try:
        data = weights_path.read_bytes()
    except OSError as error:
        raise ModelError(f"cannot read {weights_path}: {error.strerror or error}") from None
    expected_digest = record.get("weights_sha256")
    if expected_digest is not None and hashlib.sha256(data).hexdigest() != expected_digest:
        raise ModelError(
            f"the weights in {directory} do not match its {CONFIG_FILE} (the file is truncated or was "
            "replaced); reinstall or retrain the model"
        )
    return record, config, _checked_tensors(data, record, directory, weights_path)


def _checked_tensors(data: bytes, record: dict, directory: Path, weights_path: Path) -> dict:
    """The tensors of a safetensors file's bytes, each of the declared dtype, finite and plausible."""
    declared = record.get("weights_dtype", "float32")
    if declared not in SAFETENSORS_DTYPES:
        raise ModelError(f"the {CONFIG_FILE} in {directory} declares weights_dtype {declared!r}; clsm reads float32 or float16")
    header, data_start = _safetensors_header(data, weights_path)
    for key, entry in header.items():
        if entry["dtype"] != SAFETENSORS_DTYPES[declared]:
            raise ModelError(
                f"the weights in {directory} hold {key} as {entry['dtype']}, but the model declares {declared} "
                f"({SAFETENSORS_DTYPES[declared]}); reinstall or retrain the model"
            )
    tensors = _tensor_views(data, header, data_start, declared, weights_path)
    if not _all_plausible(data, data_start, declared):  # else: find the tensor, and say what is wrong with it
        for key, value in tensors.items():
            check_weight_values(key, value, declared, directory)
    return tensors


def _all_plausible(data: bytes, data_start: int, declared: str) -> bool:
    """True when every weight of the data section is finite and within MAX_WEIGHT_MAGNITUDE: its
    minimum and maximum say so at once (a NaN makes both NaN), without a temporary array."""
    import numpy as np

    values = np.frombuffer(data, dtype=np.dtype(declared).newbyteorder("<"), offset=data_start)
    if not values.size:
        return True
    low, high = float(values.min()), float(values.max())
    return -MAX_WEIGHT_MAGNITUDE <= low and high <= MAX_WEIGHT_MAGNITUDE  # False for NaN and infinities


def weights_sha256(directory) -> str:
    """The SHA-256 (hex) of a model folder's weights file: what provenance names the weights by."""
    digest = hashlib.sha256()
    with open(Path(directory) / WEIGHTS_FILE, "rb") as weights:
        for block in iter(lambda: weights.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _safetensors_header(data: bytes, weights_path: Path) -> tuple[dict[str, dict], int]:
    """A safetensors file's tensor entries (name -> its header entry, ``__metadata__`` left out) and
    where its data starts; ModelError unless the header is a JSON object of well-formed entries."""
    unreadable = _unreadable(weights_path)
    if len(data) < 8:
        raise unreadable
    header_length = int.from_bytes(data[:8], "little")
    if header_length > len(data) - 8:
        raise unreadable
    try:
        header = json.loads(data[8 : 8 + header_length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise unreadable from None
    if not isinstance(header, dict):
        raise unreadable
    entries = {}
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("dtype"), str):
            raise unreadable
        entries[str(key)] = entry
    return entries, 8 + header_length


def _tensor_views(data: bytes, header: dict[str, dict], data_start: int, declared: str,
                  weights_path: Path) -> dict:
    """Each tensor as a read-only numpy view of ``data``, after the checks safetensors makes: a shape
    of whole numbers, a byte range that holds exactly that shape, and ranges that tile the data
    section from its start to the file's end without a gap or an overlap."""
    import numpy as np

    unreadable = _unreadable(weights_path)
    dtype = np.dtype(declared).newbyteorder("<")
    spans = []
    for key, entry in header.items():
        shape, offsets = entry.get("shape"), entry.get("data_offsets")
        if not (isinstance(shape, list) and isinstance(offsets, list) and len(offsets) == 2
                and all(type(n) is int and n >= 0 for n in [*shape, *offsets])):
            raise unreadable
        count = math.prod(shape)
        if offsets[1] - offsets[0] != count * dtype.itemsize:
            raise unreadable
        spans.append((offsets[0], offsets[1], key, tuple(shape), count))
    spans.sort()
    end_of_previous = 0
    for begin, end, _, _, _ in spans:
        if begin != end_of_previous:
            raise unreadable
        end_of_previous = end
    if data_start + end_of_previous != len(data):
        raise unreadable
    return {key: np.frombuffer(data, dtype=dtype, count=count, offset=data_start + begin).reshape(shape)
            for begin, _, key, shape, count in spans}


def _unreadable(weights_path: Path) -> ModelError:
    return ModelError(f"{weights_path} is not a readable safetensors file (truncated or not a clsm model)")


def check_weight_values(key: str, value, declared: str, directory: Path) -> None:
    """ModelError unless tensor ``key`` has the declared dtype and finite, plausible values."""
    import numpy as np

    if value.dtype != np.dtype(declared):
        raise ModelError(
            f"the weights in {directory} hold {key} as {value.dtype}, but the model declares {declared}; "
            "reinstall or retrain the model"
        )
    values = value.astype(np.float32, copy=False)
    if not np.isfinite(values).all():
        raise ModelError(f"the weights in {directory} are not finite ({key} holds NaN or infinity); retrain the model")
    if values.size and float(np.abs(values).max()) > MAX_WEIGHT_MAGNITUDE:
        raise ModelError(
            f"the weights in {directory} are implausibly large ({key} reaches {float(np.abs(values).max()):.3g}, "
            f"more than {MAX_WEIGHT_MAGNITUDE:g}); retrain the model"
        )


def load_model(path, device="cpu") -> LoadedModel:
    """Load a model folder (or a file inside it) saved by ``save_model`` into torch; raises ModelError."""
    import torch

    from clsm_cli.models.registry import build_model

    record, config, arrays = read_model_files(path)
    directory = Path(path).parent if Path(path).is_file() else Path(path)
    model = build_model(config)
    state = {key: torch.from_numpy(value.copy()) for key, value in arrays.items()}
    _check_state_fits(model, state, directory)
    expected = model.state_dict()
    model.load_state_dict({key: value.to(expected[key].dtype) for key, value in state.items()})
    model.to(device or "cpu").eval()
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


def list_installed_models(read_weights: bool = True) -> list[InstalledModel]:
    """User models, then shipped ones; unreadable folders are listed with their ``problem``.

    ``read_weights=False`` reads each folder's config.json only (what choosing a model by meter
    needs, fast at any model size); the weights are then checked when the chosen model loads.
    """
    found = []
    for source, base in (("user", user_models_dir()), ("shipped", shipped_models_dir())):
        if not base.is_dir():
            continue
        for directory in sorted(base.iterdir()):
            if not (directory.is_dir() and (directory / CONFIG_FILE).is_file()):
                continue
            found.append(_installed_model(directory, source, read_weights))
    return found


def _installed_model(directory: Path, source: str, read_weights: bool = True) -> InstalledModel:
    """The folder's record and config when its files check out (``read_model_files``, or only its
    config with ``read_weights=False``), else its problem."""
    try:
        record, config = read_model_files(directory)[:2] if read_weights else read_model_config(directory)
    except ModelError as error:
        return InstalledModel(directory.name, directory, source, "unknown", None, {}, problem=str(error))
    return InstalledModel(directory.name, directory, source, config.kind, config, record)
