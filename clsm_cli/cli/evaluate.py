"""``clsm evaluate``: the paper's comparisons (section 4) on a test split, as tables and plots.

The command checks its options, loads the LM and the models, and calls
:func:`clsm_cli.eval.harness.evaluate` (all the work is there); this module only renders: a rich
table on screen, ``results.csv``, ``results.md``, the Fig. 3b plots (``smoothness.png``,
``nll.png``) and ``run.json`` (the reproducibility record: models with their training records,
data manifest hash, seed, device, code version, wall times).

``--quality`` instead measures one CLSM's infills under one decoding against the real bars
(:func:`clsm_cli.eval.harness.evaluate_quality`): the melody statistics and pass/fail checks of the
shipped-model issue. torch is imported only inside the command.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence

import typer

from clsm_cli import __version__
from clsm_cli.cli.console import escape_markup, reports_errors, stderr_console, stdout_console
from clsm_cli.errors import OutputError, UsageError

HELP = """\
Reproduce the paper's evaluation of CLSM against VAE, ARNN, ARNN_T and the
data.

It measures interpolation smoothness R(J), the LM NLL of generated samples and
the left-contextual reconstruction accuracy.

MODELS are installed model names or model folders (CLSM, VAE, ARNN or ARNN_T;
several CLSMs of a beta sweep are fine). Give them after the options or with
--models; name their rows with --names a,b,c. --lm is the language model that
scores every sample (clsm train lm).

N test windows (--windows, default 1000) are drawn with --seed, each with a
target position drawn like the training targets; every figure is reported for
"left context only" (the target ends the window) and "otherwise". Copy (the
bars before the target pasted in) and Random (random pitches on the real
rhythm) are reference rows beside Data.

Writes into --out: results.csv, results.md, smoothness.png and nll.png (like
the paper's Fig. 3b; needs matplotlib: pip install 'clsm-cli\\[eval]') and
run.json (what to rerun it exactly).

--quality measures one CLSM's infills (--candidates per window, decoded with
--temperature / --top-p, default: the model's recommended decoding) against
the real bars: repeated notes, distinct pitches, range, onsets, steps, jumps
at the boundaries, well-formedness, how much the infills of one call differ,
and reconstruction from the posterior mean vs the prior mean.

[bold]Examples[/bold]

  clsm evaluate --data data/folk --lm folk-lm --out results/ --models folk-clsm folk-vae folk-arnn folk-arnn-t
  clsm evaluate folk-clsm-b0.004 folk-clsm-b0.012 --data data/folk --lm folk-lm --out results/beta --windows 200
  clsm evaluate --quality --data data/folk --models folk-clsm --lm folk-lm --temperature 0.8
"""

RESULTS_CSV, RESULTS_MD, RUN_JSON = "results.csv", "results.md", "run.json"
QUALITY_MD, QUALITY_JSON = "quality.md", "quality.json"


def register(app: typer.Typer) -> None:
    app.command(name="evaluate", help=HELP)(evaluate)


@reports_errors
def evaluate(
    model_arguments: Optional[List[str]] = typer.Argument(
        None, metavar="MODELS", help="Models to evaluate: installed names or model folders.", show_default=False
    ),
    data: Path = typer.Option(..., "--data", help="Dataset folder built by `clsm data build`."),
    lm: Optional[str] = typer.Option(None, "--lm", help="Language model that scores samples (clsm train lm)."),
    model_options: Optional[List[str]] = typer.Option(
        None, "--models", "-m", help="Models to evaluate (alternative to MODELS; repeat or list after it).",
        show_default=False,
    ),
    names: Optional[List[str]] = typer.Option(
        None, "--names", help="Row names for the models, comma-separated, in order.", show_default=False
    ),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for results.csv, results.md, plots, run.json."),
    windows: int = typer.Option(1000, "--windows", min=1, help="Test windows to draw."),
    seed: int = typer.Option(0, "--seed", help="Seed for windows, target positions and sampling."),
    split: str = typer.Option("test", "--split", help="Dataset split to evaluate on."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    batch_size: int = typer.Option(512, "--batch-size", min=1, help="Sequences per forward pass."),
    threads: Optional[int] = typer.Option(
        None, "--threads", min=1, help="CPU threads for torch (default: torch's choice; 1 is fastest on a busy machine)."
    ),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write the Fig. 3b PNGs (needs matplotlib)."),
    force: bool = typer.Option(False, "--force", help="Replace results already in --out."),
    quality: bool = typer.Option(False, "--quality", help="Melody-quality check of one CLSM instead."),
    temperature: Optional[float] = typer.Option(None, "--temperature", help="--quality: decoding temperature (0 = argmax)."),
    top_p: Optional[float] = typer.Option(None, "--top-p", help="--quality: nucleus mass kept when sampling."),
    candidates: int = typer.Option(4, "--candidates", min=1, help="--quality: infills per window."),
) -> None:
    sources = model_sources(model_options or [], model_arguments or [])
    row_names = parse_names(names or [], len(sources))
    if quality:
        _run_quality(sources, row_names, data, lm, out, windows, seed, split, device, batch_size, threads,
                     force, temperature, top_p, candidates)
        return
    if not sources:
        raise UsageError("name at least one model to evaluate, e.g. clsm evaluate --models folk-clsm --data DIR --lm LM --out DIR")
    if lm is None:
        raise UsageError("--lm is needed to score the samples; train one with `clsm train lm --data DIR --out NAME`")
    if out is None:
        raise UsageError("--out is needed: the folder that receives results.csv, results.md, plots and run.json")
    check_output_dir(out, (RESULTS_CSV, RESULTS_MD, RUN_JSON), force)
    if plots:
        from clsm_cli.eval.plots import require_matplotlib

        require_matplotlib()  # a missing matplotlib is reported before any work

    from clsm_cli.data.shards import open_split, read_manifest
    from clsm_cli.eval import harness

    window_set = open_split(data, split)
    manifest = read_manifest(data)
    torch_device = _setup_torch(device, threads)
    lm_model, lm_record = harness.load_lm(lm, torch_device)
    members = [harness.load_eval_model(source, torch_device, name) for source, name in zip(sources, row_names)]
    names_seen = [member.name for member in members]
    if len(set(names_seen)) != len(names_seen):
        raise UsageError(f"two models would get the same row name ({', '.join(names_seen)}); give --names a,b,...")

    started = time.perf_counter()
    plan = harness.plan_evaluation(window_set, windows, seed)
    if len(plan) < windows:
        stderr_console().print(f"note: the {split} split holds {len(plan)} windows; using all of them", soft_wrap=True)
    with _progress_bars() as progress:
        result = harness.evaluate(members, lm_model, plan, batch_size=batch_size, progress=progress)
    wall_seconds = time.perf_counter() - started

    out.mkdir(parents=True, exist_ok=True)
    record = run_record(
        command=_command_line(sources, row_names, data, lm, out, windows, seed, split, device, batch_size),
        data=data, split=split, manifest=manifest, plan_windows=len(plan), requested_windows=windows,
        seed=seed, device=str(torch_device), batch_size=batch_size,
        models=[{"name": m.name, "family": m.family, **m.metadata} for m in members],
        lm=lm_record, seconds={**result.seconds, "total": wall_seconds},
    )
    header = _header_lines(record)
    write_atomically(out / RESULTS_CSV, results_csv(result.rows))
    write_atomically(out / RESULTS_MD, results_markdown(result.rows, header))
    write_atomically(out / RUN_JSON, json.dumps(record, indent=2, default=str) + "\n")
    written = [out / RESULTS_CSV, out / RESULTS_MD, out / RUN_JSON]
    if plots:
        from clsm_cli.eval.plots import write_plots

        written += write_plots(result.rows, out, title=f"{len(plan)} {split} windows, seed {seed}")
    stdout_console().print(results_table(result.rows))
    stderr_console().print(
        f"evaluated {len(members)} model(s) on {len(plan)} windows in {wall_seconds:.0f} s; wrote "
        + ", ".join(escape_markup(str(path)) for path in written),
        soft_wrap=True,
    )


# --- option parsing ---------------------------------------------------------------------------------


def model_sources(from_options: Sequence[str], from_arguments: Sequence[str]) -> list[str]:
    """Models in command-line order.

    ``--models A B C`` reaches us as the option value A plus the arguments B C, so the option's
    values come first. Repeating --models and also listing bare arguments would lose the order,
    so that mix is refused.
    """
    if len(from_options) > 1 and from_arguments:
        raise UsageError("give the models either as --models M1 M2 ... or as repeated --models M, not both")
    return [*from_options, *from_arguments]


def parse_names(values: Sequence[str], count: int) -> list[Optional[str]]:
    """Row names from ``--names a,b --names c``; None each when no names were given."""
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    if not names:
        return [None] * count
    if len(names) != count:
        raise UsageError(
            f"--names gave {len(names)} name(s) for {count} model(s); give one per model, separated by commas: --names a,b,c"
        )
    if len(set(names)) != len(names):
        raise UsageError(f"--names must be unique, got {', '.join(names)}")
    return names


def check_output_dir(out: Path, files: Sequence[str], force: bool) -> None:
    """Refuse to replace earlier results without --force (before any work is done)."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file, not a folder; choose another --out")
    existing = [name for name in files if (out / name).exists()]
    if existing and not force:
        raise OutputError(f"{out} already holds {', '.join(existing)}; pass --force to replace them")


def _setup_torch(device: str, threads: Optional[int]):
    import torch

    from clsm_cli.engine.torch_engine import torch_device

    if threads is not None:
        torch.set_num_threads(threads)
    return torch.device(torch_device(device))


# --- outputs ----------------------------------------------------------------------------------------


def write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None


def _number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def results_csv(rows: Sequence) -> str:
    """Every column of every row; empty cells where a figure does not apply."""
    from clsm_cli.eval.harness import RESULT_COLUMNS

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(RESULT_COLUMNS)
    for row in rows:
        values = asdict(row)
        writer.writerow(
            ["" if values[c] is None else (f"{values[c]:.6g}" if isinstance(values[c], float) else values[c])
             for c in RESULT_COLUMNS]
        )
    return buffer.getvalue()


MAIN_COLUMNS = (
    ("model", "model"), ("family", "family"), ("case", "case"), ("windows", "windows"), ("samples", "samples"),
    ("R(2)", "r2"), ("R(4)", "r4"), ("R(8)", "r8"), ("R(8) cases", "r8_cases"),
    ("NLL window", "nll_window"), ("NLL target", "nll_target"),
    ("recon (left-ctx)", "recon_left_contextual"), ("recon (case τ)", "recon_case"),
)
MELODY_COLUMNS = (
    ("model", "model"), ("case", "case"), ("repeated", "repeated_note_share"), ("distinct", "distinct_pitches"),
    ("range", "pitch_range_semitones"), ("onsets/bar", "onsets_per_bar"), ("1-2 st steps", "step_share"),
    ("jump in", "jump_in_semitones"), ("jump out", "jump_out_semitones"), ("well-formed", "well_formed_share"),
    ("pairwise", "pairwise_edit_ratio"),
)


def _markdown_table(rows: Sequence, columns) -> list[str]:
    lines = ["| " + " | ".join(title for title, _ in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(
            value if isinstance(value := getattr(row, attribute), str) else _number(value)
            for _, attribute in columns
        ) + " |")
    return lines


def results_markdown(rows: Sequence, header: Sequence[str]) -> str:
    lines = ["# clsm evaluate: results", "", *header, "", "## The paper's measures", ""]
    lines += _markdown_table(rows, MAIN_COLUMNS)
    lines += [
        "",
        "- R(J): interpolation edit-distance ratio (eq. 12) averaged over the series it does not exclude"
        " (R(8) cases says how many); lower is smoother. The J = 4 and J = 2 series are every 2nd and 4th"
        " point of the J = 8 series (same endpoints).",
        "- NLL: nats per token under the LM, of whole windows x_CL ⊕ x̃_T ⊕ x_CR (the paper's figure) and of"
        " the target positions only; CLSM and VAE samples are the 9 points of each J = 8 series, ARNN samples"
        " are 2 draws at temperature 1.0.",
        "- recon (left-ctx): posterior mean decoded by argmax, token accuracy on targets that end the window"
        " (one number per model, the x-axis of the paper's Fig. 3b); recon (case τ): the same on the drawn"
        " targets of that case.",
        "",
        "## Melody statistics of the samples",
        "",
    ]
    lines += _markdown_table(rows, MELODY_COLUMNS)
    lines += [
        "",
        "Repeated: share of consecutive note pairs on one pitch; distinct / range: pitches and semitone span"
        " per target; 1-2 st steps: share of intervals of 1 or 2 semitones; jumps: semitones from the last note"
        " before the target to its first, and from its last to the first after; pairwise: edit distance"
        " between two independent samples of a window over the target length (for CLSM and VAE the two"
        " interpolation endpoints).",
        "",
    ]
    return "\n".join(lines)


SCREEN_COLUMNS = (
    ("model", "model"), ("case", "case"), ("R(2)", "r2"), ("R(4)", "r4"), ("R(8)", "r8"),
    ("NLL win", "nll_window"), ("NLL tgt", "nll_target"), ("recon", "recon_left_contextual"),
)
SCREEN_CASE_NAMES = {"left context only": "left only", "otherwise": "other"}


def results_table(rows: Sequence):
    """The main figures, narrow enough for an 80-column terminal (everything is in the files)."""
    from rich.table import Table

    table = Table(title="clsm evaluate", caption="recon: left-contextual reconstruction accuracy; NLL in nats/token")
    for title, _ in SCREEN_COLUMNS:
        if title == "model":
            table.add_column(title, overflow="fold")
        else:
            table.add_column(title, justify="left" if title == "case" else "right", no_wrap=True)
    for row in rows:
        table.add_row(escape_markup(row.model), SCREEN_CASE_NAMES.get(row.case, row.case),
                      *[_number(getattr(row, attribute)) for _, attribute in SCREEN_COLUMNS[2:]])
    return table


def _progress_bars():
    """A rich progress display on stderr that the harness drives through ``task(...)``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    class _Reporter:
        def __init__(self):
            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                TimeRemainingColumn(), console=stderr_console(),
            )

        def task(self, description: str, total: int) -> Callable[[int], None]:
            task_id = self.progress.add_task(escape_markup(description), total=total)
            return lambda count: self.progress.advance(task_id, count)

        def __enter__(self):
            self.progress.__enter__()
            return self

        def __exit__(self, *exc):
            return self.progress.__exit__(*exc)

    return _Reporter()


# --- the reproducibility record ---------------------------------------------------------------------


def _file_sha256(path: Path) -> Optional[str]:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def code_version() -> dict:
    """clsm's version and, in a git checkout, the commit and whether the tree had local changes."""
    version = {"clsm": __version__, "git_commit": None, "git_dirty": None}
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return version
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return version
    if commit.returncode == 0:
        version["git_commit"] = commit.stdout.strip()
        version["git_dirty"] = bool(status.stdout.strip()) if status.returncode == 0 else None
    return version


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
            "split_windows": (manifest.get("splits", {}).get(split) or {}).get("windows"),
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


def _header_lines(record: dict) -> list[str]:
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


def _command_line(sources, names, data, lm, out, windows, seed, split, device, batch_size, extra: str = "") -> str:
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


# --- --quality --------------------------------------------------------------------------------------


def _run_quality(sources, row_names, data, lm, out, windows, seed, split, device, batch_size, threads, force,
                 temperature, top_p, candidates) -> None:
    if len(sources) != 1:
        raise UsageError(f"--quality checks one CLSM model at a time, got {len(sources)} models")
    if out is not None:
        check_output_dir(out, (QUALITY_MD, QUALITY_JSON), force)
    from clsm_cli.data.shards import open_split, read_manifest
    from clsm_cli.eval import harness

    window_set = open_split(data, split)
    manifest = read_manifest(data)
    torch_device = _setup_torch(device, threads)
    member = harness.load_eval_model(sources[0], torch_device, row_names[0])
    lm_model, lm_record = harness.load_lm(lm, torch_device) if lm else (None, None)
    started = time.perf_counter()
    plan = harness.plan_evaluation(window_set, windows, seed)
    with _progress_bars() as progress:
        result = harness.evaluate_quality(
            member, plan, lm=lm_model, candidates=candidates, temperature=temperature, top_p=top_p,
            batch_size=batch_size, progress=progress,
        )
    wall_seconds = time.perf_counter() - started
    stdout_console().print(quality_table(result))
    for line in quality_summary_lines(result):
        stdout_console().print(escape_markup(line), soft_wrap=True)
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    decoding = f" --temperature {result.temperature:g} --top-p {result.top_p:g} --candidates {candidates}"
    record = run_record(
        command=_command_line(sources, row_names, data, lm, out, windows, seed, split, device, batch_size,
                              " --quality" + decoding),
        data=data, split=split, manifest=manifest, plan_windows=len(plan), requested_windows=windows, seed=seed,
        device=str(torch_device), batch_size=batch_size,
        models=[{"name": member.name, "family": member.family, **member.metadata}], lm=lm_record,
        seconds={"total": wall_seconds}, extra={"quality": quality_as_dict(result)},
    )
    write_atomically(out / QUALITY_JSON, json.dumps(record, indent=2, default=str) + "\n")
    write_atomically(out / QUALITY_MD, quality_markdown(result, _header_lines(record)))
    stderr_console().print(f"wrote {escape_markup(str(out / QUALITY_MD))} and {escape_markup(str(out / QUALITY_JSON))}",
                           soft_wrap=True)


def quality_as_dict(result) -> dict:
    from clsm_cli.eval.melody_stats import stats_as_dict

    return {
        "model": result.model, "temperature": result.temperature, "top_p": result.top_p,
        "candidates": result.candidates, "windows": result.windows,
        "generated": stats_as_dict(result.generated), "real": stats_as_dict(result.real),
        "posterior_accuracy": result.posterior_accuracy, "prior_accuracy": result.prior_accuracy,
        "nll": {name: {"window": totals.window_per_token, "target": totals.target_per_token, "samples": totals.samples}
                for name, totals in result.nll.items()},
        "checks": [asdict(check) for check in result.checks],
        "passed": all(check.passed for check in result.checks),
        "seconds": result.seconds,
    }


def _verdict(passed: Optional[bool]) -> str:
    return {True: "pass", False: "FAIL", None: "n/a"}[passed]


def quality_table(result):
    from rich.table import Table

    table = Table(title=f"{escape_markup(result.model)}: T={result.temperature:g}, top-p={result.top_p:g}, "
                        f"{result.candidates} infills x {result.windows} windows")
    for title in ("measure", "generated", "real / bound", "requirement", ""):
        table.add_column(title, justify="left" if title in ("measure", "requirement") else "right")
    for check in result.checks:
        colour = {"pass": "green", "FAIL": "red", "n/a": "yellow"}[_verdict(check.passed)]
        table.add_row(check.name, _number(check.generated), _number(check.reference), check.requirement,
                      f"[{colour}]{_verdict(check.passed)}[/{colour}]")
    return table


def quality_summary_lines(result) -> list[str]:
    lines = []
    if result.nll:
        nll = ", ".join(f"{name} {_number(totals.window_per_token)} ({_number(totals.target_per_token)} target)"
                        for name, totals in result.nll.items())
        lines.append(f"LM NLL per token, whole window (target only): {nll}")
    passed = sum(1 for check in result.checks if check.passed)
    lines.append(f"{passed} of {len(result.checks)} checks pass ({result.seconds:.0f} s)")
    return lines


def quality_markdown(result, header: Sequence[str]) -> str:
    lines = [f"# Melody quality of {result.model}", "", *header, "",
             f"Decoding: temperature {result.temperature:g}, top-p {result.top_p:g}; {result.candidates} infills"
             f" per window from independent prior samples; {result.windows} windows.", "",
             "| measure | generated | real / bound | requirement | verdict |", "|---|---|---|---|---|"]
    for check in result.checks:
        lines.append(f"| {check.name} | {_number(check.generated)} | {_number(check.reference)} | "
                     f"{check.requirement} | {_verdict(check.passed)} |")
    if result.nll:
        lines += ["", "| samples | NLL window | NLL target | count |", "|---|---|---|---|"]
        for name, totals in result.nll.items():
            lines.append(f"| {name} | {_number(totals.window_per_token)} | {_number(totals.target_per_token)} | {totals.samples} |")
    lines += ["", *quality_summary_lines(result), ""]
    return "\n".join(lines)
