"""How long an edit takes from the shell with each inference engine, against starting torch or numpy.

Runs, interleaved in one session so that every command sees the same machine load::

    python -c "import torch"
    python -c "import numpy"
    python -c "import numpy, mido, rich, typer"    (the floor of any editing command)
    clsm infill EXAMPLE --bars 3-4 -n 4            (numpy engine, the default)
    clsm infill EXAMPLE --bars 3-4 -n 4 --engine torch
    clsm infill EXAMPLE --bars 3-4 -n 16           (and with --engine torch)

(each infill with ``--no-preview --seed 1 --out TMP --force``), then one call over a batch of 40
copies of the example per engine (files/s), and prints wall time (median, minimum) and peak RSS
of each, the ratios to ``import torch`` and the issue's targets (issue 27): numpy-engine infill at
most 0.22x the ``import torch`` wall with a peak RSS of at most 100 MB, ``-n 16`` at most 0.30x.
``python -X importtime`` of a numpy-engine infill lists any torch module it imports (there must be
none).

``--baseline DIR`` adds the numpy infill rows for another checkout (``git archive COMMIT | tar -x
-C DIR``), run from DIR with the same interpreter, interleaved with the rest: before and after in
one session. ``--profile`` first prints where the time of one ``-n 4`` and one ``-n 16`` infill
goes (cProfile in one process: interpreter and imports, choosing and loading the model, the edit's
model calls, reading and writing MIDI, the report). ``--jobs-batch N`` adds one run each of a
batch of N copies with ``--jobs 1`` and ``--jobs 2`` (issue 27's target: at least 1.6x faster on
two cores).

The same rows are measured on the engine core too (``benchmarks/engine.py``: load the model, then
the prior, draws, flow and decoder calls of one infill, without MIDI or CLI): they show what the
engines cost where the CLI's own work is left out, and they are the only infill rows when this
``clsm`` has no ``--engine`` option yet (the rows say so).

Usage: ``python benchmarks/cli.py [--runs 5] [--batch 40] [--model NAME|DIR] [--example FILE]
[--baseline DIR] [--profile] [--jobs-batch 200]``.
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
INFILL_RATIO_TARGET = 0.22  # numpy-engine infill wall / import torch wall
MANY_RATIO_TARGET = 0.30  # the same with -n 16
RSS_TARGET_MB = 100
JOBS_SPEEDUP_TARGET = 1.6  # a batch with --jobs 2 against --jobs 1, on two cores


# Children write and use cached bytecode, as an installed clsm does (pip compiles it): with
# PYTHONDONTWRITEBYTECODE set, every run would compile every clsm module again (about 0.15 s).
CHILD_ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def run_measured(command: list[str], cwd: Path | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process (in ``cwd``); raises if it fails."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd, env=CHILD_ENV)
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
    result = subprocess.run(traced, capture_output=True, text=True, env=CHILD_ENV)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(traced)} failed:\n{result.stderr[-2000:]}")
    names = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")]
    return [name for name in names if name == "torch" or name.startswith("torch.")]


def cli_has_engine_option() -> bool:
    help_text = subprocess.run(
        [sys.executable, "-m", "clsm_cli", "infill", "--help"], capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}
    ).stdout
    return "--engine" in help_text


def commands(example: Path, batch: list[Path], model: list[str], out: Path, with_cli: bool,
             baseline: Path | None) -> dict[str, tuple[list[str], int, Path | None]]:
    """Name -> (command, files it edits, folder it runs in), in the order they run."""
    python = sys.executable
    table: dict[str, tuple[list[str], int, Path | None]] = {
        "import torch": ([python, "-c", "import torch"], 0, None),
        "import numpy": ([python, "-c", "import numpy"], 0, None),
        "import numpy+mido+rich+typer": ([python, "-c", "import numpy, mido, rich, typer"], 0, None),
    }
    for engine in ("numpy", "torch"):
        core = [python, str(ENGINE_SCRIPT), "--engine", engine, *model]
        table[f"core {engine} -n 4"] = (core + ["-n", "4"], 1, None)
        table[f"core {engine} -n 16"] = (core + ["-n", "16"], 1, None)
        table[f"core {engine} batch"] = (core + ["-n", "4", "--files", str(len(batch))], len(batch), None)
    options = ["--bars", "3-4", "--no-preview", "--seed", "1", "--out", str(out), "--force", *model]
    infill = [python, "-m", "clsm_cli", "infill"]
    if with_cli:
        for engine in ("numpy", "torch"):
            choice = ["--engine", engine] if engine == "torch" else []
            table[f"infill {engine} -n 4"] = (infill + [str(example), "-n", "4", *options, *choice], 1, None)
            table[f"infill {engine} -n 16"] = (infill + [str(example), "-n", "16", *options, *choice], 1, None)
            table[f"infill {engine} batch"] = (infill + [*map(str, batch), "-n", "4", *options, *choice], len(batch), None)
    if baseline is not None:  # run from the baseline's folder: python -m finds its clsm_cli first
        table["baseline numpy -n 4"] = (infill + [str(example), "-n", "4", *options], 1, baseline)
        table["baseline numpy -n 16"] = (infill + [str(example), "-n", "16", *options], 1, baseline)
    return table


PHASES = (  # where an infill's time goes: (phase, functions whose cumulative time it is)
    ("imports (all modules)", ("<frozen importlib._bootstrap>:_find_and_load",)),
    ("choose + load the models", ("model_choice.py:for_file",)),
    ("  of which loading (main thread)", ("load.py:load_engine",)),
    ("  of which the fits", ("model_choice.py:rank_by_fit",)),
    ("read + prepare the song", ("verbs.py:prepare_for_model",)),
    ("model calls (draws, decoding)", ("verbs.py:_infill_pool",)),
    ("write the outputs", ("midi_write.py:write_edited_song", "outputs.py:commit")),
    ("report (previews, summary)", ("edit.py:_report", "edit.py:_summary")),
)


def profile_infill(example: Path, model: list[str], out: Path, num: int, cwd: Path | None) -> None:
    """One infill under cProfile (in a child process), its wall time split into the phases above."""
    import pstats

    stats_file = out.parent / f"profile-{num}.pstats"
    command = [sys.executable, "-m", "cProfile", "-o", str(stats_file), "-m", "clsm_cli", "infill", str(example),
               "--bars", "3-4", "-n", str(num), "--no-preview", "--seed", "1", "--out", str(out), "--force", *model]
    run_measured(command, cwd)  # once to compile and cache, then the measured one
    seconds, _ = run_measured(command, cwd)
    stats = pstats.Stats(str(stats_file)).stats
    total = max(cumulative for (_, _, _, cumulative, _) in stats.values())

    def cumulative(names: tuple[str, ...]) -> float:
        found = 0.0
        for (filename, _, function), (_, _, _, time_in, _) in stats.items():
            where = f"{Path(filename).name}:{function}" if not filename.startswith("<") else f"{filename}:{function}"
            if where in names:
                found += time_in
        return found

    label = "baseline" if cwd is not None else "this tree"
    print(f"\nprofile of infill -n {num} ({label}): {seconds:.2f}s wall under cProfile, {total:.2f}s profiled "
          "(a phase includes the imports made inside it)")
    for phase, names in PHASES:
        print(f"  {phase:<32} {cumulative(names):6.2f}s")


def jobs_rows(example: Path, model: list[str], folder: Path, count: int) -> None:
    """One run each of a batch of ``count`` files with --jobs 1 and --jobs 2."""
    batch = folder / "jobs-batch"
    batch.mkdir(exist_ok=True)
    files = []
    for number in range(count):
        files.append(batch / f"{number:03d}-{example.name}")
        shutil.copyfile(example, files[-1])
    walls = {}
    for jobs in (1, 2):
        command = [sys.executable, "-m", "clsm_cli", "infill", *map(str, files), "--bars", "3-4", "-n", "4",
                   "--no-preview", "--seed", "1", "--out", str(folder / f"jobs-out-{jobs}"), "--force", *model,
                   "--jobs", str(jobs)]
        walls[jobs], _ = run_measured(command)
        print(f"batch of {count}, --jobs {jobs}: {walls[jobs]:.1f}s ({count / walls[jobs]:.1f} files/s)")
    speedup = walls[1] / walls[2]
    print(f"--jobs 2 speed-up: {speedup:.2f}x (target >= {JOBS_SPEEDUP_TARGET}x on two idle cores; "
          f"load average now {os.getloadavg()[0]:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each command (interleaved), after one warm-up")
    parser.add_argument("--batch", type=int, default=40, help="files in the batch rows")
    parser.add_argument("--model", default=None, help="model name or folder (default: the shipped one)")
    parser.add_argument("--example", type=Path, default=DEFAULT_EXAMPLE, help="the MIDI file to edit")
    parser.add_argument("--baseline", type=Path, default=None, help="another checkout to measure beside this one")
    parser.add_argument("--profile", action="store_true", help="first, where the time of one infill goes")
    parser.add_argument("--jobs-batch", type=int, default=0, help="also time a batch this big with --jobs 1 and 2")
    parser.add_argument("--no-core", action="store_true", help="leave out the engine-core and torch-engine rows")
    args = parser.parse_args()
    with_cli = cli_has_engine_option()
    model = [] if args.model is None else ["--model", args.model]
    example = args.example.resolve()

    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        if args.profile:
            for num in (4, 16):
                profile_infill(example, model, folder / "out", num, None)
                if args.baseline is not None:
                    profile_infill(example, model, folder / "out", num, args.baseline.resolve())
        batch = []
        for number in range(args.batch):
            batch.append(folder / "batch" / f"{number:02d}-{example.name}")
            batch[-1].parent.mkdir(exist_ok=True)
            shutil.copyfile(example, batch[-1])
        table = commands(example, batch, model, folder / "out", with_cli,
                         args.baseline.resolve() if args.baseline else None)
        if args.no_core:
            table = {name: row for name, row in table.items() if not name.startswith(("core ", "infill torch"))}
        print(f"\n{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}; {args.runs} interleaved runs after one warm-up")
        if not with_cli:
            print("note: this clsm infill has no --engine option yet: only the engine-core rows measure infills")
        for command, _, cwd in table.values():
            run_measured(command, cwd)
        times: dict[str, list[float]] = {name: [] for name in table}
        peaks: dict[str, float] = {name: 0.0 for name in table}
        for _ in range(args.runs):
            for name, (command, _, cwd) in table.items():
                seconds, peak = run_measured(command, cwd)
                times[name].append(seconds)
                peaks[name] = max(peaks[name], peak)
        numpy_row = "infill numpy -n 4" if with_cli else "core numpy -n 4"
        torch_seen = torch_modules_imported(table[numpy_row][0])

        torch_wall = statistics.median(times["import torch"])
        print(f"\n{'command':<28} {'median':>8} {'min':>8} {'/ torch':>8} {'peak RSS':>9} {'files/s':>8}")
        for name, (_, files, _) in table.items():
            median = statistics.median(times[name])
            rate = f"{files / median:8.1f}" if files > 1 else f"{'':8}"
            print(f"{name:<28} {median:7.2f}s {min(times[name]):7.2f}s {median / torch_wall:7.2f}x {peaks[name]:7.0f}MB {rate}")

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
        if args.jobs_batch:
            print()
            jobs_rows(example, model, folder, args.jobs_batch)


if __name__ == "__main__":
    main()
