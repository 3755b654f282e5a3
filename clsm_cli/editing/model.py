"""The model an editing command runs, loaded once per command, and the decoding it recommends."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from clsm_cli.engine.sampling import Decoding, resolve_decoding
from clsm_cli.errors import ModelError, UsageError

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class EditModel:
    """A loaded CLSM plus what provenance needs to recognise it again (name and weights digest)."""

    model: "torch.nn.Module"
    config: object
    name: str
    sha256: str  # of model.safetensors: the same name with other weights is another model
    directory: Path
    device: str

    @property
    def recommended_decoding(self) -> Decoding:
        """The decoding recorded in the model's config as the one its measurements recommend."""
        return Decoding(float(self.config.decoding_temperature), float(self.config.decoding_top_p))

    def decoding(self, temperature: Optional[float], top_p: Optional[float]) -> Decoding:
        """The decoding of one command: the options given, the model's recommendation for the rest."""
        return resolve_decoding(self.recommended_decoding, temperature, top_p)


def load_edit_model(name_or_path: Optional[str], device: str = "auto") -> EditModel:
    """Resolve ``--model`` (None = the shipped default), load it on ``device`` and check it is a CLSM."""
    from clsm_cli import checkpoint

    resolved_device = resolve_device(device)
    directory = checkpoint.resolve_model(name_or_path)
    loaded = checkpoint.load_model(directory, resolved_device)
    name = str(loaded.metadata.get("name") or Path(loaded.directory).name)
    if loaded.kind != "clsm":
        raise ModelError(
            f"model {name} is a {loaded.kind} model; infill, interpolate and vary need a CLSM model (see clsm models)"
        )
    return EditModel(
        model=loaded.model,
        config=loaded.config,
        name=name,
        sha256=str(loaded.metadata.get("weights_sha256") or weights_digest(Path(loaded.directory)))[:16],
        directory=Path(loaded.directory),
        device=resolved_device,
    )


def resolve_device(device: str) -> str:
    """``auto`` is CUDA when present, else the CPU; asking for CUDA without one is a usage error."""
    import torch

    if device not in ("auto", "cpu", "cuda"):
        raise UsageError(f"--device must be auto, cpu or cuda, got '{device}'")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for, but this machine has no CUDA device; use --device cpu")
    return device


def weights_digest(directory: Path) -> str:
    """The first 16 hex digits of the SHA-256 of the model's weights file."""
    digest = hashlib.sha256()
    with open(directory / "model.safetensors", "rb") as weights:
        for block in iter(lambda: weights.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]
