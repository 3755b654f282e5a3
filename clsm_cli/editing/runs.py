"""Earlier editing runs found by their outputs' provenance, and what ``clsm interpolate`` morphs between.

A *run* is one ``clsm infill`` or ``clsm vary`` call on one song: its outputs share the verb, the
input, the seed, the bars and the model, and are numbered by candidate. ``clsm interpolate`` with
no FILE continues from the most recent run in the output folder (the one whose outputs were
written last), from its candidate 1 to 2 unless ``--start``/``--end`` name others by number.
When the folder holds runs of several songs it says so, and a batch (one call over several songs)
needs ``--song NAME``; a run whose candidates are all rests, or whose song file no longer holds the
song it was made from (its recorded sha256), is refused (exit 3). A file named as an endpoint must
carry a sound record: a damaged one is refused before the model loads (:func:`endpoint_records`).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from clsm_cli.editing.inputs import file_sha256
from clsm_cli.editing.provenance import parse_provenance, read_provenance
from clsm_cli.errors import ClsmError, InputFileError, UsageError
from clsm_cli.music import midi_read
from clsm_cli.music.bars import BarRange

CONTINUED_VERBS = ("infill", "vary")  # runs whose candidates an interpolation continues from


@dataclass(frozen=True)
class EditRun:
    """One earlier infill or vary call, as its outputs in a folder record it."""

    verb: str
    input: Path  # the song as the run was given it
    seed: int
    bars: BarRange
    outputs: dict  # candidate number k -> output path
    input_sha256: Optional[str] = None  # the song's content when the run was made (format 2 records)
    silent: frozenset = frozenset()  # candidates whose target bars are all rests
    model: Optional[str] = None

    @property
    def batch_key(self) -> tuple:
        """What the runs of one call over several songs share."""
        return self.verb, self.seed, self.bars, self.model

    def describe(self) -> str:
        return f"the {self.verb} run of {self.input.name} (bars {self.bars.first}-{self.bars.last}, seed {self.seed})"


@dataclass(frozen=True)
class InterpolationPlan:
    """What an interpolate call works on once its endpoints are resolved."""

    song: Path
    bars: BarRange
    start_file: Optional[Path]  # None: --from-original or a prior sample
    end_file: Optional[Path]
    message: Optional[str]  # which files were chosen, when the user did not name them all


def folder_runs(folder: Path) -> list[EditRun]:
    """Every infill or vary run in ``folder``, the one whose outputs were written last first."""
    runs: dict[tuple, dict] = {}
    newest: dict[tuple, int] = {}
    facts: dict[tuple, dict] = {}
    for path in sorted(Path(folder).glob("*.mid")):
        record = _own_record(path)
        if record is None:
            continue
        try:
            key = (record["verb"], _recorded_input(record, path), int(record["seed"]),
                   tuple(int(b) for b in record["bars"]), record.get("model"), record.get("model_sha256"))
            k = int(record["k"])
            modified = path.stat().st_mtime_ns
        except (KeyError, TypeError, ValueError, OSError):
            continue
        if key[0] not in CONTINUED_VERBS or key[1] is None or k < 1 or len(key[3]) != 2:
            continue
        runs.setdefault(key, {})[k] = path
        newest[key] = max(newest.get(key, modified), modified)
        fact = facts.setdefault(key, {"sha256": record.get("input_sha256"), "silent": set()})
        if record.get("target_notes") == []:
            fact["silent"].add(k)
    ordered = sorted(runs, key=lambda run_key: (newest[run_key], run_key[1:4]), reverse=True)
    return [
        EditRun(key[0], Path(key[1]), key[2], BarRange(*key[3]), dict(sorted(runs[key].items())),
                facts[key]["sha256"], frozenset(facts[key]["silent"]), key[4])
        for key in ordered
    ]


def latest_run(folder: Path) -> Optional[EditRun]:
    """The run in ``folder`` whose outputs were written last (None when it holds none)."""
    runs = folder_runs(folder)
    return runs[0] if runs else None


def chosen_run(folder: Path, song: Optional[str]) -> tuple[EditRun, Optional[str]]:
    """The run an interpolate call continues from, and a note when other songs' runs are there too.

    ``song`` (``--song``) picks the newest run of that song (by file name, stem or path). Without
    it, the newest run is taken unless it belongs to a batch (runs of other songs with its verb,
    seed, bars and model): then which song is ambiguous, and the UsageError lists them.
    """
    runs = folder_runs(folder)
    where = "the current folder" if str(folder) in ("", ".") else str(folder)
    if not runs:
        raise UsageError(f"there is no clsm infill or vary output in {where} to continue from; give a song, "
                         "e.g. clsm interpolate song.mid --bars 3-4")
    songs = list(dict.fromkeys(run.input for run in runs))
    if song is not None:
        matching = [run for run in runs if _names_song(run.input, song)]
        if not matching:
            raise UsageError(f"--song {song} has no infill or vary run in {where}; its runs are of "
                             + ", ".join(path.name for path in songs))
        return matching[0], None
    latest = runs[0]
    batch = list(dict.fromkeys(run.input for run in runs if run.batch_key == latest.batch_key))
    if len(batch) > 1:
        raise UsageError(f"the latest run in {where} edited {len(batch)} songs ("
                         + ", ".join(path.name for path in batch) + "); choose one with --song NAME")
    if len(songs) > 1:
        return latest, (f"{where} also holds runs of {len(songs) - 1} other song"
                        f"{'s' if len(songs) > 2 else ''}; --song NAME continues from another")
    return latest, None


def _names_song(path: Path, name: str) -> bool:
    return name in (path.name, path.stem, str(path)) or os.path.normpath(name) == os.path.normpath(str(path))


def plan_interpolation(files: Sequence[Path], bars: Optional[str], start: Optional[str], end: Optional[str],
                       from_original: bool, folder: Path, song: Optional[str] = None) -> InterpolationPlan:
    """Resolve an interpolate call: the song, the bars and the two endpoint files.

    ``start``/``end`` are paths or candidate numbers of the latest run in ``folder``. With no FILE,
    the song is the run's input when it still exists, else the start file itself.
    """
    if song is not None and files:
        raise UsageError("--song picks which song's run to continue when no FILE is given; give one or the other")
    start_path, end_path = _as_path(start), _as_path(end)
    bar_range = BarRange.parse(bars) if bars is not None else None
    needs_run = (_is_number(start) or _is_number(end)
                 or (not files and not (start_path is not None and end_path is not None)))
    if not needs_run:
        if files:
            if bar_range is None:
                bar_range = _bars_of(start_path, "--start") if start_path is not None else None
            if bar_range is None:
                raise UsageError("interpolate needs --bars (for example --bars 3-4) for the song given")
            return InterpolationPlan(Path(files[0]), bar_range, start_path, end_path, None)
        recorded = _bars_of(start_path, "--start", required=True), _bars_of(end_path, "--end", required=True)
        if recorded[0] != recorded[1]:
            raise InputFileError(f"{start_path.name} changed {recorded[0]} but {end_path.name} changed "
                                 f"{recorded[1]}, so there is nothing to morph between")
        return InterpolationPlan(start_path, bar_range or recorded[0], start_path, end_path, None)

    run, note = chosen_run(folder, song)
    if len(run.silent) == len(run.outputs):
        raise InputFileError(f"{run.describe()} wrote only rests in bars {run.bars.first}-{run.bars.last}, so "
                             "there is nothing to morph; infill again with another --seed, or give --start/--end files")
    start_file = None if from_original else (start_path or _candidate(run, start, 1))
    end_file = end_path or _candidate(run, end, 2)
    if files:
        song_path = Path(files[0])
    elif run.input.exists():
        song_path = run.input
    else:
        song_path = start_file or _candidate(run, None, 1)
    if run.input_sha256 is not None and _same_path(song_path, run.input) and file_sha256(song_path) != run.input_sha256:
        raise InputFileError(f"{song_path} is no longer the song {run.describe()} was made from (its content "
                             "changed); give the song and --bars, or --start/--end files")
    chosen = " to ".join(str(path) for path in (start_file or "the original bars", end_file))
    message = f"continuing from {run.describe()}: song {song_path}, from {chosen}"
    if note:
        message += f" ({note})"
    return InterpolationPlan(song_path, bar_range or run.bars, start_file, end_file, message)


def _same_path(first: Path, second: Path) -> bool:
    return os.path.realpath(first) == os.path.realpath(second)


def endpoint_records(path: Path, role: str, text_events: Optional[Sequence[str]] = None) -> list[dict]:
    """The records of a file given as ``--start``, ``--end`` or ``--around`` (its ``text_events``
    when it was read already), checked before the model loads: InputFileError (exit 3) for an
    unreadable file or a damaged record."""
    if text_events is None:
        try:
            text_events = midi_read.read_text_events(path)
        except ClsmError as error:
            raise InputFileError(f"{role} file: {error.message}") from None
    provenance = read_provenance(text_events)
    if provenance.damaged:
        raise InputFileError(f"{role} file {provenance.describe_damage(Path(path).name)}, so it cannot be "
                             "continued from; edit it as a plain MIDI file with infill or vary instead")
    return list(provenance.records)


def _own_record(path: Path) -> Optional[dict]:
    """The provenance record of the newest edit in a file (None for files clsm did not write)."""
    try:
        records = parse_provenance(midi_read.read_text_events(path))
    except (ClsmError, OSError):
        return None
    return max(records, key=lambda record: int(record.get("generation", 0)), default=None)


def _recorded_input(record: dict, output: Path) -> Optional[str]:
    """The song of a run: format 2 records it relative to the output's folder, format 1 as typed."""
    if isinstance(record.get("input"), str):
        if record.get("format", 1) >= 2:
            return os.path.normpath(Path(output).parent / record["input"])
        return record["input"]
    try:  # older outputs: the input is the third word of the command that repeats the edit
        words = shlex.split(str(record.get("command", "")))
    except ValueError:
        return None
    return words[2] if len(words) > 2 else None


def _bars_of(path: Path, role: str, required: bool = False) -> Optional[BarRange]:
    records = endpoint_records(path, role)
    record = max(records, key=lambda record: int(record.get("generation", 0)), default=None)
    if record is None:
        if required:
            raise InputFileError(f"{path.name} was not written by clsm (it has no provenance), so the song and "
                                 "bars to morph are unknown; give the song and --bars")
        return None
    try:
        first, last = (int(bar) for bar in record["bars"])
        return BarRange(first, last)
    except (KeyError, TypeError, ValueError):
        return None


def _candidate(run: EditRun, number: Optional[str], default: int) -> Path:
    k = default if number is None else int(number)
    if k not in run.outputs:
        have = ", ".join(str(key) for key in run.outputs)
        raise UsageError(f"{run.describe()} has no candidate {k} (it has {have})")
    return run.outputs[k]


def _is_number(value: Optional[str]) -> bool:
    """True for a candidate number (ASCII digits) that is not also a file's name.

    UsageError for other digits ("²", "٣"): ``str.isdigit`` accepts them and ``int`` does not.
    """
    if value is None or not value.isdigit() or Path(value).exists():
        return False
    if not value.isascii():
        raise UsageError(f"'{value}' is neither a candidate number (1, 2, ...) nor a file; "
                         "give a number in ASCII digits or an output file")
    return True


def _as_path(value: Optional[str]) -> Optional[Path]:
    return None if value is None or _is_number(value) else Path(value)
