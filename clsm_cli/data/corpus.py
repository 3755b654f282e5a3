"""``clsm data build``: scan sources, read songs in worker processes, write the dataset.

The pipeline (DESIGN.md section 4, paper section 3.1)::

    sources ──scan──> items (sorted; song identity and split fixed here)
            ──worker pool (imap, input order)──> SongResult per file/tune
                 read   MIDI file (music/midi_read.read_note_table + bars + melody.quantize_track)
                        or music21 tune (data/music21_corpus)       -> SongNotes on the 16-step grid
                 filter song: 4/4 and 2/2 only, bars on the grid
                 filter tracks: drum, bass, empty, polyphonic, out of 55..84
                 cut    8-bar windows, 1-bar stride, at most one bar of rest (data/windows)
            ──parent──> transpositions for training splits, shards + manifest (data/shards)

Every per-file problem becomes a counted skip reason (never an exception out of the build), and
the parent consumes results in input order, so the output does not depend on the number of
workers or on scheduling: rebuilding from the same inputs gives the same bytes.

Skip reasons for a file (``SKIP_REASONS``): ``unreadable`` (corrupt or not MIDI/ABC), ``meter``
(a bar not in 4/4 or 2/2), ``irregular bars`` (bars that break the 16-step grid: a time signature
off the bar line, a bar of odd length mid-tune), ``no usable track`` (every track filtered),
``no window`` (usable tracks, but no 8-bar window with at most one bar of rest), and ``error``
(an unexpected failure inside clsm: a bug, reported with its type so it can be fixed).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

import numpy as np

from clsm_cli.constants import (
    BARS_PER_WINDOW,
    MAX_PITCH,
    METER_STEPS_PER_BAR,
    MIN_PITCH,
    STEPS_PER_BAR,
    TRANSPOSITIONS_SEMITONES,
)
from clsm_cli.data import shards
from clsm_cli.data.splits import (
    DEFAULT_IDENTITY_MODE,
    HELD_OUT_SPLITS,
    SPLIT_RATIO,
    SPLITS,
    TRAIN_SPLITS,
    song_identity,
    split_of,
)
from clsm_cli.data.windows import (
    MAX_REST_STEPS,
    WINDOW_STRIDE_BARS,
    TrackWindows,
    augment_windows,
    cut_track_windows,
    pitches_in_range,
)
from clsm_cli.errors import InputFileError, UsageError
from clsm_cli.music.tokens import NoteColumns, StepNote, vocabulary_hash

if TYPE_CHECKING:
    from clsm_cli.music.song import MidiSong, NoteTable

MIDI_SUFFIXES = (".mid", ".midi")
CORPORA = ("music21",)
SKIP_REASONS = ("unreadable", "meter", "irregular bars", "no usable track", "no window", "error")
TRACK_FILTERS = ("drum", "bass", "empty", "polyphonic", "out of range")
EXAMPLES_PER_REASON = 5


class SongSkipped(Exception):
    """A song the dataset cannot use, with a reason from SKIP_REASONS and a short detail."""

    def __init__(self, reason: str, detail: str):
        assert reason in SKIP_REASONS, reason
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class TrackNotes:
    """One track of a song as step notes on the song's 16-step grid (bar b starts at step 16*b)."""

    number: int  # the track index clsm show prints (MIDI) or the part index (music21)
    name: str
    notes: Sequence[StepNote]
    is_drum: bool = False
    is_bass: bool = False
    is_monophonic: bool = True  # no note starts while another sounds (legato overlaps allowed)
    is_in_range: bool = True  # every pitch in 55..84 (also checked on ``notes``)

    @cached_property
    def columns(self) -> NoteColumns:
        """``notes`` as columns, built once for the range check, the shifts and the tokens."""
        return NoteColumns.from_notes(self.notes)


@dataclass(frozen=True)
class SongNotes:
    """A song every source reduces to: whole 16-step bars and the tracks' step notes."""

    num_bars: int
    tracks: Sequence[TrackNotes]


@dataclass(frozen=True)
class TrackResult:
    number: int  # the track's number in its song
    cut: TrackWindows  # its windows in the original key and the transpositions it allows


@dataclass
class SongResult:
    """What a worker returns for one file or tune (small: windows in the original key only)."""

    status: str  # "kept" or a reason from SKIP_REASONS
    detail: str = ""
    tracks: list[TrackResult] = field(default_factory=list)
    track_counts: dict[str, int] = field(default_factory=dict)  # TRACK_FILTERS + "usable"
    windows_dropped_for_rest: int = 0


@dataclass(frozen=True)
class WorkItem:
    """One song source: a MIDI file or a music21 tune, with its identity and split already fixed."""

    label: str  # how the manifest names it: path relative to its source folder, or corpus path#X
    identity: str
    split: str
    path: str | None = None  # MIDI file
    abc_text: str | None = None  # music21 tune


def track_rejection(track: TrackNotes) -> str | None:
    """Why a track cannot give training windows (one of TRACK_FILTERS), or None if it can."""
    if track.is_drum:
        return "drum"
    if track.is_bass:
        return "bass"
    if not track.is_monophonic:
        return "polyphonic"
    if not track.is_in_range:
        return "out of range"
    if not track.notes:
        return "empty"
    if not pitches_in_range(track.columns):
        return "out of range"
    return None


def song_result(song: SongNotes) -> SongResult:
    """Filter the tracks of a song and cut their windows (pure)."""
    counts = {name: 0 for name in TRACK_FILTERS + ("usable",)}
    tracks: list[TrackResult] = []
    dropped = 0
    for track in song.tracks:
        rejection = track_rejection(track)
        counts[rejection or "usable"] += 1
        if rejection:
            continue
        cut = cut_track_windows(track.columns, song.num_bars)
        dropped += cut.dropped_for_rest
        if len(cut):
            tracks.append(TrackResult(track.number, cut))
    if not counts["usable"]:
        filtered = ", ".join(f"{counts[name]} {name}" for name in TRACK_FILTERS if counts[name])
        return SongResult("no usable track", filtered or "no tracks", track_counts=counts)
    if not tracks:
        detail = (
            f"{song.num_bars} bars, fewer than {BARS_PER_WINDOW}"
            if song.num_bars < BARS_PER_WINDOW
            else f"every 8-bar window holds more than {MAX_REST_STEPS} steps of rest"
        )
        return SongResult("no window", detail, track_counts=counts, windows_dropped_for_rest=dropped)
    return SongResult("kept", tracks=tracks, track_counts=counts, windows_dropped_for_rest=dropped)


# --- reading MIDI files ------------------------------------------------------------------------


def read_midi_notes(path: str | Path) -> SongNotes:
    """A MIDI file as step notes; InputFileError when unreadable, SongSkipped when unusable.

    Reads with ``midi_read.read_note_table``: the editing commands' reader without its mido messages
    (same tracks, notes and errors; the tests compare the two on every kind of file).
    """
    from clsm_cli.music import midi_read

    return midi_song_notes(midi_read.read_note_table(path))


def midi_song_notes(song: "MidiSong | NoteTable") -> SongNotes:
    """A song read from MIDI (or built like one, see music21_corpus) as step notes, the way the
    editing commands see it: bars from time signatures, tracks quantized to the song step grid.

    A track is monophonic when no note starts while another still sounds (melody.polyphony_share:
    overlaps shorter than a 32nd note count as legato) and no two notes start together. What
    rounding onto the grid still overlaps is cut by melody.reduce_to_monophony (quantize_line).
    """
    from clsm_cli.music import melody
    from clsm_cli.music.bars import song_bars
    from clsm_cli.music.song import NoteTable

    table = song if isinstance(song, NoteTable) else NoteTable.from_song(song)
    bars = song_bars(table)
    for bar in bars:
        if bar.meter not in METER_STEPS_PER_BAR:
            raise SongSkipped("meter", f"bar {bar.number} is in {bar.numerator}/{bar.denominator}, not 4/4 or 2/2")
    for bar in bars:
        if bar.steps != STEPS_PER_BAR or bar.first_step != STEPS_PER_BAR * (bar.number - 1):
            raise SongSkipped("irregular bars", f"bar {bar.number} is cut short by a time signature off the bar line")
    tracks = []
    for track in table.tracks:
        is_bass = melody.is_bass_track(track)
        if track.is_drum or is_bass or not len(track.notes):
            tracks.append(TrackNotes(track.number, track.name, (), track.is_drum, is_bass))
            continue
        if melody.polyphony_share(track, table.ticks_per_beat) > 0:
            tracks.append(TrackNotes(track.number, track.name, (), is_monophonic=False))
            continue
        pitches = track.notes.pitches
        if pitches.min() < MIN_PITCH or pitches.max() > MAX_PITCH:
            # Quantizing keeps pitches: decide before spending time on it.
            tracks.append(TrackNotes(track.number, track.name, (), is_in_range=False))
            continue
        line, _ = melody.quantize_line(track, bars, table.ticks_per_beat)
        tracks.append(TrackNotes(track.number, track.name, line))
    return SongNotes(num_bars=len(bars), tracks=tracks)


def process_item(item: WorkItem) -> SongResult:
    """Worker entry point: one file or tune in, one SongResult out; never raises."""
    if item.path is not None:
        return result_of_reading(lambda: read_midi_notes(item.path))

    def read_music21_tune():
        from clsm_cli.data.music21_corpus import Tune, read_tune

        return read_tune(Tune(item.identity, item.abc_text or ""))

    return result_of_reading(read_music21_tune)


def result_of_reading(read_song: Callable[[], SongNotes]) -> SongResult:
    """song_result of what ``read_song()`` returns, with every failure turned into a counted skip."""
    try:
        return song_result(read_song())
    except SongSkipped as skipped:
        return SongResult(skipped.reason, skipped.detail)
    except InputFileError as error:
        return SongResult("unreadable", error.message)
    except Exception as error:  # noqa: BLE001 - one bad file must never stop a corpus build
        return SongResult("error", f"{type(error).__name__}: {error}")


# --- scanning sources --------------------------------------------------------------------------


def scan_midi_sources(sources: Sequence[Path | str], identity_mode: str = DEFAULT_IDENTITY_MODE) -> list[WorkItem]:
    """Every .mid/.midi file under the source folders (or the files given), sorted per source."""
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
            items.append(WorkItem(label=label, identity=identity, split=split_of(identity), path=str(path)))
    return items


def scan_music21_corpus() -> list[WorkItem]:
    from clsm_cli.data.music21_corpus import list_folk_tunes

    return [
        WorkItem(label=tune.identity, identity=tune.identity, split=split_of(tune.identity), abc_text=tune.text)
        for tune in list_folk_tunes()
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
class _SplitTally:
    songs: set = field(default_factory=set)
    files: int = 0
    tracks: int = 0
    windows_original_key: int = 0
    windows_augmented: int = 0  # what went to the writer (train: with transpositions)


@dataclass
class BuildProgress:
    """Passed to the progress callback after each file: how far the build is."""

    done: int
    total: int
    kept: int
    windows: int


def build_dataset(
    out_dir: Path | str,
    sources: Sequence[Path | str] = (),
    *,
    corpus: str | None = None,
    workers: int | None = None,
    identity_mode: str = DEFAULT_IDENTITY_MODE,
    force: bool = False,
    windows_per_shard: int = shards.DEFAULT_WINDOWS_PER_SHARD,
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[BuildProgress], None] | None = None,
) -> dict:
    """Build a dataset directory from MIDI folders or a built-in corpus; returns the manifest.

    The directory is built under a temporary name beside ``out_dir`` and renamed into place at the
    end, so an interrupted build never leaves a half-written dataset.
    """
    out_dir = Path(out_dir)
    if bool(sources) == bool(corpus):
        raise UsageError("give MIDI folders to read, or --corpus music21, but not both")
    if corpus is not None and corpus not in CORPORA:
        raise UsageError(f"--corpus must be one of {', '.join(CORPORA)}, got {corpus!r}")
    workers = available_cores() if workers is None else workers
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    shards.check_output_dir(out_dir, force)

    if corpus == "music21":
        from clsm_cli.data import music21_corpus

        items = scan_music21_corpus()
        source_record = {
            "kind": "music21",
            "music21_version": music21_corpus.music21_version(),
            "collections": list(music21_corpus.FOLK_COLLECTIONS),
        }
    else:
        items = scan_midi_sources(sources, identity_mode)
        if not items:
            raise UsageError(f"no .mid or .midi files found in {', '.join(str(s) for s in sources)}")
        source_record = {"kind": "midi", "roots": [str(Path(s).resolve()) for s in sources], "identity": identity_mode}
    if on_start:
        on_start(len(items))

    temporary = shards.temporary_dir_for(out_dir)
    writer = shards.DatasetWriter(temporary, windows_per_shard)
    try:
        manifest = _consume(items, process_all(items, workers), writer, temporary, on_progress)
        manifest["sources"] = source_record
        manifest["parameters"]["windows_per_shard"] = windows_per_shard
        manifest["content_sha256"] = shards.content_sha256(temporary)
        shards.write_json(temporary / shards.MANIFEST_NAME, manifest)
        shards.publish(temporary, out_dir)
    except BaseException:
        writer.abandon()
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return manifest


def _consume(items, results, writer: shards.DatasetWriter, directory: Path, on_progress) -> dict:
    tallies = {split: _SplitTally() for split in SPLITS}
    skipped: dict[str, dict] = {}
    track_counts = {name: 0 for name in TRACK_FILTERS + ("usable",)}
    windows_dropped_for_rest = 0
    kept_sources: list[dict] = []
    total_windows = 0
    for done, (item, result) in enumerate(zip(items, results), start=1):
        for name, count in result.track_counts.items():
            track_counts[name] += count
        windows_dropped_for_rest += result.windows_dropped_for_rest
        if result.status != "kept":
            entry = skipped.setdefault(result.status, {"count": 0, "examples": []})
            entry["count"] += 1
            if len(entry["examples"]) < EXAMPLES_PER_REASON:
                entry["examples"].append({"source": item.label, "detail": result.detail})
        else:
            source_index = len(kept_sources)
            kept_sources.append({"source": item.label, "song": item.identity, "split": item.split})
            tally = tallies[item.split]
            tally.songs.add(item.identity)
            tally.files += 1
            for track in result.tracks:
                tally.tracks += 1
                tally.windows_original_key += len(track.cut)
                if item.split in TRAIN_SPLITS:
                    windows, start_bars, semitones = augment_windows(track.cut)
                    origins = _origins(source_index, track.number, start_bars, semitones)
                    writer.add_training(item.split, windows, origins, track.cut.windows)
                else:
                    windows, start_bars = track.cut.windows, track.cut.start_bars
                    semitones = np.zeros(len(windows), np.int32)
                    writer.add_held_out(item.split, windows, _origins(source_index, track.number, start_bars, semitones))
                tally.windows_augmented += len(windows)
                total_windows += len(windows)
        if on_progress:
            on_progress(BuildProgress(done, len(items), len(kept_sources), total_windows))

    written = writer.finish()
    shards.write_json(directory / shards.SOURCES_NAME, kept_sources)
    splits_record = {}
    for split in SPLITS:
        tally = tallies[split]
        record = {
            "songs": len(tally.songs),
            "files": tally.files,
            "tracks": tally.tracks,
            "windows_original_key": tally.windows_original_key,
            "windows": written[split]["windows"],
            "transposed": split in TRAIN_SPLITS,
            "shards": written[split]["shards"],
        }
        if split in HELD_OUT_SPLITS:
            record["dropped_seen_in_training"] = writer.held_out[split].dropped_seen_in_training
        splits_record[split] = record
    files_kept = len(kept_sources)
    return {
        "format": shards.FORMAT_NAME,
        "format_version": shards.FORMAT_VERSION,
        "vocabulary_hash": vocabulary_hash(),
        "parameters": {
            "steps_per_bar": STEPS_PER_BAR,
            "window_bars": BARS_PER_WINDOW,
            "stride_bars": WINDOW_STRIDE_BARS,
            "max_rest_steps": MAX_REST_STEPS,
            "pitch_range": [MIN_PITCH, MAX_PITCH],
            "meters": [f"{n}/{d}" for n, d in METER_STEPS_PER_BAR],
            "transpositions_semitones": list(TRANSPOSITIONS_SEMITONES),
            "transposed_splits": list(TRAIN_SPLITS),
            "original_key_splits": list(HELD_OUT_SPLITS),
            "split_ratio": dict(zip(SPLITS, SPLIT_RATIO)),
            "track_filters": list(TRACK_FILTERS),
            "held_out_dedup": "valid/test windows equal to a training window in any transposition are dropped",
        },
        "files": {
            "total": len(items),
            "kept": files_kept,
            "skipped": sum(entry["count"] for entry in skipped.values()),
            "skipped_by_reason": skipped,
        },
        "tracks": track_counts,
        "windows_dropped_for_rest": windows_dropped_for_rest,
        "splits": splits_record,
    }


def _origins(source: int, track: int, start_bars: np.ndarray, semitones: np.ndarray) -> np.ndarray:
    origins = np.empty((len(start_bars), len(shards.ORIGIN_FIELDS)), dtype=shards.ORIGIN_DTYPE)
    origins[:, 0] = source
    origins[:, 1] = track
    origins[:, 2] = np.asarray(start_bars) + 1  # 1-based, as clsm show numbers bars
    origins[:, 3] = semitones
    return origins
