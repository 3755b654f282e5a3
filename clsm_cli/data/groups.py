"""One meter group's part of a ``clsm data build``: its splits, its shards, its counts.

Songs arrive in input order (:mod:`clsm_cli.data.corpus`). A group writes a song as soon as its
split is certain: once the group's songs have filled every split by their hash, nothing can move
any more, and the songs held back until then are written first, in their order, so the files are
the same as if every song had been written at once. A group whose hash never fills every split (a
small folder) keeps its songs until the end and splits them with :func:`plan_splits`, which moves
(and, with 3 or 4 songs, lends) songs so that every split a model kind needs holds one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clsm_cli.data import shards
from clsm_cli.data.song_windows import TrackResult, WorkItem
from clsm_cli.data.splits import HELD_OUT_SPLITS, SPLITS, TRAIN_SPLITS, SplitPlan, plan_splits
from clsm_cli.data.windows import MAX_REST_BARS, augment_windows
from clsm_cli.timebase import Meter


@dataclass(frozen=True)
class KeptSong:
    """A file or tune with windows in one group: its item, its tracks' windows, its bars' meters."""

    item: WorkItem
    tracks: list[TrackResult]
    meters: list[str]
    annotations: dict | None = None  # the reader's (POP909: chords, keys, bar steps), kept in sources.json


@dataclass
class _SplitTally:
    songs: set = field(default_factory=set)
    files: int = 0
    tracks: int = 0
    windows_original_key: int = 0


class GroupBuilder:
    """Splits and writes the songs of one meter group into ``directory`` (``DIR/4-4`` ...)."""

    def __init__(self, group: Meter, directory: Path, windows_per_shard: int):
        self.group = group
        self.directory = directory
        self.writer = shards.DatasetWriter(directory, windows_per_shard, group.window_steps)
        self.tallies = {split: _SplitTally() for split in SPLITS}
        self.sources: list[dict] = []
        self.songs_by_meter: dict[str, set] = {}
        self.windows_written = 0
        self._waiting: list[KeptSong] = []
        self._hash_splits_seen: set[str] = set()
        self._plan: SplitPlan | None = None

    @property
    def settled(self) -> bool:
        """True once every split holds a song by its hash: from then on splits are the hash's."""
        return len(self._hash_splits_seen) == len(SPLITS)

    def add(self, song: KeptSong) -> None:
        for meter in song.meters:
            self.songs_by_meter.setdefault(meter, set()).add(song.item.identity)
        if self.settled:
            self._write(song, (song.item.split,))
            return
        self._waiting.append(song)
        self._hash_splits_seen.add(song.item.split)
        if self.settled:
            for waiting in self._waiting:
                self._write(waiting, (waiting.item.split,))
            self._waiting = []

    def finish(self) -> dict:
        """Split what is still waiting, write the held-out splits and sources; the group's record."""
        if self._waiting:
            # Songs named by --test-songs stay in the test split; the others are planned.
            forced = [song for song in self._waiting if song.item.test_song]
            planned = [song for song in self._waiting if song not in forced]
            self._plan = plan_splits(song.item.identity for song in planned)
            for song in self._waiting:
                self._write(song, (song.item.split,) if song in forced else self._plan.splits_of(song.item.identity))
            self._waiting = []
        written = self.writer.finish()
        shards.write_json(self.directory / shards.SOURCES_NAME, self.sources)
        splits_record = {}
        for split in SPLITS:
            tally = self.tallies[split]
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
                record["dropped_seen_in_training"] = self.writer.held_out[split].dropped_seen_in_training
            splits_record[split] = record
        return {
            "folder": shards.group_folder_name(self.group),
            "steps_per_bar": self.group.steps_per_bar,
            "window_steps": self.group.window_steps,
            "max_rest_steps": MAX_REST_BARS * self.group.steps_per_bar,
            "songs": len({source["song"] for source in self.sources}),
            "files": len(self.sources),
            "songs_by_meter": {meter: len(songs) for meter, songs in sorted(self.songs_by_meter.items())},
            "windows": sum(record["windows"] for record in splits_record.values()),
            "split_adjustments": self._plan.notes() if self._plan else [],
            "splits": splits_record,
        }

    def abandon(self) -> None:
        self.writer.abandon()

    def _write(self, song: KeptSong, splits: tuple[str, ...]) -> None:
        item = song.item
        source_index = len(self.sources)
        entry = {"source": item.label, "song": item.identity, "split": splits[0], "meters": song.meters}
        if len(splits) > 1:
            entry["lent_to"] = list(splits[1:])
        if song.annotations:
            entry["annotations"] = song.annotations
        self.sources.append(entry)
        for split in splits:
            tally = self.tallies[split]
            tally.songs.add(item.identity)
            tally.files += 1
            for track in song.tracks:
                tally.tracks += 1
                tally.windows_original_key += len(track.cut)
                if split in TRAIN_SPLITS:
                    windows, start_bars, semitones = augment_windows(track.cut)
                    origins = _origins(source_index, track.number, start_bars, semitones)
                    self.writer.add_training(split, windows, origins, track.cut.windows)
                else:
                    windows, start_bars = track.cut.windows, track.cut.start_bars
                    semitones = np.zeros(len(windows), np.int32)
                    self.writer.add_held_out(split, windows, _origins(source_index, track.number, start_bars, semitones))
                self.windows_written += len(windows)


def _origins(source: int, track: int, start_bars: np.ndarray, semitones: np.ndarray) -> np.ndarray:
    origins = np.empty((len(start_bars), len(shards.ORIGIN_FIELDS)), dtype=shards.ORIGIN_DTYPE)
    origins[:, 0] = source
    origins[:, 1] = track
    origins[:, 2] = np.asarray(start_bars) + 1  # 1-based, as clsm show numbers bars
    origins[:, 3] = semitones
    return origins
