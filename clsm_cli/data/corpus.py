"""``clsm data build``: scan sources, read songs in worker processes, write the dataset.

The pipeline (DESIGN.md section 4, paper section 3.1)::

    sources ──scan──> items (sorted; song identity and hash split fixed here)
            ──worker pool (imap, input order)──> SongResult per file/tune (data/song_windows)
                 read   MIDI file (data/song_notes) or music21 tune (data/music21_corpus)
                        -> bars in meter sections, tracks on the 16th-note grid
                 filter song: meters asked for (--meters; default every meter), whole bars
                 filter tracks: drum, bass, empty, polyphonic, out of 55..84
                 cut    8-bar windows of each meter group, 1-bar stride, at most one bar of rest
                        (data/windows); windows crossing a meter change are dropped and counted
            ──parent──> per meter group (data/groups): splits (the hash; a small folder's are
                        adjusted), transpositions for training splits, shards; then the manifest

Every per-file problem becomes a counted skip reason (never an exception out of the build), and
the parent consumes results in input order, so the output does not depend on the number of
workers or on scheduling: rebuilding from the same inputs gives the same bytes.

Skip reasons for a file (``song_notes.SKIP_REASONS``): ``unreadable`` (corrupt or not MIDI/ABC), ``meter``
(no bar in a meter asked for, no meter at all, or one whose bar is not a whole number of 16ths),
``irregular bars`` (a bar cut short by a time signature off the bar line), ``no usable track``
(every track filtered), ``no window`` (usable tracks, but no 8 bars of one meter group with at most
one bar of rest), and ``error`` (an unexpected failure inside clsm: a bug, reported with its type
so it can be fixed).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

from clsm_cli.constants import BARS_PER_WINDOW, MAX_PITCH, MIN_PITCH, TRANSPOSITIONS_SEMITONES
from clsm_cli.data import cre, music21_corpus, pop909, shards
from clsm_cli.data.groups import GroupBuilder, KeptSong
from clsm_cli.data.song_windows import TRACK_FILTERS, SongResult, WorkItem, process_item
from clsm_cli.data.splits import (
    DEFAULT_IDENTITY_MODE,
    HELD_OUT_SPLITS,
    SPLIT_RATIO,
    SPLITS,
    TRAIN_SPLITS,
    song_identity,
    split_of,
)
from clsm_cli.data.windows import MAX_REST_BARS, WINDOW_STRIDE_BARS
from clsm_cli.errors import OutputError, UsageError
from clsm_cli.timebase import GRID_ENCODINGS, Meter, grid_from_record
from clsm_cli.constants import vocabulary_hash

MIDI_SUFFIXES = (".mid", ".midi")
CORPORA = ("music21", "cre", "pop909")
EXAMPLES_PER_REASON = 5


def parse_meter_groups(meters: Iterable[str | Meter] | None) -> tuple[Meter, ...] | None:
    """``--meters 3/4,6/8`` as the groups they stand for (2/2 stands for 4/4), sorted; None: all.

    Each entry is a Meter or text holding one or more meters separated by commas.
    """
    if meters is None:
        return None
    parsed: list[Meter] = []
    for meter in meters:
        if isinstance(meter, Meter):
            parsed.append(meter)
        else:
            parsed.extend(Meter.parse(text) for text in str(meter).split(",") if text.strip())
    if not parsed:
        raise UsageError("--meters needs at least one meter, e.g. --meters 3/4,6/8")
    return tuple(sorted({meter.group for meter in parsed}))


# --- scanning sources --------------------------------------------------------------------------


def scan_midi_sources(
    sources: Sequence[Path | str],
    identity_mode: str = DEFAULT_IDENTITY_MODE,
    meter_groups: tuple[Meter, ...] | None = None,
) -> list[WorkItem]:
    """Every .mid/.midi file under the source folders (or the files given), sorted per source."""
    groups = None if meter_groups is None else tuple(map(str, meter_groups))
    items: list[WorkItem] = []
    seen: set[Path] = set()
    for source in sources:
        source = Path(source)
        if source.is_dir():
            root = source
            files = sorted(
                (p for p in source.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES and p.is_file()),
                key=lambda p: p.relative_to(source).as_posix(),
            )
        elif source.is_file():
            root, files = source.parent, [source]
        else:
            raise UsageError(f"source {source} does not exist; give folders or files of MIDI songs")
        for path in files:
            resolved = path.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            identity = song_identity(path, root, identity_mode)
            label = path.relative_to(root).as_posix()
            items.append(WorkItem(label, identity, split_of(identity), path=str(path), meter_groups=groups))
    return items


def scan_music21_corpus(meter_groups: tuple[Meter, ...] | None = None) -> list[WorkItem]:
    groups = None if meter_groups is None else tuple(map(str, meter_groups))
    return [
        WorkItem(tune.identity, tune.identity, split_of(tune.identity), abc_text=tune.text, meter_groups=groups)
        for tune in music21_corpus.list_folk_tunes()
    ]


# --- running the pool --------------------------------------------------------------------------


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def process_all(items: Sequence[WorkItem], workers: int) -> Iterable[SongResult]:
    """SongResults in the order of ``items``; ``workers`` processes (1: in this process)."""
    if workers <= 1 or len(items) <= 1:
        for item in items:
            yield process_item(item)
        return
    # forkserver/spawn: workers start clean, without whatever threads (torch, a test runner) this
    # process holds, so forking cannot deadlock them.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    chunk = max(1, min(16, len(items) // (workers * 8)))
    with context.Pool(processes=workers) as pool:
        yield from pool.imap(process_item, items, chunksize=chunk)


# --- the build ---------------------------------------------------------------------------------


@dataclass
class BuildProgress:
    """Passed to the progress callback after each file: how far the build is."""

    done: int
    total: int
    kept: int
    windows: int


def read_test_songs(paths: Iterable[Path | str]) -> frozenset[str]:
    """Song identities listed in ``--test-songs`` files: one a line, ``#`` starts a comment."""
    names: set[str] = set()
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise UsageError(f"cannot read the --test-songs file {path}: {error.strerror or error}") from None
        names.update(line.split("#", 1)[0].strip() for line in text.splitlines())
    names.discard("")
    return frozenset(names)


def corpus_items(corpus: str, root: Path | str | None, meter_groups: tuple[Meter, ...] | None) -> tuple[list[WorkItem], dict]:
    """The songs of one built-in corpus (``music21``; ``cre`` and ``pop909`` read from ``root``), and its record."""
    groups = None if meter_groups is None else tuple(map(str, meter_groups))
    if corpus not in CORPORA:
        raise UsageError(f"--corpus must be one of {', '.join(CORPORA)}, got {corpus!r}")
    if corpus == "music21":
        record = {"kind": "music21", "music21_version": music21_corpus.music21_version(),
                  "collections": list(music21_corpus.FOLK_COLLECTIONS)}
        return scan_music21_corpus(meter_groups), record
    if root is None:
        raise UsageError(f"--corpus {corpus} needs the folder it is in: --corpus {corpus} DIR")
    if corpus == "cre":
        items = [WorkItem(f"cre/{path.name}", path.stem, split_of(path.stem), path=str(path), meter_groups=groups,
                          reader="cre") for path in cre.tune_files(root)]
        return items, {"kind": "cre", "root": str(Path(root).resolve()), "identity": "file stem (the tune's title)"}
    items = [WorkItem(f"pop909/{folder.name}", folder.name, split_of(folder.name), path=str(folder / f"{folder.name}.mid"),
                      meter_groups=groups, reader="pop909") for folder in pop909.song_folders(root)]
    return items, {"kind": "pop909", "root": str(Path(root).resolve()), "identity": "NNN", "licence": "MIT"}


def force_test_split(items: list[WorkItem], test_songs: frozenset[str]) -> tuple[list[WorkItem], list[str]]:
    """Items of the songs named in ``test_songs`` moved to the test split and to the front (so a
    later copy of one in another corpus is the duplicate dropped), and the names matching no song."""
    forced = [replace(item, split="test", test_song=True) for item in items if item.identity in test_songs]
    rest = [item for item in items if item.identity not in test_songs]
    missing = sorted(test_songs - {item.identity for item in forced})
    return forced + rest, missing


def build_dataset(
    out_dir: Path | str,
    sources: Sequence[Path | str] = (),
    *,
    corpus: str | None = None,
    corpora: Sequence[tuple[str, Path | str | None]] = (),
    test_songs: Iterable[str] = (),
    meters: Iterable[str | Meter] | None = None,
    workers: int | None = None,
    identity_mode: str = DEFAULT_IDENTITY_MODE,
    force: bool = False,
    windows_per_shard: int = shards.DEFAULT_WINDOWS_PER_SHARD,
    grid: str = "16th",
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[BuildProgress], None] | None = None,
) -> dict:
    """Build a dataset directory from MIDI folders and built-in corpora; returns the manifest.

    ``sources`` are MIDI folders or files; ``corpora`` are ``(name, DIR)`` pairs (``("music21",
    None)``, ``("cre", DIR)``, ``("pop909", DIR)``; ``corpus="music21"`` is short for one). Songs of
    every source go into one build: a song whose melody digest (:func:`song_windows.melody_digest`)
    equals that of an earlier song of another corpus is dropped as a ``duplicate`` (counted per
    pair of corpora in the manifest). ``test_songs`` are song identities that always go to the test split.

    ``meters`` (e.g. ``["3/4", "6/8"]`` or ``"3/4,6/8"``; None: every meter) selects the meter
    groups to keep. ``grid`` is the encoding of the windows: "16th" (the paper's) or "triplet"
    (``music/triplets.py``; only x/4 and 2/2 groups). The directory is built under a temporary name beside ``out_dir`` and renamed
    into place at the end, so an interrupted build never leaves a half-written dataset.
    """
    out_dir = Path(out_dir)
    corpora = list(corpora) + ([(corpus, None)] if corpus is not None else [])
    if not sources and not corpora:
        raise UsageError("give MIDI folders to read, or a --corpus (music21, cre DIR, pop909 DIR)")
    meter_groups = parse_meter_groups([meters] if isinstance(meters, str) else meters)
    try:
        window_grid = grid_from_record(grid)
    except ValueError:
        raise UsageError(f"--grid must be one of {', '.join(GRID_ENCODINGS)}, got {grid!r}") from None
    workers = available_cores() if workers is None else workers
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    shards.check_output_dir(out_dir, force)

    items: list[WorkItem] = []
    source_records: list[dict] = []
    for name, root in corpora:
        corpus_songs, record = corpus_items(name, root, meter_groups)
        items += corpus_songs
        source_records.append(record)
    if sources:
        midi_items = scan_midi_sources(sources, identity_mode, meter_groups)
        if not midi_items:
            raise UsageError(f"no .mid or .midi files found in {', '.join(str(s) for s in sources)}")
        items += midi_items
        source_records.append({"kind": "midi", "roots": [str(Path(s).resolve()) for s in sources], "identity": identity_mode})
    test_songs = frozenset(test_songs)
    items, missing_test_songs = force_test_split(items, test_songs)
    items = [replace(item, grid=window_grid.encoding) for item in items]
    if on_start:
        on_start(len(items))

    try:
        temporary = shards.temporary_dir_for(out_dir)
    except OSError as error:
        raise OutputError(f"cannot create the dataset folder {out_dir}: {error.strerror or error}") from None
    groups: dict[Meter, GroupBuilder] = {}
    try:
        manifest = _consume(items, process_all(items, workers), groups, temporary, windows_per_shard, on_progress)
        manifest["sources"] = source_records[0] if len(source_records) == 1 else {"kind": "several", "sources": source_records}
        manifest["test_songs"] = {"named": len(test_songs), "found": len(test_songs) - len(missing_test_songs),
                                  "not_found": missing_test_songs}
        manifest["grid"] = window_grid.as_dict()
        manifest["vocabulary_hash"] = vocabulary_hash(window_grid.encoding)
        manifest["parameters"]["meters"] = "all" if meter_groups is None else [str(group) for group in meter_groups]
        manifest["parameters"]["windows_per_shard"] = windows_per_shard
        manifest["content_sha256"] = shards.content_sha256(temporary)
        shards.write_json(temporary / shards.MANIFEST_NAME, manifest)
        shards.publish(temporary, out_dir)
    except BaseException as error:
        for group in groups.values():
            group.abandon()
        shutil.rmtree(temporary, ignore_errors=True)
        if isinstance(error, OSError):  # input files are read (and their errors counted) by the workers
            raise OutputError(f"cannot write the dataset to {out_dir}: {error.strerror or error}") from None
        raise
    return manifest


def _consume(items, results, groups: dict, directory: Path, windows_per_shard: int, on_progress) -> dict:
    """Hand each kept song's windows to its meter groups (in input order); the manifest."""
    skipped: dict[str, dict] = {}
    track_counts = {name: 0 for name in TRACK_FILTERS + ("usable",)}
    dropped_for_rest = dropped_at_meter_change = kept = 0
    first_with_digest: dict[str, WorkItem] = {}
    duplicates: dict[str, int] = {}  # "corpus of the copy dropped <- corpus of the song kept" -> count
    for done, (item, result) in enumerate(zip(items, results), start=1):
        # Within one corpus a repeated melody stays (held-out windows equal to training ones are
        # dropped anyway); across corpora it is one tune collected twice, and only the first is kept.
        twin = first_with_digest.get(result.melody_digest) if result.status == "kept" and result.melody_digest else None
        if twin is not None and _source_kind(twin) == _source_kind(item):
            twin = None
        if twin is not None:
            result = SongResult("duplicate", f"the same melody as {twin.label}", track_counts=result.track_counts)
            pair = f"{_source_kind(item)} <- {_source_kind(twin)}"
            duplicates[pair] = duplicates.get(pair, 0) + 1
        elif result.melody_digest and result.status == "kept":
            first_with_digest.setdefault(result.melody_digest, item)
        for name, count in result.track_counts.items():
            track_counts[name] += count
        dropped_for_rest += result.windows_dropped_for_rest
        dropped_at_meter_change += result.windows_dropped_at_meter_change
        if result.status != "kept":
            _count_skip(skipped, item, result)
        else:
            kept += 1
            for name, meters in result.meters.items():
                group = Meter.parse(name)
                if group not in groups:
                    groups[group] = GroupBuilder(group, directory / shards.group_folder_name(group), windows_per_shard)
                tracks = [track for track in result.tracks if track.meter_group == name]
                groups[group].add(KeptSong(item, tracks, meters, result.annotations))
        if on_progress:
            written = sum(group.windows_written for group in groups.values())
            on_progress(BuildProgress(done, len(items), kept, written))

    group_records = {str(group): groups[group].finish() for group in sorted(groups)}
    return {
        "format": shards.FORMAT_NAME,
        "format_version": shards.FORMAT_VERSION,
        "vocabulary_hash": vocabulary_hash(),
        "parameters": {
            "window_bars": BARS_PER_WINDOW,
            "stride_bars": WINDOW_STRIDE_BARS,
            "max_rest_bars": MAX_REST_BARS,
            "steps": "a 16th note a step: 16 a bar in 4/4 and 2/2, 12 in 3/4 and 6/8, 8 in 2/4, ...",
            "meter_groups": "4/4 and 2/2 are one group, every other meter is its own; no window crosses a meter change",
            "pitch_range": [MIN_PITCH, MAX_PITCH],
            "transpositions_semitones": list(TRANSPOSITIONS_SEMITONES),
            "transposed_splits": list(TRAIN_SPLITS),
            "original_key_splits": list(HELD_OUT_SPLITS),
            "split_ratio": dict(zip(SPLITS, SPLIT_RATIO)),
            "small_groups": "a meter group whose songs leave a split empty by their hash moves songs into it "
            "(with 3 or 4 songs, lends them), so each split holds a song; see split_adjustments",
            "track_filters": list(TRACK_FILTERS),
            "held_out_dedup": "valid/test windows equal to a training window in any transposition are dropped",
        },
        "files": {
            "total": len(items),
            "kept": kept,
            "skipped": sum(entry["count"] for entry in skipped.values()),
            "skipped_by_reason": skipped,
        },
        "tracks": track_counts,
        "windows_dropped_for_rest": dropped_for_rest,
        "windows_dropped_at_meter_change": dropped_at_meter_change,
        "duplicates_dropped": duplicates,
        "meter_groups": group_records,
    }


def _source_kind(item: WorkItem) -> str:
    if item.reader != "midi":
        return item.reader
    return "music21" if item.path is None else "midi"


def _count_skip(skipped: dict, item: WorkItem, result: SongResult) -> None:
    entry = skipped.setdefault(result.status, {"count": 0, "examples": []})
    entry["count"] += 1
    if len(entry["examples"]) < EXAMPLES_PER_REASON:
        entry["examples"].append({"source": item.label, "detail": result.detail})
