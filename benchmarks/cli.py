"""How long ``clsm infill`` takes from the shell, against the cost of just starting torch.

Runs, interleaved in the same session so both see the same machine load::

    python -c "import torch"
    clsm infill examples/hoert-ihr-herrn.mid --bars 3-4 -n 4 --no-preview --seed 1 --out TMP --force

and prints the wall time (median and minimum) and the peak resident memory of each, then the ratio
of the medians. The issue's targets: infill at most 1.25x the time of importing torch, with a
peak RSS under 500 MB.

A third command runs the same infill with ``OMP_NUM_THREADS=1``. On a machine whose cores are
busy with other work, torch's default thread pool can make the tiny decoding steps many times
slower (threads wait for cores); this row shows how much of the time that is.

The model is the shipped default when it is installed; otherwise (or with ``--random-small``) a
randomly initialised ``small`` preset CLSM is saved to a temporary folder and used instead: it has
the shipped model's size, so it costs the same to load and decode, and the run says so.

Usage: ``python benchmarks/cli.py [--runs 7] [--model NAME|DIR] [--random-small] [--example FILE]``.
Figures depend on the machine and on its load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
DEFAULT_EXAMPLE = REPOSITORY / "examples" / "hoert-ihr-herrn.mid"
TIME_RATIO_TARGET = 1.25
RSS_TARGET_MB = 500


def run_measured(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process; raises if it fails."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env={**os.environ, **(env or {})})
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    errors = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed with exit code {process.returncode}:\n{errors}")
    return seconds, usage.ru_maxrss / 1024  # ru_maxrss is in KB on Linux


def prepare_model(requested: str | None, random_small: bool, folder: Path) -> tuple[str, str]:
    """The --model argument to benchmark and a sentence saying what it is."""
    from clsm_cli import checkpoint
    from clsm_cli.errors import ModelError

    if not random_small:
        try:
            directory = checkpoint.resolve_model(requested)
            return str(directory), f"model {directory.name} ({directory})"
        except ModelError as error:
            if requested is not None:
                raise SystemExit(str(error))
            print(f"note: {error}; using a random small-preset CLSM instead")
    import torch

    from clsm_cli.models.config import preset_config
    from clsm_cli.models.registry import build_model

    torch.manual_seed(0)
    directory = checkpoint.save_model(build_model(preset_config("clsm", "small")), folder / "random-small")
    return str(directory), "a randomly initialised small-preset CLSM (same size as the shipped model)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each command (interleaved)")
    parser.add_argument("--model", default=None, help="model name or folder (default: the shipped one)")
    parser.add_argument("--random-small", action="store_true", help="benchmark a random small-preset CLSM")
    parser.add_argument("--example", type=Path, default=DEFAULT_EXAMPLE, help="the MIDI file to edit")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        model, description = prepare_model(args.model, args.random_small, folder)
        import_torch = [sys.executable, "-c", "import torch"]
        infill = [
            sys.executable, "-m", "clsm_cli", "infill", str(args.example), "--bars", "3-4", "-n", "4",
            "--no-preview", "--seed", "1", "--out", str(folder / "out"), "--force", "--model", model,
        ]
        print(f"clsm infill {args.example.name} --bars 3-4 -n 4 --no-preview with {description}")
        print(f"cpu threads torch uses: default; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
        print(f"{args.runs} interleaved runs of each (plus one warm-up each, not counted)\n")
        commands = {
            "import torch": (import_torch, None),
            "clsm infill": (infill, None),
            "infill 1 thr": (infill, {"OMP_NUM_THREADS": "1"}),
        }
        for command, env in commands.values():
            run_measured(command, env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        peaks: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, (command, env) in commands.items():
                seconds, peak = run_measured(command, env)
                times[name].append(seconds)
                peaks[name].append(peak)

    for name in times:
        print(
            f"{name:<13} median {statistics.median(times[name]):6.2f} s   min {min(times[name]):6.2f} s   "
            f"peak RSS {max(peaks[name]):6.0f} MB"
        )
    one_thread = statistics.median(times["infill 1 thr"]) / statistics.median(times["import torch"])
    ratio = statistics.median(times["clsm infill"]) / statistics.median(times["import torch"])
    best_ratio = min(times["clsm infill"]) / min(times["import torch"])
    rss = max(peaks["clsm infill"])
    print(f"\ninfill / import torch: {ratio:.2f}x (medians), {best_ratio:.2f}x (minima); target <= {TIME_RATIO_TARGET}x")
    print(f"infill with OMP_NUM_THREADS=1 / import torch: {one_thread:.2f}x (medians)")
    print(f"infill peak RSS: {rss:.0f} MB; target < {RSS_TARGET_MB} MB")
    verdict = "meets" if ratio <= TIME_RATIO_TARGET and rss < RSS_TARGET_MB else "misses"
    print(f"{verdict} both targets" if verdict == "meets" else "misses a target")


if __name__ == "__main__":
    main()
