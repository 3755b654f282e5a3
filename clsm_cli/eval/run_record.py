"""The evaluation's reproducibility record (``run.json``) and the writing of its output files.

``run.json`` keeps what reruns an evaluation exactly: the command, models with their training
records, the data's manifest hash, seed, device, code version (``code_version``, shared with
training) and wall times. Every file goes through ``atomic_write``; a failure is an OutputError
(exit 5) with a sentence.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional, Sequence

from clsm_cli.atomic import atomic_write
from clsm_cli.code_version import code_version
from clsm_cli.errors import OutputError
from clsm_cli.json_text import json_text

RESULTS_CSV, RESULTS_MD, RUN_JSON = "results.csv", "results.md", "run.json"
QUALITY_MD, QUALITY_JSON = "quality.md", "quality.json"


def check_output_dir(out: Path, files: Sequence[str], force: bool) -> None:
    """Refuse to replace earlier results without --force (before any work is done)."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file, not a folder; choose another --out")
    existing = [name for name in files if (out / name).exists()]
    if existing and not force:
        raise OutputError(f"{out} already holds {', '.join(existing)}; pass --force to replace them")


def write_outputs(out: Path, files: dict[str, str]) -> list[Path]:
    """Write ``{file name: text}`` into ``out`` (created if needed); the paths written."""
    written = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            written.append(atomic_write(out / name, text))
    except OSError as error:
        raise OutputError(f"cannot write the results into {out}: {error.strerror or error}") from None
    return written


def record_json(record: dict) -> str:
    """``run.json``'s text: valid JSON (non-finite figures become null)."""
    return json_text(record, indent=2) + "\n"


def _file_sha256(path: Path) -> Optional[str]:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def run_record(*, command: str, data: Path, split: str, manifest: dict, plan_windows: int, requested_windows: int,
               seed: int, device: str, batch_size: int, models: list, lm: Optional[dict], seconds: dict,
               extra: Optional[dict] = None) -> dict:
    import numpy
    import torch

    record = {
        "command": command,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "code": code_version(),
        "environment": {
            "python": sys.version.split()[0], "torch": torch.__version__, "numpy": numpy.__version__,
            "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "device": device,
            "cuda_device": torch.cuda.get_device_name(0) if device.startswith("cuda") else None,
        },
        "data": {
            "directory": str(Path(data).resolve()),
            "split": split,
            "manifest_sha256": _file_sha256(Path(data) / "manifest.json"),
            "content_sha256": manifest.get("content_sha256"),
            "split_windows": _split_windows(manifest, split),
        },
        "seed": seed,
        "windows": plan_windows,
        "windows_requested": requested_windows,
        "batch_size": batch_size,
        "lm": lm,
        "models": models,
        "seconds": seconds,
    }
    if extra:
        record.update(extra)
    return record


def header_lines(record: dict) -> list[str]:
    code = record["code"]
    commit = f", commit {code['git_commit'][:12]}{' (modified)' if code['git_dirty'] else ''}" if code["git_commit"] else ""
    environment = record["environment"]
    return [
        f"{record['windows']} windows of the `{record['data']['split']}` split of `{record['data']['directory']}`"
        f" (manifest sha256 {str(record['data']['manifest_sha256'])[:16]}), seed {record['seed']}.",
        f"clsm {code['clsm']}{commit}; torch {environment['torch']} on {environment['device']}"
        f" ({environment['cpu_count']} CPUs, torch threads: {environment['torch_threads']});"
        f" {record['seconds'].get('total', 0):.0f} s in all.",
        f"Command: `{record['command']}`",
    ]


def command_line(sources, names, data, lm, out, windows, seed, split, device, batch_size, extra: str = "") -> str:
    parts = ["clsm evaluate", "--data", str(data)]
    if lm:
        parts += ["--lm", str(lm)]
    if out:
        parts += ["--out", str(out)]
    parts += ["--models", *sources]
    if any(names):
        parts += ["--names", ",".join(str(name) for name in names)]
    parts += ["--windows", str(windows), "--seed", str(seed), "--split", split, "--device", device,
              "--batch-size", str(batch_size)]
    return " ".join(parts) + extra


def _split_windows(manifest: dict, split: str) -> dict:
    """Windows of ``split`` per meter group, e.g. ``{"4/4": 1207}`` (older datasets are one 4/4 group)."""
    from clsm_cli.data.shards import meter_groups

    return {group: (record.get("splits", {}).get(split) or {}).get("windows") for group, record in meter_groups(manifest).items()}
