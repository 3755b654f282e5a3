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
    "Reads every .mid/.midi file under the SRC folders (LMD-matched works as it is), keeps the "
    "non-drum, non-bass, monophonic tracks within MIDI pitches 55..84 of songs in every meter (or "
    "those of --meters), cuts 8-bar windows with a 1-bar stride inside each meter (128 steps in 4/4 "
    "and 2/2, 96 in 3/4 and 6/8, 64 in 2/4: a 16th note a step), drops windows with more than one "
    "bar of rest, and splits each meter group's songs by a stable hash into train-1 / valid-1 / "
    "train-2 / valid-2 / test (11:1:6:1:1); in a small folder songs are moved so that every split "
    "holds one (the summary says so). 4/4 and 2/2 are one group; each other meter its own folder. "
    "Training splits get every transposition in -6..+5 semitones that stays in range; valid and "
    "test keep the original key, and their windows that also occur in training are dropped.\n\n"
    "--corpus music21 uses the folk melodies bundled with music21 "
    "(pip install 'clsm-cli\\[corpus]'), so the shipped model can be rebuilt without downloads; "
    "--corpus cre DIR reads the CRÉ Irish tunes (abc2midi's one-tick offset removed, pickups padded); "
    "--corpus pop909 DIR reads POP909's MELODY tracks on their annotated beats and downbeats, with "
    "chords and keys kept in sources.json. Folders and corpora combine in one build; a melody read "
    "twice (the same tune in two corpora, in any key) is kept once. --test-songs FILE puts the songs "
    "it names in the test split whatever their hash.\n\n"
    "Bad files are counted and listed in DIR/manifest.json, never fatal. Rebuilding from the same "
    "inputs gives identical files.\n\n"
    "[bold]Examples[/bold]\n\n"
    "  clsm data build --corpus music21 --out data/folk\n"
    "  clsm data build --corpus music21 --meters 3/4,6/8,2/4 --out data/folk-meters\n"
    "  clsm data build ~/lmd_matched --out data/lmd --workers 8\n"
    "  clsm data build --corpus music21 --corpus cre /tmp/cre --test-songs data/test_songs/cre.txt --out data/folk\n"
    "  clsm data build --corpus pop909 /tmp/POP909-Dataset --test-songs data/test_songs/pop909.txt --out data/pop\n"
    "  clsm data build midi/ --out data/mine --identity parent     (one folder per song)\n"
)

BUILD_HELP = HELP


class GridChoice(str, enum.Enum):
    sixteenth = "16th"
    triplet = "triplet"


class Identity(str, enum.Enum):
    lmd = "lmd"
    stem = "stem"
    parent = "parent"
    path = "path"


CORPUS_HELP = (
    "A built-in corpus, repeatable: music21 (its folk melodies), cre DIR (the CRÉ tunes, "
    "cre_corpus/MIDI), pop909 DIR (a POP909-Dataset checkout). Also written cre=DIR."
)


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
    corpus: Optional[List[str]] = typer.Option(None, "--corpus", metavar="NAME [DIR]", help=CORPUS_HELP),
    test_songs: Optional[List[Path]] = typer.Option(
        None, "--test-songs", metavar="FILE",
        help="A file of song identities (one a line, # comments) that always go to the test split. Repeatable.",
        show_default=False,
    ),
    meters: Optional[str] = typer.Option(
        None,
        "--meters",
        help="Keep only these meters, e.g. 3/4,6/8 (a meter keeps its group: 4/4 keeps 2/2). Default: every meter.",
        show_default=False,
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
    grid: GridChoice = typer.Option(
        GridChoice.sixteenth, "--grid",
        help="Token grid: 16th (the paper's: a 16th note a step) or triplet (a quarter is four 16ths or a "
        "triplet marker and three triplets; x/4 and 2/2 only).",
    ),
) -> None:
    from clsm_cli.data import corpus as corpus_module
    from clsm_cli.data import shards
    from clsm_cli.data.music21_corpus import FOLK_COLLECTIONS

    corpora, sources = pair_corpus_folders(corpus or [], list(sources or []))
    if not sources and not corpora:
        raise UsageError("give at least one folder of MIDI files, or a --corpus (music21, cre DIR, pop909 DIR)")
    named_test_songs = corpus_module.read_test_songs(test_songs or [])
    if workers is not None and workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    meter_groups = corpus_module.parse_meter_groups(None if meters is None else [meters])
    shards.check_output_dir(out, force)  # before the (possibly long) scan

    resolved_workers = workers or corpus_module.available_cores()
    messages = stderr_console()
    source_text = "; ".join(
        [f"music21 folk corpus ({', '.join(FOLK_COLLECTIONS)})" if name == "music21" else f"{name} {root}"
         for name, root in corpora] + ([", ".join(map(str, sources))] if sources else [])
    )
    meters_line = "every meter" if meter_groups is None else ", ".join(map(str, meter_groups))
    messages.print("[bold]clsm data build[/bold]")
    for name, value in (
        ("sources", source_text),
        ("out", str(out)),
        ("workers", str(resolved_workers)),
        ("song identity", identity_text(corpora, identity.value if sources else None)),
        ("test songs", f"{len(named_test_songs)} named, always in the test split" if named_test_songs else "by hash only"),
        ("duplicates", "a melody already read (transposition-invariant digest) is dropped"),
        ("meters", f"{meters_line} (4/4 and 2/2 are one group)"),
        ("windows", "8 bars inside one meter, a 16th a step (4/4: 128), 1-bar stride, at most 1 bar of rest"),
        ("grid", "16th notes" if grid is GridChoice.sixteenth
         else "16th notes or a triplet marker and 3 triplets a quarter (x/4 and 2/2 meters only)"),
        ("tracks", "no drums or bass, monophonic, pitches 55..84"),
        ("splits", "train-1 / valid-1 / train-2 / valid-2 / test = 11:1:6:1:1, by song, per meter group"),
        ("transpositions", "-6..+5 semitones in range, training splits only"),
    ):
        messages.print(f"  {name:15} {value}", markup=False, highlight=False, soft_wrap=True)

    manifest = _run_with_progress(
        messages,
        lambda on_start, on_progress: corpus_module.build_dataset(
            out,
            sources,
            corpora=corpora,
            test_songs=named_test_songs,
            meters=meter_groups,
            workers=resolved_workers,
            identity_mode=identity.value,
            force=force,
            grid=grid.value,
            on_start=on_start,
            on_progress=on_progress,
        ),
    )
    for group, record in manifest["meter_groups"].items():
        stdout_console().print(summary_table(group, record))
        for note in split_notes(record):
            messages.print(f"  {group}: {note}", markup=False, highlight=False, soft_wrap=True)
    if not manifest["meter_groups"]:
        warn("no song gave a window: the dataset holds nothing to train on")
    for pair, count in manifest.get("duplicates_dropped", {}).items():
        messages.print(f"  dropped {count:,} duplicates ({pair})", markup=False, highlight=False)
    if manifest["test_songs"]["not_found"]:
        missing = manifest["test_songs"]["not_found"]
        warn(f"{len(missing)} --test-songs names match no song read, e.g. {', '.join(missing[:3])}")
    if manifest["windows_dropped_at_meter_change"]:
        messages.print(
            f"  dropped {manifest['windows_dropped_at_meter_change']:,} windows that cross a meter change",
            markup=False,
            highlight=False,
        )
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


_CORPORA_WITH_FOLDER = ("cre", "pop909")


def pair_corpus_folders(corpus_args: List[str], sources: List[Path]) -> tuple[list, list[Path]]:
    """``--corpus`` values as (name, DIR) pairs, and the SRC folders left for plain MIDI.

    ``--corpus cre DIR`` leaves DIR among the positional SRC arguments (an option takes one
    value), so each corpus needing a folder takes the first SRC that looks like one of its
    checkouts (POP909: ``POP909/NNN/NNN.mid``; CRÉ: a ``cre_corpus`` path), else the last SRC
    not taken. ``--corpus cre=DIR`` names the folder outright.
    """
    from clsm_cli.data.corpus import CORPORA

    pairs, waiting = [], []
    for value in corpus_args:
        name, _, folder = value.replace(":", "=", 1).partition("=") if ("=" in value or ":" in value) else (value, "", "")
        if name not in CORPORA:
            raise UsageError(f"--corpus must be one of {', '.join(CORPORA)}, got {name!r}")
        if folder or name not in _CORPORA_WITH_FOLDER:
            pairs.append((name, Path(folder) if folder else None))
        else:
            pairs.append((name, None))
            waiting.append(len(pairs) - 1)
    left = list(sources)
    for index in waiting:
        name = pairs[index][0]
        if not left:
            raise UsageError(f"--corpus {name} needs its folder: --corpus {name} DIR")
        chosen = next((path for path in left if _looks_like(name, path)), left[-1])
        left.remove(chosen)
        pairs[index] = (name, chosen)
    return pairs, left


def _looks_like(corpus: str, path: Path) -> bool:
    if corpus == "pop909":
        base = path / "POP909" if (path / "POP909").is_dir() else path
        return base.is_dir() and any((folder / f"{folder.name}.mid").is_file() for folder in base.glob("[0-9]*"))
    return "cre_corpus" in path.resolve().parts or (path / "cre_corpus").is_dir() or (path / "MIDI").is_dir()


def identity_text(corpora: list, midi_identity: Optional[str]) -> str:
    names = {"music21": "music21: corpus path and tune number", "cre": "cre: the tune's title (file stem)",
             "pop909": "pop909: the song number NNN"}
    parts = [names[name] for name, _ in corpora] + ([f"folders: {midi_identity}"] if midi_identity else [])
    return "; ".join(parts)


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


def split_notes(record: dict) -> list[str]:
    """What a small meter group's splits needed, for the summary: moves, loans, what stays empty."""
    notes = list(record.get("split_adjustments", []))
    if not notes:
        return []
    splits = record["splits"]
    if all(splits[split]["songs"] for split in splits):
        notes.append("every split holds a song, so each model kind can train and validate")
    elif splits["valid-1"]["songs"]:
        notes.append("train-1 and valid-1 hold a song each: clsm, vae, arnn and arnn-t can train, lm cannot")
    else:
        notes.append("only train-1 holds a song: training will run without validation")
    return notes


def summary_table(group: str, record: dict) -> Table:
    """Songs, files, tracks and windows per split of one meter group, as the manifest records them."""
    from clsm_cli.data.splits import SPLITS

    by_meter = ", ".join(f"{count:,} in {meter}" for meter, count in record["songs_by_meter"].items())
    table = Table(
        title=f"{group} ({record['window_steps']} steps a window; songs: {by_meter})",
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
        split_record = record["splits"][split]
        for name in fields:
            totals[name] += split_record.get(name, 0)
        cells = [f"{split_record[name]:,}" for name in fields[:-1]]
        dropped = f"{split_record['dropped_seen_in_training']:,}" if "dropped_seen_in_training" in split_record else "-"
        table.add_row(split + (" *" if split_record["transposed"] else ""), *cells, dropped)
    table.add_row("total", *(f"{totals[name]:,}" for name in fields), style="bold")
    return table
