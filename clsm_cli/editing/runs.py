"""Earlier editing runs found by their outputs' provenance, and what ``clsm interpolate`` morphs between.

A *run* is one ``clsm infill`` or ``clsm vary`` call on one song: its outputs share the verb, the
input, the seed, the bars and the model, and are numbered by candidate. ``clsm interpolate`` with
no FILE continues from the most recent run in the output folder (the one whose outputs were
written last), from its candidate 1 to 2 unless ``--start``/``--end`` name others by number.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from clsm_cli.editing.provenance import parse_provenance
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


def latest_run(folder: Path) -> Optional[EditRun]:
    """The run in ``folder`` whose outputs were written last (None when it holds none)."""
    runs: dict[tuple, dict] = {}
    newest: dict[tuple, int] = {}
    for path in sorted(Path(folder).glob("*.mid")):
        record = _own_record(path)
        if record is None:
            continue
        try:
            key = (record["verb"], _recorded_input(record), int(record["seed"]), tuple(int(b) for b in record["bars"]),
                   record.get("model"), record.get("model_sha256"))
            k = int(record["k"])
            modified = path.stat().st_mtime_ns
        except (KeyError, TypeError, ValueError, OSError):
            continue
        if key[0] not in CONTINUED_VERBS or key[1] is None or k < 1 or len(key[3]) != 2:
            continue
        runs.setdefault(key, {})[k] = path
        newest[key] = max(newest.get(key, modified), modified)
    if not runs:
        return None
    key = max(runs, key=lambda run_key: (newest[run_key], run_key[1:4]))
    verb, song, seed, (first, last) = key[:4]
    return EditRun(verb, Path(song), seed, BarRange(first, last), dict(sorted(runs[key].items())))


def plan_interpolation(files: Sequence[Path], bars: Optional[str], start: Optional[str], end: Optional[str],
                       from_original: bool, folder: Path) -> InterpolationPlan:
    """Resolve an interpolate call: the song, the bars and the two endpoint files.

    ``start``/``end`` are paths or candidate numbers of the latest run in ``folder``. With no FILE,
    the song is the run's input when it still exists, else the start file itself.
    """
    start_path, end_path = _as_path(start), _as_path(end)
    bar_range = BarRange.parse(bars) if bars is not None else None
    needs_run = (_is_number(start) or _is_number(end)
                 or (not files and not (start_path is not None and end_path is not None)))
    if not needs_run:
        if files:
            if bar_range is None:
                bar_range = _bars_of(start_path) if start_path is not None else None
            if bar_range is None:
                raise UsageError("interpolate needs --bars (for example --bars 3-4) for the song given")
            return InterpolationPlan(Path(files[0]), bar_range, start_path, end_path, None)
        recorded = _bars_of(start_path, required=True), _bars_of(end_path, required=True)
        if recorded[0] != recorded[1]:
            raise InputFileError(f"{start_path.name} changed {recorded[0]} but {end_path.name} changed "
                                 f"{recorded[1]}, so there is nothing to morph between")
        return InterpolationPlan(start_path, bar_range or recorded[0], start_path, end_path, None)

    run = latest_run(folder)
    if run is None:
        where = "the current folder" if str(folder) in ("", ".") else str(folder)
        raise UsageError(f"there is no clsm infill or vary output in {where} to continue from; give a song, "
                         "e.g. clsm interpolate song.mid --bars 3-4")
    start_file = None if from_original else (start_path or _candidate(run, start, 1))
    end_file = end_path or _candidate(run, end, 2)
    if files:
        song = Path(files[0])
    elif run.input.exists():
        song = run.input
    else:
        song = start_file or _candidate(run, None, 1)
    chosen = " to ".join(str(path) for path in (start_file or "the original bars", end_file))
    message = f"continuing from {run.describe()}: song {song}, from {chosen}"
    return InterpolationPlan(song, bar_range or run.bars, start_file, end_file, message)


def _own_record(path: Path) -> Optional[dict]:
    """The provenance record of the newest edit in a file (None for files clsm did not write)."""
    try:
        records = parse_provenance(midi_read.read_text_events(path))
    except (ClsmError, OSError):
        return None
    return max(records, key=lambda record: int(record.get("generation", 0)), default=None)


def _recorded_input(record: dict) -> Optional[str]:
    if isinstance(record.get("input"), str):
        return record["input"]
    try:  # older outputs: the input is the third word of the command that repeats the edit
        words = shlex.split(str(record.get("command", "")))
    except ValueError:
        return None
    return words[2] if len(words) > 2 else None


def _bars_of(path: Path, required: bool = False) -> Optional[BarRange]:
    record = _own_record(path)
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
    return value is not None and value.isdigit() and not Path(value).exists()


def _as_path(value: Optional[str]) -> Optional[Path]:
    return None if value is None or _is_number(value) else Path(value)
