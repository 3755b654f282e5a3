"""``clsm evaluate``: the paper's comparisons (section 4) on a test split, as tables and plots.

The command checks its options, loads the LM and the models, calls the evaluation library
(``clsm_cli.eval``: ``harness.evaluate`` or ``quality.evaluate_quality``) under progress bars, has
``eval.report`` and ``eval.run_record`` write its files, and draws the tables on screen. torch is
imported only inside the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence

import typer

from clsm_cli.cli.console import escape_markup, reports_errors, stderr_console, stdout_console
from clsm_cli.errors import UsageError

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
    from clsm_cli.engine.load import require_torch

    require_torch("clsm evaluate")  # exit 4 in one sentence before anything imports torch
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
    import time

    from clsm_cli.cli.progress import RichProgress
    from clsm_cli.eval import harness, report
    from clsm_cli.eval import run_record as records

    records.check_output_dir(out, (records.RESULTS_CSV, records.RESULTS_MD, records.RUN_JSON), force)
    if plots:
        from clsm_cli.eval.plots import require_matplotlib

        require_matplotlib()  # a missing matplotlib is reported before any work
    window_set, manifest = _open_data(data, split)
    torch_device = _setup_torch(device, threads)
    lm_model, lm_record = harness.load_lm(lm, torch_device)
    members = [harness.load_eval_model(source, torch_device, name) for source, name in zip(sources, row_names)]
    harness.check_grids(_data_grid(manifest), lm_model, members)
    names_seen = [member.name for member in members]
    if len(set(names_seen)) != len(names_seen):
        raise UsageError(f"two models would get the same row name ({', '.join(names_seen)}); give --names a,b,...")

    started = time.perf_counter()
    plan = harness.plan_evaluation(window_set, windows, seed)
    if len(plan) < windows:
        stderr_console().print(f"note: the {split} split holds {len(plan)} windows; using all of them", soft_wrap=True)
    with RichProgress() as progress:
        result = harness.evaluate(members, lm_model, plan, batch_size=batch_size, progress=progress)
    wall_seconds = time.perf_counter() - started

    record = records.run_record(
        command=records.command_line(sources, row_names, data, lm, out, windows, seed, split, device, batch_size),
        data=data, split=split, manifest=manifest, plan_windows=len(plan), requested_windows=windows,
        seed=seed, device=str(torch_device), batch_size=batch_size,
        models=[{"name": m.name, "family": m.family, **m.metadata} for m in members],
        lm=lm_record, seconds={**result.seconds, "total": wall_seconds},
    )
    written = records.write_outputs(out, {
        records.RESULTS_CSV: report.results_csv(result.rows),
        records.RESULTS_MD: report.results_markdown(result.rows, records.header_lines(record)),
        records.RUN_JSON: records.record_json(record),
    })
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


def _open_data(data: Path, split: str):
    from clsm_cli.data.shards import open_split, read_manifest

    return open_split(data, split), read_manifest(data)


def _data_grid(manifest: dict):
    from clsm_cli.data.shards import manifest_grid

    return manifest_grid(manifest)


def _setup_torch(device: str, threads: Optional[int]):
    import torch

    from clsm_cli.device import choose_device

    if threads is not None:
        torch.set_num_threads(threads)
    return torch.device(choose_device(device))


# --- on screen --------------------------------------------------------------------------------------


SCREEN_COLUMNS = (
    ("model", "model"), ("case", "case"), ("R(2)", "r2"), ("R(4)", "r4"), ("R(8)", "r8"),
    ("NLL win", "nll_window"), ("NLL tgt", "nll_target"), ("recon", "recon_left_contextual"),
)
SCREEN_CASE_NAMES = {"left context only": "left only", "otherwise": "other"}


def results_table(rows: Sequence):
    """The main figures, narrow enough for an 80-column terminal (everything is in the files)."""
    from rich.table import Table

    from clsm_cli.eval.report import number_text

    table = Table(title="clsm evaluate", caption="recon: left-contextual reconstruction accuracy; NLL in nats/token")
    for title, _ in SCREEN_COLUMNS:
        if title == "model":
            table.add_column(title, overflow="fold")
        else:
            table.add_column(title, justify="left" if title == "case" else "right", no_wrap=True)
    for row in rows:
        table.add_row(escape_markup(row.model), SCREEN_CASE_NAMES.get(row.case, row.case),
                      *[number_text(getattr(row, attribute)) for _, attribute in SCREEN_COLUMNS[2:]])
    return table


def quality_table(result):
    from rich.table import Table

    from clsm_cli.eval.report import number_text, verdict_text

    table = Table(title=f"{escape_markup(result.model)}: T={result.temperature:g}, top-p={result.top_p:g}, "
                        f"{result.candidates} infills x {result.windows} windows")
    for title in ("measure", "generated", "real / bound", "requirement", ""):
        table.add_column(title, justify="left" if title in ("measure", "requirement") else "right")
    for check in result.checks:
        colour = {"pass": "green", "FAIL": "red", "n/a": "yellow"}[verdict_text(check.passed)]
        table.add_row(check.name, number_text(check.generated), number_text(check.reference), check.requirement,
                      f"[{colour}]{verdict_text(check.passed)}[/{colour}]")
    return table


# --- --quality --------------------------------------------------------------------------------------


def _run_quality(sources, row_names, data, lm, out, windows, seed, split, device, batch_size, threads, force,
                 temperature, top_p, candidates) -> None:
    import time

    from clsm_cli.cli.progress import RichProgress
    from clsm_cli.eval import harness, report
    from clsm_cli.eval import run_record as records

    if len(sources) != 1:
        raise UsageError(f"--quality checks one CLSM model at a time, got {len(sources)} models")
    if out is not None:
        records.check_output_dir(out, (records.QUALITY_MD, records.QUALITY_JSON), force)
    window_set, manifest = _open_data(data, split)
    torch_device = _setup_torch(device, threads)
    member = harness.load_eval_model(sources[0], torch_device, row_names[0])
    lm_model, lm_record = harness.load_lm(lm, torch_device) if lm else (None, None)
    harness.check_grids(_data_grid(manifest), lm_model, [member])
    started = time.perf_counter()
    plan = harness.plan_evaluation(window_set, windows, seed)
    with RichProgress() as progress:
        result = harness.evaluate_quality(
            member, plan, lm=lm_model, candidates=candidates, temperature=temperature, top_p=top_p,
            batch_size=batch_size, progress=progress,
        )
    wall_seconds = time.perf_counter() - started
    stdout_console().print(quality_table(result))
    for line in report.quality_summary_lines(result):
        stdout_console().print(escape_markup(line), soft_wrap=True)
    if out is None:
        return
    decoding = f" --temperature {result.temperature:g} --top-p {result.top_p:g} --candidates {candidates}"
    record = records.run_record(
        command=records.command_line(sources, row_names, data, lm, out, windows, seed, split, device, batch_size,
                                     " --quality" + decoding),
        data=data, split=split, manifest=manifest, plan_windows=len(plan), requested_windows=windows, seed=seed,
        device=str(torch_device), batch_size=batch_size,
        models=[{"name": member.name, "family": member.family, **member.metadata}], lm=lm_record,
        seconds={"total": wall_seconds}, extra={"quality": report.quality_as_dict(result)},
    )
    records.write_outputs(out, {
        records.QUALITY_JSON: records.record_json(record),
        records.QUALITY_MD: report.quality_markdown(result, records.header_lines(record)),
    })
    stderr_console().print(
        f"wrote {escape_markup(str(out / records.QUALITY_MD))} and {escape_markup(str(out / records.QUALITY_JSON))}",
        soft_wrap=True,
    )
