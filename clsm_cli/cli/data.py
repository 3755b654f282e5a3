"""``clsm data build SRC… --out DIR``: turn MIDI folders (or the built-in folk corpus) into a dataset.

The command checks its options, prints its parameters, runs
:func:`clsm_cli.data.corpus.build_dataset` under a progress bar (stderr), and ends with a table of
the splits and "processed N files (skipped X%)". It never imports torch.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from clsm_cli.cli.console import reports_errors, stderr_console, stdout_console, warn
from clsm_cli.errors import UsageError

HELP = (
    "Build a training dataset of 8-bar melody windows from MIDI files, as in the paper (section 3.1).\n\n"
    "Reads every .mid/.midi file under the SRC folders (LMD-matched works as it is), keeps 4/4 and "
    "2/2 songs and their non-drum, non-bass, monophonic tracks within MIDI pitches 55..84, cuts "
    "8-bar windows with a 1-bar stride, drops windows with more than one bar of rest, and splits "
    "songs by a stable hash into train-1 / valid-1 / train-2 / valid-2 / test (11:1:6:1:1). "
    "Training splits get every transposition in -6..+5 semitones that stays in range; valid and "
    "test keep the original key, and their windows that also occur in training are dropped.\n\n"
    "--corpus music21 uses the folk melodies bundled with music21 instead "
    "(pip install 'clsm-cli\\[corpus]'), so the shipped model can be rebuilt without downloads.\n\n"
    "Bad files are counted and listed in DIR/manifest.json, never fatal. Rebuilding from the same "
    "inputs gives identical files.\n\n"
    "[bold]Examples[/bold]\n\n"
    "  clsm data build --corpus music21 --out data/folk\n"
    "  clsm data build ~/lmd_matched --out data/lmd --workers 8\n"
    "  clsm data build midi/ --out data/mine --identity parent     (one folder per song)\n"
)

BUILD_HELP = HELP


class Identity(str, enum.Enum):
    lmd = "lmd"
    stem = "stem"
    parent = "parent"
    path = "path"


class Corpus(str, enum.Enum):
    music21 = "music21"


def register(app: typer.Typer) -> None:
    data_app = typer.Typer(
        name="data",
        help="Build training datasets (`clsm data build`).",
        no_args_is_help=True,
        rich_markup_mode="rich",
    )
    data_app.command(name="build", help=BUILD_HELP, no_args_is_help=True)(build)
    app.add_typer(data_app, name="data")


@reports_errors
def build(
    sources: Optional[List[Path]] = typer.Argument(
        None, metavar="[SRC]...", help="Folders (searched recursively) or files of MIDI songs.", show_default=False
    ),
    out: Path = typer.Option(..., "--out", "-o", help="The dataset directory to create.", show_default=False),
    corpus: Optional[Corpus] = typer.Option(
        None, "--corpus", help="Use a built-in corpus instead of SRC: music21 (its folk melodies)."
    ),
    workers: Optional[int] = typer.Option(
        None, "--workers", "-j", help="Worker processes. Default: every available core.", show_default=False
    ),
    identity: Identity = typer.Option(
        Identity.lmd,
        "--identity",
        help="What makes files one song (they share a split): lmd = the LMD TR… folder, else the "
        "file name; stem = file name; parent = folder; path = every file its own song.",
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing dataset in --out."),
) -> None:
    from clsm_cli.data import corpus as corpus_module
    from clsm_cli.data import shards

    if sources and corpus is not None:
        raise UsageError("give MIDI folders or --corpus music21, not both")
    if not sources and corpus is None:
        raise UsageError("give at least one folder of MIDI files, or --corpus music21")
    if workers is not None and workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    shards.check_output_dir(out, force)  # before the (possibly long) scan

    resolved_workers = workers or corpus_module.available_cores()
    messages = stderr_console()
    source_text = f"music21 folk corpus ({', '.join(_music21_collections())})" if corpus else ", ".join(map(str, sources))
    messages.print("[bold]clsm data build[/bold]")
    for name, value in (
        ("sources", source_text),
        ("out", str(out)),
        ("workers", str(resolved_workers)),
        ("song identity", "corpus path and tune number" if corpus else identity.value),
        ("windows", "8 bars of 16 steps, 1-bar stride, at most 1 bar of rest"),
        ("tracks", "4/4 and 2/2, no drums or bass, monophonic, pitches 55..84"),
        ("splits", "train-1 / valid-1 / train-2 / valid-2 / test = 11:1:6:1:1, by song"),
        ("transpositions", "-6..+5 semitones in range, training splits only"),
    ):
        messages.print(f"  {name:15} {value}", markup=False, highlight=False, soft_wrap=True)

    manifest = _run_with_progress(
        messages,
        lambda on_start, on_progress: corpus_module.build_dataset(
            out,
            sources or (),
            corpus=corpus.value if corpus else None,
            workers=resolved_workers,
            identity_mode=identity.value,
            force=force,
            on_start=on_start,
            on_progress=on_progress,
        ),
    )
    stdout_console().print(summary_table(manifest))
    files = manifest["files"]
    for reason, entry in sorted(files["skipped_by_reason"].items()):
        example = entry["examples"][0]
        messages.print(
            f"  skipped {entry['count']} for {reason}, e.g. {example['source']}: {example['detail']}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if "error" in files["skipped_by_reason"]:
        warn("some files failed inside clsm (reason 'error' in the manifest); this is a bug, please report it")
    skipped_percent = 100.0 * files["skipped"] / files["total"] if files["total"] else 0.0
    stdout_console().print(f"processed {files['total']:,} files (skipped {skipped_percent:.1f}%) -> {out}")


def _music21_collections() -> list[str]:
    from clsm_cli.data.music21_corpus import FOLK_COLLECTIONS

    return list(FOLK_COLLECTIONS)


def _run_with_progress(console, run):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[windows]:,} windows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("reading", total=None, windows=0)

        def on_start(total: int) -> None:
            progress.update(task, total=total)

        def on_progress(state) -> None:
            progress.update(task, completed=state.done, windows=state.windows)
            if state.done == state.total:
                progress.update(task, description="writing")

        return run(on_start, on_progress)


def summary_table(manifest: dict) -> Table:
    """Songs, files, tracks and windows per split, as the manifest records them."""
    from clsm_cli.data.splits import SPLITS

    table = Table(
        title="dataset",
        title_justify="left",
        caption="original: windows in their original key; windows: written (* with transpositions); "
        "in training: held-out windows dropped for equalling a training window",
        caption_justify="left",
    )
    for column in ("split", "songs", "files", "tracks", "original", "windows", "in training"):
        table.add_column(column, justify="left" if column == "split" else "right", no_wrap=True)
    fields = ("songs", "files", "tracks", "windows_original_key", "windows", "dropped_seen_in_training")
    totals = dict.fromkeys(fields, 0)
    for split in SPLITS:
        record = manifest["splits"][split]
        for name in fields:
            totals[name] += record.get(name, 0)
        cells = [f"{record[name]:,}" for name in fields[:-1]]
        dropped = f"{record['dropped_seen_in_training']:,}" if "dropped_seen_in_training" in record else "-"
        table.add_row(split + (" *" if record["transposed"] else ""), *cells, dropped)
    table.add_row("total", *(f"{totals[name]:,}" for name in fields), style="bold")
    return table
