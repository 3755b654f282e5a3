"""The on-disk dataset: uint8 window shards per meter group and split, window origins, manifest.

Layout of a dataset directory (``clsm data build --out DIR``), one folder per meter group (4/4 and
2/2 are the group ``4-4``; 3/4 is ``3-4``, 6/8 ``6-8``, ...)::

    DIR/manifest.json                     parameters, sources, counts per group and split, reasons,
                                          hashes; ``meter_groups`` lists the groups (see below)
    DIR/<group>/sources.json              the group's kept files: [{"source", "song", "split",
                                          "meters"}, ...] (+ "lent_to" for a small folder's loans)
    DIR/<group>/<split>/shard-00000.u8    raw uint8 windows, 8 bars of the group's meter each
                                          (128 bytes in 4/4, 96 in 3/4 and 6/8, 64 in 2/4), no header
    DIR/<group>/<split>/origins.i32       raw little-endian int32, 4 per window: source index (into
                                          the group's sources.json), track number, first bar
                                          (1-based, as clsm show numbers it), semitones

The meter of every window is its group's (``manifest["meter_groups"][group]``: steps per bar,
window steps, songs per written meter); its source's entry lists the meters of its bars.

A dataset of format version 1 (built before meters other than 4/4 and 2/2 were kept) has no group
folders: ``DIR/sources.json`` and ``DIR/<split>/`` hold 4/4 windows, and it reads as the 4/4 group.

Shards hold at most ``windows_per_shard`` windows each (all but the last are full), so window ``i``
of a split lives in shard ``i // windows_per_shard``. Everything is written as it streams in
(memory does not grow with the corpus), nothing carries a timestamp or an absolute output path,
and JSON is written with sorted keys, so building twice from the same inputs gives identical bytes.
The manifest's ``content_sha256`` hashes every other file of the directory.

:func:`open_split` reads one group's split back through memory maps: ``len(ws)``, ``ws[i]`` ->
``(window_steps,)``, ``ws[array]`` -> ``(n, window_steps)``, plus ``ws.origins`` and ``ws.song(i)``
to trace a window to its song.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from clsm_cli.constants import WINDOW_STEPS
from clsm_cli.data.splits import HELD_OUT_SPLITS, SPLITS, TRAIN_SPLITS
from clsm_cli.data.windows import seen_in_training, window_digests
from clsm_cli.errors import InputFileError, OutputError, UsageError
from clsm_cli.timebase import FOUR_FOUR, Grid, Meter, grid_from_record, meters_text
from clsm_cli.music.tokens import TOKEN_DTYPE

FORMAT_NAME = "clsm-windows"
FORMAT_VERSION = 2  # 2: one folder per meter group
SINGLE_METER_FORMAT_VERSION = 1  # still read: its windows are the 4/4 group's
READABLE_FORMAT_VERSIONS = (SINGLE_METER_FORMAT_VERSION, FORMAT_VERSION)
MANIFEST_NAME = "manifest.json"
SOURCES_NAME = "sources.json"
ORIGINS_NAME = "origins.i32"
ORIGIN_FIELDS = ("source", "track", "first_bar", "semitones")
ORIGIN_DTYPE = np.dtype("<i4")
DEFAULT_WINDOWS_PER_SHARD = 65_536  # 8 MiB of tokens per shard file
_PENDING_SUFFIX = ".pending"
_COPY_CHUNK_WINDOWS = 65_536


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.u8"


def write_json(path: Path, data) -> None:
    """Deterministic JSON: sorted keys, fixed indentation, trailing newline."""
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


class _SplitWriter:
    """Appends windows to one split's shards and origins file, hashing as it goes.

    Files are opened for each write and closed after it: a build of many meter groups (a MIDI
    collection holds dozens of meters) keeps 8 writers per group and must not run out of file
    handles.
    """

    def __init__(self, directory: Path, windows_per_shard: int, window_steps: int):
        self.directory = directory
        self.windows_per_shard = windows_per_shard
        self.window_steps = window_steps
        directory.mkdir(parents=True, exist_ok=True)
        (directory / ORIGINS_NAME).write_bytes(b"")
        self.count = 0
        self.shards: list[dict] = []  # {"file", "windows", "sha256"} of closed shards
        self._shard_hash = None  # of the open shard; None when no shard is open
        self._shard_count = 0

    def write(self, windows: np.ndarray, origins: np.ndarray) -> None:
        windows = np.ascontiguousarray(windows, dtype=TOKEN_DTYPE)
        origins = np.ascontiguousarray(origins, dtype=ORIGIN_DTYPE)
        assert windows.ndim == 2 and windows.shape[1] == self.window_steps and origins.shape == (len(windows), 4)
        with open(self.directory / ORIGINS_NAME, "ab") as handle:
            handle.write(origins.tobytes())
        offset = 0
        while offset < len(windows):
            if self._shard_hash is None:
                self._shard_hash = hashlib.sha256()
                self._shard_count = 0
            take = min(self.windows_per_shard - self._shard_count, len(windows) - offset)
            block = windows[offset : offset + take].tobytes()
            with open(self.directory / shard_name(len(self.shards)), "ab") as handle:
                handle.write(block)
            self._shard_hash.update(block)
            self._shard_count += take
            self.count += take
            offset += take
            if self._shard_count == self.windows_per_shard:
                self._close_shard()

    def _close_shard(self) -> None:
        self.shards.append(
            {"file": shard_name(len(self.shards)), "windows": self._shard_count, "sha256": self._shard_hash.hexdigest()}
        )
        self._shard_hash = None

    def close(self) -> None:
        if self._shard_hash is not None:
            self._close_shard()


@dataclass
class HeldOutReport:
    """What the training-overlap filter did to one held-out split."""

    windows_before: int = 0
    dropped_seen_in_training: int = 0


@dataclass
class DatasetWriter:
    """Streams one meter group's windows into its folder (inside a temporary build directory).

    Training windows go straight to their shards and leave a 64-bit digest behind (8 bytes per
    original-key training window is the only memory that grows with the corpus). Held-out windows
    wait in pending files until :meth:`finish`, which drops those equal to a training window
    (:func:`clsm_cli.data.windows.seen_in_training`) and writes the rest to their shards.
    """

    directory: Path
    windows_per_shard: int = DEFAULT_WINDOWS_PER_SHARD
    window_steps: int = WINDOW_STEPS  # 8 bars of the group's meter
    _writers: dict = field(default_factory=dict)
    _pending: dict = field(default_factory=dict)
    _training_digests: list = field(default_factory=list)
    held_out: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.windows_per_shard < 1:
            raise ValueError("windows_per_shard must be at least 1")
        for split in SPLITS:
            self._writers[split] = _SplitWriter(self.directory / split, self.windows_per_shard, self.window_steps)
        for split in HELD_OUT_SPLITS:
            self._pending[split] = _SplitWriter(self.directory / (split + _PENDING_SUFFIX), 1 << 62, self.window_steps)
            self.held_out[split] = HeldOutReport()

    def add_training(self, split: str, windows: np.ndarray, origins: np.ndarray, original_key: np.ndarray) -> None:
        """Training windows (augmented) and, separately, the same windows in their original key."""
        assert split in TRAIN_SPLITS
        self._writers[split].write(windows, origins)
        if len(original_key):
            self._training_digests.append(window_digests(original_key))

    def add_held_out(self, split: str, windows: np.ndarray, origins: np.ndarray) -> None:
        assert split in HELD_OUT_SPLITS
        self._pending[split].write(windows, origins)
        self.held_out[split].windows_before += len(windows)

    def finish(self) -> dict[str, dict]:
        """Filter and write the held-out splits; returns per split ``{"windows", "shards"}``."""
        digests = np.concatenate(self._training_digests) if self._training_digests else np.zeros(0, np.uint64)
        digests = np.unique(digests)  # sorted
        self._training_digests = []
        for split in HELD_OUT_SPLITS:
            pending = self._pending[split]
            pending.close()
            windows = _memmap_or_empty(pending.directory / shard_name(0), TOKEN_DTYPE, self.window_steps)
            origins = _memmap_or_empty(pending.directory / ORIGINS_NAME, ORIGIN_DTYPE, len(ORIGIN_FIELDS))
            for start in range(0, len(windows), _COPY_CHUNK_WINDOWS):
                block = np.asarray(windows[start : start + _COPY_CHUNK_WINDOWS])
                fresh = ~seen_in_training(block, digests)
                self.held_out[split].dropped_seen_in_training += int((~fresh).sum())
                self._writers[split].write(block[fresh], np.asarray(origins[start : start + _COPY_CHUNK_WINDOWS])[fresh])
            del windows, origins
            shutil.rmtree(pending.directory)
        result = {}
        for split in SPLITS:
            writer = self._writers[split]
            writer.close()
            result[split] = {"windows": writer.count, "shards": writer.shards}
        return result

    def abandon(self) -> None:
        for writer in list(self._writers.values()) + list(self._pending.values()):
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - best effort while cleaning up after a failure
                pass


def _memmap_or_empty(path: Path, dtype, row_length: int) -> np.ndarray:
    if not path.exists() or path.stat().st_size == 0:
        return np.zeros((0, row_length), dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r").reshape(-1, row_length)


def content_sha256(directory: Path) -> str:
    """sha256 over every file of a dataset directory except the manifest, in sorted path order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST_NAME):
        relative = path.relative_to(directory).as_posix()
        digest.update(relative.encode("utf-8") + b"\0")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


# --- atomic output -----------------------------------------------------------------------------


def check_output_dir(out_dir: Path, force: bool) -> None:
    """Refuse, before any work, to replace a non-empty directory without ``--force``.

    With ``--force`` only an existing dataset (it has a manifest) or an empty directory is
    replaced, so a mistyped ``--out`` can never wipe an unrelated folder.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir} exists and is not a directory; choose another --out")
    if not out_dir.is_dir() or not any(out_dir.iterdir()):
        return
    if not (out_dir / MANIFEST_NAME).is_file():
        raise OutputError(f"{out_dir} is not empty and holds no clsm dataset; choose another --out")
    if not force:
        raise OutputError(f"{out_dir} already holds a dataset; pass --force to replace it")


def temporary_dir_for(out_dir: Path) -> Path:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    temporary = out_dir.parent / f".{out_dir.name}.building-{os.getpid()}"
    if temporary.exists():
        shutil.rmtree(temporary)
    temporary.mkdir()
    return temporary


def publish(temporary: Path, out_dir: Path) -> None:
    """Move a finished build into place (rename), replacing the old dataset only at the very end."""
    old = None
    if out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
        os.replace(out_dir, old)
    os.replace(temporary, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# --- reading -----------------------------------------------------------------------------------


def read_manifest(directory: Path | str) -> dict:
    """The manifest of a dataset directory, checked for format and version."""
    directory = Path(directory)
    path = directory / MANIFEST_NAME
    if not directory.is_dir():
        raise InputFileError(f"dataset directory {directory} does not exist; build one with `clsm data build`")
    if not path.is_file():
        raise InputFileError(f"{directory} holds no {MANIFEST_NAME}; is it a dataset built by `clsm data build`?")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputFileError(f"{path} is not readable JSON ({error}); rebuild the dataset") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise InputFileError(f"{path} is not a clsm dataset manifest; rebuild the dataset")
    if manifest.get("format_version") not in READABLE_FORMAT_VERSIONS:
        raise InputFileError(
            f"{directory} has dataset format version {manifest.get('format_version')}, this clsm reads "
            f"versions {' and '.join(map(str, READABLE_FORMAT_VERSIONS))}; rebuild it with `clsm data build`"
        )
    if manifest["format_version"] == FORMAT_VERSION and not isinstance(manifest.get("meter_groups"), dict):
        raise InputFileError(f"{path} lists no meter groups; rebuild the dataset")
    return manifest


def manifest_grid(manifest: dict) -> Grid:
    """The grid a dataset's windows are on (``timebase.Grid``); a manifest without one is on 16ths."""
    try:
        return grid_from_record(manifest.get("grid"))
    except (TypeError, ValueError):
        raise InputFileError(f"the dataset manifest names a grid this clsm does not know ({manifest.get('grid')!r}); rebuild it") from None


def group_folder_name(group: Meter) -> str:
    """``4-4`` for the 4/4 group: a folder name without a slash."""
    return f"{group.numerator}-{group.denominator}"


def meter_groups(manifest: dict) -> dict[str, dict]:
    """The meter groups of a dataset, ``{"4/4": record, ...}``; a version-1 dataset is one 4/4 group.

    A record holds ``folder`` (relative to the dataset), ``window_steps``, ``steps_per_bar`` and
    ``splits`` (per split: songs, files, tracks, windows, shards, ...).
    """
    if manifest.get("format_version") == SINGLE_METER_FORMAT_VERSION:
        return {
            str(FOUR_FOUR): {
                "folder": ".",
                "steps_per_bar": FOUR_FOUR.steps_per_bar,
                "window_steps": FOUR_FOUR.window_steps,
                "splits": manifest.get("splits", {}),
            }
        }
    return manifest["meter_groups"]


class WindowSet:
    """The windows of one split of one meter group, memory-mapped: ``ws[i]`` is ``(window_steps,)``,
    ``ws[indices]`` is ``(n, window_steps)``; ``meter_group`` and ``window_steps`` say which."""

    def __init__(self, directory: Path, split: str, group: str, record: dict):
        self.directory = Path(directory)  # the group's folder
        self.split = split
        self.meter_group = group
        self.window_steps = int(record["window_steps"])
        info = record["splits"][split]
        self._shards: list[np.ndarray] = []
        for shard in info["shards"]:
            path = self.directory / split / shard["file"]
            expected = shard["windows"] * self.window_steps
            if not path.is_file() or path.stat().st_size != expected:
                raise InputFileError(f"shard {path} is missing or truncated; rebuild the dataset")
            self._shards.append(np.memmap(path, dtype=TOKEN_DTYPE, mode="r").reshape(-1, self.window_steps))
        sizes = [len(s) for s in self._shards]
        self._per_shard = sizes[0] if sizes else 1
        if any(size != self._per_shard for size in sizes[:-1]):
            raise InputFileError(f"the shards of {self.directory / split} have uneven sizes; rebuild the dataset")
        self._length = int(sum(sizes))
        if self._length != info["windows"]:
            raise InputFileError(f"{self.directory / split} holds {self._length} windows, the manifest says {info['windows']}")
        origins_path = self.directory / split / ORIGINS_NAME
        if not origins_path.is_file() or origins_path.stat().st_size != self._length * len(ORIGIN_FIELDS) * 4:
            raise InputFileError(f"{origins_path} is missing or truncated; rebuild the dataset")
        self.origins = _memmap_or_empty(origins_path, ORIGIN_DTYPE, len(ORIGIN_FIELDS))
        self._sources: list[dict] | None = None

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[np.ndarray]:
        for shard in self._shards:
            yield from shard

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, (int, np.integer)):
            position = int(index) + (self._length if index < 0 else 0)
            if not 0 <= position < self._length:
                raise IndexError(f"window {index} out of range for {self._length} windows")
            shard, row = divmod(position, self._per_shard)
            return np.asarray(self._shards[shard][row])
        if isinstance(index, slice):
            index = np.arange(self._length)[index]
        index = np.asarray(index)
        if index.dtype == bool:
            if index.shape != (self._length,):
                raise IndexError(f"a boolean mask must have one entry per window ({self._length})")
            index = np.flatnonzero(index)
        positions = index.astype(np.int64)
        if positions.ndim != 1:
            raise TypeError("index windows with an int, a slice or a 1-D integer array")
        positions = np.where(positions < 0, positions + self._length, positions)
        if len(positions) and (positions.min() < 0 or positions.max() >= self._length):
            raise IndexError(f"window index out of range for {self._length} windows")
        result = np.empty((len(positions), self.window_steps), dtype=TOKEN_DTYPE)
        shard_of, row_of = np.divmod(positions, self._per_shard)
        for shard in np.unique(shard_of):
            chosen = shard_of == shard
            result[chosen] = self._shards[shard][row_of[chosen]]
        return result

    @property
    def sources(self) -> list[dict]:
        if self._sources is None:
            try:
                self._sources = json.loads((self.directory / SOURCES_NAME).read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as error:
                raise InputFileError(f"{self.directory / SOURCES_NAME} is unreadable ({error}); rebuild the dataset") from None
        return self._sources

    def origin(self, index: int) -> dict:
        """Where window ``index`` came from: source file, song, track, first bar, transposition."""
        source, track, first_bar, semitones = (int(v) for v in self.origins[index])
        entry = self.sources[source]
        return {"source": entry["source"], "song": entry["song"], "track": track, "first_bar": first_bar, "semitones": semitones}

    def song(self, index: int) -> str:
        return self.sources[int(self.origins[index][0])]["song"]


def open_split(data_dir: Path | str, split: str, meter_group: str | Meter = "4/4") -> WindowSet:
    """The windows of ``split`` of one meter group in a dataset built by ``clsm data build``.

    ``meter_group`` is a meter such as ``"3/4"``; a meter stands for its group (``"2/2"`` opens the
    4/4 group). A dataset of format version 1 holds the 4/4 group only. InputFileError (exit 3)
    when the dataset holds no windows of that group, naming the groups it holds.
    """
    if split not in SPLITS:
        raise UsageError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    group = (meter_group if isinstance(meter_group, Meter) else Meter.parse(meter_group)).group
    data_dir = Path(data_dir)
    groups = meter_groups(read_manifest(data_dir))
    if str(group) not in groups:
        held = meters_text(sorted(Meter.parse(name) for name in groups)) or "no meter at all"
        raise InputFileError(
            f"{data_dir} holds no {group} windows (it holds {held}); build them with "
            f"`clsm data build SRC --out DIR --meters {group}`"
        )
    record = groups[str(group)]
    return WindowSet(data_dir / record["folder"], split, str(group), record)
