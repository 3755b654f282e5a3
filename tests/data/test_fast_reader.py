"""``clsm data build`` reads with ``midi_read.read_note_table``; the editing commands with ``read_midi``.
Every file must give the same windows (tokens), track counts and skip reason either way."""

from __future__ import annotations

import random
from pathlib import Path

from clsm_cli.data.corpus import (
    SongResult,
    WorkItem,
    midi_song_notes,
    process_item,
    read_midi_notes,
    result_of_reading,
)
from clsm_cli.music.midi_read import read_midi
from tests.data.synthetic_corpus import write_corpus
from synthetic_midi.lmd_like import lmd_like_files


def full_reader_result(path: Path) -> SongResult:
    """process_item as it would be with the editing commands' reader."""
    return result_of_reading(lambda: midi_song_notes(read_midi(path)))


def facts(result: SongResult) -> tuple:
    tracks = [
        (t.number, t.cut.windows.tobytes(), t.cut.start_bars.tolist(), t.cut.shifts, t.cut.dropped_for_rest)
        for t in result.tracks
    ]
    return result.status, result.detail, tracks, result.track_counts, result.windows_dropped_for_rest


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
    assert {"kept", "meter", "no usable track", "no window", "unreadable"} <= statuses
    assert "error" not in statuses  # neither reader may crash on these files
    assert sum(len(t.cut) for p in paths for t in full_reader_result(p).tracks) > 100


def test_song_notes_are_equal_from_a_midi_song_and_from_a_note_table(tmp_path):
    kept = 0
    for index, data in enumerate(lmd_like_files(4)):
        path = tmp_path / f"song{index}.mid"
        path.write_bytes(data)
        if read_midi(path).time_signatures[0][1:] != (4, 4):
            continue  # a 3/4 song: skipped for its meter, compared in the test above
        notes = read_midi_notes(path)
        assert notes == midi_song_notes(read_midi(path))
        assert sum(len(track.notes) for track in notes.tracks) > 100
        kept += 1
    assert kept >= 2
