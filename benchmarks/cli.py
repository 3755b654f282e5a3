"""How long an edit takes from the shell with each inference engine, against starting torch or numpy.

Runs, interleaved in one session so that every command sees the same machine load::

    python -c "import torch"
    python -c "import numpy"
    clsm infill EXAMPLE --bars 3-4 -n 4            (numpy engine, the default)
    clsm infill EXAMPLE --bars 3-4 -n 4 --engine torch
    clsm infill EXAMPLE --bars 3-4 -n 16           (and with --engine torch)

(each infill with ``--no-preview --seed 1 --out TMP --force``), then one call over a batch of 40
copies of the example per engine (files/s), and prints wall time (median, minimum) and peak RSS
of each, the ratios to ``import torch`` and the issue's targets: numpy-engine infill at most 0.35x
the ``import torch`` wall with a peak RSS of at most 150 MB, ``-n 16`` at most 0.5x. Last,
``python -X importtime`` of a numpy-engine infill lists any torch module it imports (there must be
none).

The same rows are measured on the engine core too (``benchmarks/engine.py``: load the model, then
the prior, draws, flow and decoder calls of one infill, without MIDI or CLI): they show what the
engines cost where the CLI's own work is left out, and they are the only infill rows when this
``clsm`` has no ``--engine`` option yet (the rows say so).

Usage: ``python benchmarks/cli.py [--runs 5] [--batch 40] [--model NAME|DIR] [--example FILE]``.
Figures depend on the machine and on its load; the load average is printed first.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
DEFAULT_EXAMPLE = REPOSITORY / "examples" / "hoert-ihr-herrn.mid"
ENGINE_SCRIPT = REPOSITORY / "benchmarks" / "engine.py"
INFILL_RATIO_TARGET = 0.35  # numpy-engine infill wall / import torch wall
MANY_RATIO_TARGET = 0.5  # the same with -n 16
RSS_TARGET_MB = 150


def run_measured(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process; raises if it fails."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    errors = process.stderr.read().decode(errors="replace") if process.stderr else ""
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(command)} failed with exit code {code}:\n{errors}")
    return seconds, usage.ru_maxrss / 1024  # ru_maxrss is in KB on Linux


def torch_modules_imported(command: list[str]) -> list[str]:
    """The torch modules ``python -X importtime`` reports for ``command`` (a ``python ...`` list)."""
    traced = [command[0], "-X", "importtime", *command[1:]]
    result = subprocess.run(traced, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(traced)} failed:\n{result.stderr[-2000:]}")
    names = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")]
    return [name for name in names if name == "torch" or name.startswith("torch.")]


def cli_has_engine_option() -> bool:
    help_text = subprocess.run(
        [sys.executable, "-m", "clsm_cli", "infill", "--help"], capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}
    ).stdout
    return "--engine" in help_text


def commands(example: Path, batch: list[Path], model: list[str], out: Path, with_cli: bool) -> dict[str, tuple[list[str], int]]:
    """Name -> (command, files it edits), in the order they run."""
    python = sys.executable
    table: dict[str, tuple[list[str], int]] = {
        "import torch": ([python, "-c", "import torch"], 0),
        "import numpy": ([python, "-c", "import numpy"], 0),
    }
    for engine in ("numpy", "torch"):
        core = [python, str(ENGINE_SCRIPT), "--engine", engine, *model]
        table[f"core {engine} -n 4"] = (core + ["-n", "4"], 1)
        table[f"core {engine} -n 16"] = (core + ["-n", "16"], 1)
        table[f"core {engine} batch"] = (core + ["-n", "4", "--files", str(len(batch))], len(batch))
    if with_cli:
        for engine in ("numpy", "torch"):
            choice = ["--engine", engine] if engine == "torch" else []
            infill = [python, "-m", "clsm_cli", "infill"]
            options = ["--bars", "3-4", "--no-preview", "--seed", "1", "--out", str(out), "--force", *model, *choice]
            table[f"infill {engine} -n 4"] = (infill + [str(example), "-n", "4", *options], 1)
            table[f"infill {engine} -n 16"] = (infill + [str(example), "-n", "16", *options], 1)
            table[f"infill {engine} batch"] = (infill + [*map(str, batch), "-n", "4", *options], len(batch))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each command (interleaved), after one warm-up")
    parser.add_argument("--batch", type=int, default=40, help="files in the batch rows")
    parser.add_argument("--model", default=None, help="model name or folder (default: the shipped one)")
    parser.add_argument("--example", type=Path, default=DEFAULT_EXAMPLE, help="the MIDI file to edit")
    args = parser.parse_args()
    with_cli = cli_has_engine_option()
    model = [] if args.model is None else ["--model", args.model]

    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        batch = []
        for number in range(args.batch):
            batch.append(folder / "batch" / f"{number:02d}-{args.example.name}")
            batch[-1].parent.mkdir(exist_ok=True)
            shutil.copyfile(args.example, batch[-1])
        table = commands(args.example, batch, model, folder / "out", with_cli)
        print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}; {args.runs} interleaved runs after one warm-up")
        if not with_cli:
            print("note: this clsm infill has no --engine option yet: only the engine-core rows measure infills")
        for command, _ in table.values():
            run_measured(command)
        times: dict[str, list[float]] = {name: [] for name in table}
        peaks: dict[str, float] = {name: 0.0 for name in table}
        for _ in range(args.runs):
            for name, (command, _) in table.items():
                seconds, peak = run_measured(command)
                times[name].append(seconds)
                peaks[name] = max(peaks[name], peak)
        numpy_row = "infill numpy -n 4" if with_cli else "core numpy -n 4"
        torch_seen = torch_modules_imported(table[numpy_row][0])

    torch_wall = statistics.median(times["import torch"])
    print(f"\n{'command':<20} {'median':>8} {'min':>8} {'/ torch':>8} {'peak RSS':>9} {'files/s':>8}")
    for name, (_, files) in table.items():
        median = statistics.median(times[name])
        rate = f"{files / median:8.1f}" if files > 1 else f"{'':8}"
        print(f"{name:<20} {median:7.2f}s {min(times[name]):7.2f}s {median / torch_wall:7.2f}x {peaks[name]:7.0f}MB {rate}")

    prefix = "infill" if with_cli else "core"
    ratio = statistics.median(times[f"{prefix} numpy -n 4"]) / torch_wall
    many = statistics.median(times[f"{prefix} numpy -n 16"]) / torch_wall
    rss = max(peaks[f"{prefix} numpy -n 4"], peaks[f"{prefix} numpy -n 16"])
    print(f"\n{prefix} numpy -n 4 / import torch: {ratio:.2f}x (target <= {INFILL_RATIO_TARGET}x)")
    print(f"{prefix} numpy -n 16 / import torch: {many:.2f}x (target <= {MANY_RATIO_TARGET}x)")
    print(f"{prefix} numpy peak RSS: {rss:.0f} MB (target <= {RSS_TARGET_MB} MB)")
    print(f"torch modules in python -X importtime of '{numpy_row}': {', '.join(torch_seen[:5]) or 'none'}")
    met = ratio <= INFILL_RATIO_TARGET and many <= MANY_RATIO_TARGET and rss <= RSS_TARGET_MB and not torch_seen
    print("meets every target" if met else "misses a target")


if __name__ == "__main__":
    main()
