"""``clsm data build`` reads with ``midi_read.read_note_table``; the editing commands with ``read_midi``.
Every file must give the same windows (tokens), track counts and skip reason either way."""

from __future__ import annotations

import random
from pathlib import Path

from clsm_cli.data.song_notes import midi_song_notes, read_midi_notes
from clsm_cli.data.song_windows import SongResult, WorkItem, process_item, result_of_reading
from clsm_cli.timebase import Meter
from clsm_cli.music.midi_read import read_midi
from tests.data.synthetic_corpus import write_corpus
from synthetic_midi.lmd_like import lmd_like_files


def full_reader_result(path: Path, meter_groups=None) -> SongResult:
    """process_item as it would be with the editing commands' reader."""
    return result_of_reading(lambda: midi_song_notes(read_midi(path), meter_groups), meter_groups)


def facts(result: SongResult) -> tuple:
    tracks = [
        (t.number, t.meter_group, t.cut.windows.tobytes(), t.cut.start_bars.tolist(), t.cut.shifts, t.cut.dropped_for_rest)
        for t in result.tracks
    ]
    meter = (result.meters, result.windows_dropped_at_meter_change)
    return result.status, result.detail, tracks, result.track_counts, result.windows_dropped_for_rest, meter


def test_every_file_gives_the_same_windows_and_skip_reason_with_both_readers(tmp_path):
    write_corpus(tmp_path / "synthetic")
    lmd = tmp_path / "lmd"
    lmd.mkdir()
    for index, data in enumerate(lmd_like_files(4)):
        (lmd / f"song{index}.mid").write_bytes(data)
        # The same song cut short, and with a byte no MIDI file may hold: refused alike.
        (lmd / f"truncated{index}.mid").write_bytes(data[: len(data) * 2 // 3])
        damaged = bytearray(data)
        damaged[random.Random(index).randrange(200, len(data) - 10)] = 0xF4
        (lmd / f"damaged{index}.mid").write_bytes(bytes(damaged))
    paths = sorted(tmp_path.rglob("*.mid"))
    statuses = set()
    for path in paths:
        fast = process_item(WorkItem(label=path.name, identity=path.stem, split="train-1", path=str(path)))
        assert facts(fast) == facts(full_reader_result(path)), path.name
        statuses.add(fast.status)
        # Keeping 4/4 only: songs in no bar of 4/4 or 2/2 are skipped for their meter by both.
        item = WorkItem(path.name, path.stem, "train-1", path=str(path), meter_groups=("4/4",))
        four_four = process_item(item)
        assert facts(four_four) == facts(full_reader_result(path, {Meter(4, 4)})), path.name
        statuses.add(four_four.status)
    assert {"kept", "meter", "no usable track", "no window", "unreadable"} <= statuses
    assert "error" not in statuses  # neither reader may crash on these files
    assert sum(len(t.cut) for p in paths for t in full_reader_result(p).tracks) > 100


def test_song_notes_are_equal_from_a_midi_song_and_from_a_note_table(tmp_path):
    kept = 0
    for index, data in enumerate(lmd_like_files(4)):
        path = tmp_path / f"song{index}.mid"
        path.write_bytes(data)
        notes = read_midi_notes(path)
        assert notes == midi_song_notes(read_midi(path))
        assert sum(len(track.notes) for track in notes.tracks) > 100
        kept += 1
    assert kept == 4  # every meter is read now (3/4 songs included)
