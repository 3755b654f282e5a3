"""What a run writes besides weights: its counters, the JSONL log, and the records beside the model.

- :class:`RunProgress` is what a checkpoint saves about where the run is (and the loss sums since
  the last log line, so a resumed run's next log line averages the same steps an uninterrupted
  run's would);
- :class:`RunLog` appends one JSON object per line (non-finite numbers become ``null``, so every
  line is valid JSON) and, on resume, drops lines written after the checkpoint;
- :func:`write_reproducibility` writes ``reproducibility.json``. Every write goes through
  ``atomic_write``; an OSError becomes an OutputError (exit 5) with a sentence.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

from clsm_cli.atomic import atomic_write
from clsm_cli.code_version import code_version
from clsm_cli.errors import OutputError
from clsm_cli.json_text import json_text
from clsm_cli.train.distributed import Runtime, all_reduce_sum

LOG_FILE_NAME = "train-log.jsonl"
REPRODUCIBILITY_FILE_NAME = "reproducibility.json"


@dataclass
class RunProgress:
    """The counters a checkpoint saves: where the run is and what it last measured."""

    global_step: int = 0
    epoch: int = 0  # epochs fully done
    step_in_epoch: int = 0  # batches of the current epoch done (its order comes from seed and epoch)
    elapsed_seconds: float = 0.0
    validated_at_step: int = -1
    last_train: dict = field(default_factory=dict)
    last_validation: dict = field(default_factory=dict)
    # This rank's loss sums since the last log line, per rank ("rank0": {"count": n, "sums": {...}}).
    pending_log: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, values: dict) -> "RunProgress":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{name: value for name, value in values.items() if name in known})


class LossSums:
    """Sums of the loss terms over some steps, averaged over all ranks when read."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, terms: dict[str, torch.Tensor]) -> None:
        # Sums stay on the terms' device: reading them (a GPU sync) happens only when logging.
        for name, value in terms.items():
            value = value.detach().float()
            self.sums[name] = self.sums[name] + value if name in self.sums else value
        self.count += 1

    def local_means(self) -> dict[str, float]:
        """This rank's means (for the progress line: no collective call)."""
        return {name: float(total) / self.count for name, total in self.sums.items()} if self.count else {}

    def means(self, runtime: Runtime) -> dict[str, float]:
        if not self.count:
            return {}
        names = sorted(self.sums)
        totals = all_reduce_sum([float(self.sums[name]) for name in names], runtime)
        return {name: total / (self.count * runtime.world_size) for name, total in zip(names, totals)}

    def state(self) -> dict:
        """JSON-able sums, saved in a checkpoint (float64 text round-trips a float32 sum exactly)."""
        return {"count": self.count, "sums": {name: float(value) for name, value in self.sums.items()}}

    def restore(self, state: dict, device: torch.device) -> None:
        self.reset()
        self.count = int(state.get("count", 0))
        self.sums = {name: torch.tensor(value, dtype=torch.float32, device=device) for name, value in state.get("sums", {}).items()}


class RunLog:
    """``train-log.jsonl``: one JSON object per line."""

    def __init__(self, path: Path):
        self.path = path

    def append(self, record: dict[str, Any]) -> None:
        line = json_text(record)
        try:
            with open(self.path, "a", encoding="utf-8") as stream:
                stream.write(line + "\n")
        except OSError as error:
            raise OutputError(f"cannot write the training log {self.path}: {error.strerror or error}") from None

    def keep_until(self, step: int, scheduled: Callable[[dict], bool]) -> None:
        """Keep the lines an uninterrupted run would have written up to ``step``.

        Lines after ``step`` go (the resumed run writes them again), and so do lines at ``step``
        that only the stop wrote (``scheduled`` says which lines the schedule writes) and lines
        cut short by a crash.
        """
        if not self.path.exists():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
                line_step = record.get("step", 0)
            except (json.JSONDecodeError, AttributeError):
                continue
            if line_step < step or (line_step == step and scheduled(record)):
                kept.append(line)
        write_text(self.path, "".join(line + "\n" for line in kept))

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    """``atomic_write`` with the OSError turned into an OutputError (exit 5)."""
    try:
        atomic_write(path, text)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None


def manifest_hash(manifest: dict) -> str:
    """The dataset's content hash (``clsm data build`` writes it), else a hash of the manifest."""
    if isinstance(manifest.get("content_sha256"), str):
        return manifest["content_sha256"]
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


def format_metrics(metrics: dict[str, float], names: tuple[str, ...] = ()) -> str:
    shown = names or tuple(metrics)
    parts = []
    for name in shown:
        if name in metrics:
            value = metrics[name]
            if value is None:
                parts.append(f"{name.replace('_', ' ')} NaN")
            else:
                parts.append(f"{name.replace('_', ' ')} {value:.4g}" if abs(value) < 1e4 else f"{name} {value:.3e}")
    return " · ".join(parts)


def jsonable(value):
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value


def write_reproducibility(path: Path, *, base: dict, runtime: Runtime, finished: Optional[dict]) -> None:
    """The run's resolved config, data hash, code version, seed and device, beside the model."""
    version = code_version()
    record = {
        **base,
        "device": runtime.describe(),
        "world_size": runtime.world_size,
        "precision": runtime.precision,
        "code": {
            "clsm_version": version["clsm"],
            "git_commit": version["git_commit"],
            "git_dirty": version["git_dirty"],
            "torch_version": torch.__version__,
            "numpy_version": np.__version__,
            "python_version": platform.python_version(),
            "platform": platform.platform(),
        },
        "result": finished,
    }
    write_text(path, json_text(jsonable(record), indent=2))
