"""The data build's reader (read_note_table) against the editing commands' reader (read_midi).

Both decode events with the same code; these tests check that what each gives from there on is the
same: tracks, notes, meters, tempos, warnings, and the same sentence for a file either refuses.
"""

from __future__ import annotations

import random
from collections import deque
from pathlib import Path

import numpy as np
import pytest

from clsm_cli.errors import InputFileError
from clsm_cli.music import midi_read, smf_scan
from clsm_cli.music.midi_read import note_table_from_bytes, read_midi, read_note_table, song_from_bytes
from clsm_cli.music.song import NoteTable
from synthetic_midi.lmd_like import lmd_like_files
from synthetic_midi.midi_factory import SongSpec, TrackSpec, random_multitrack_song
from synthetic_midi.mutations import mutated, seed_files

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def random_song_files() -> list[bytes]:
    """Seeded songs of every kind midi_factory makes: types 0 and 1, resolutions, meter and
    tempo changes, jitter, velocity-0 releases, chunks that mix channels."""
    return [
        random_multitrack_song(
            seed, num_bars=6 + seed % 5, meter_changes=seed % 2 == 0, jitter_ticks=seed % 3 * 5
        ).to_bytes()
        for seed in range(12)
    ]


def table_facts(table: NoteTable) -> tuple:
    tracks = [
        (t.number, t.chunk, t.channel, t.name, t.program, t.is_drum, t.label, t.notes.to_notes()) for t in table.tracks
    ]
    return (
        str(table.path), table.ticks_per_beat, table.midi_type, tracks, table.time_signatures,
        table.had_time_signature, table.tempos, table.end_tick, table.had_tempo, table.warnings, table.last_note_end,
    )


def both_readers(data: bytes, name: str) -> tuple:
    """(what read_midi gives, what read_note_table gives) as comparable facts or error sentences."""
    try:
        song = song_from_bytes(data, name)
        full = table_facts(NoteTable.from_song(song))
        assert song.last_note_end == NoteTable.from_song(song).last_note_end
    except InputFileError as error:
        full = ("refused", error.message)
    try:
        fast = table_facts(note_table_from_bytes(data, name))
    except InputFileError as error:
        fast = ("refused", error.message)
    return full, fast


@pytest.mark.parametrize("index", range(12))
def test_random_songs_read_the_same_both_ways(index):
    full, fast = both_readers(random_song_files()[index], f"song{index}.mid")
    assert full[0] != "refused"
    assert full == fast


def test_lmd_like_songs_read_the_same_both_ways():
    for index, data in enumerate(lmd_like_files(3)):
        full, fast = both_readers(data, f"lmd{index}.mid")
        assert full[0] != "refused" and len(full[3]) >= 8  # many tracks, none refused
        assert full == fast


@pytest.mark.parametrize("name", sorted(path.name for path in FIXTURES.glob("*.mid")))
def test_fixtures_read_or_refused_the_same_both_ways(name):
    full, fast = both_readers((FIXTURES / name).read_bytes(), name)
    assert full == fast


def test_damaged_files_read_or_refused_the_same_both_ways():
    rng = random.Random("note-table")
    outcomes = {"read": 0, "refused": 0}
    for name, data in sorted(seed_files().items()):
        for _ in range(50):
            full, fast = both_readers(mutated(data, rng), name)
            assert full == fast
            outcomes["refused" if full[0] == "refused" else "read"] += 1
    assert outcomes["read"] > 20 and outcomes["refused"] > 20, outcomes


def test_read_note_table_reads_files(tmp_path):
    path = tmp_path / "song.mid"
    path.write_bytes(random_song_files()[0])
    assert table_facts(read_note_table(path)) == table_facts(NoteTable.from_song(read_midi(path)))
    with pytest.raises(InputFileError, match="does not exist"):
        read_note_table(tmp_path / "missing.mid")


@pytest.mark.parametrize("limit, words", [("MAX_EVENTS_PER_FILE", "MIDI events"), ("MAX_NOTES_PER_FILE", "notes")])
def test_event_and_note_limits_refuse_both_readers_alike(monkeypatch, limit, words):
    monkeypatch.setattr(smf_scan, limit, 15)
    notes = [(i * 10, i * 10 + 5, 60, 90) for i in range(20)]
    data = SongSpec([TrackSpec(notes, controls=[(i, 7, 100) for i in range(10)])]).to_bytes()
    full, fast = both_readers(data, "big.mid")
    assert full == fast == ("refused", f"big.mid has more than 15 {words}, more than clsm reads")


def test_unknown_meta_event_keeps_its_delta_time():
    # mido's build_meta_message drops the delta time of meta types it does not know; the reader
    # must not, or every later event of the chunk moves earlier.
    track = bytes([0x00, 0xC0, 0x00,  # program change
                   0x00, 0x90, 60, 90,  # note on at 0
                   0x60, 0xFF, 0x71, 0x02, 0x01, 0x02,  # an unknown meta type at tick 96
                   0x60, 0x80, 60, 0,  # note off at 192
                   0x00, 0xFF, 0x2F, 0x00])
    header = b"MThd" + (6).to_bytes(4, "big") + bytes([0, 0, 0, 1, 0, 96])
    data = header + b"MTrk" + len(track).to_bytes(4, "big") + track
    song = song_from_bytes(data)
    assert [(n.start_tick, n.end_tick) for n in song.tracks[0].notes] == [(0, 192)]
    assert [message.time for message in song.midi_file.tracks[0]] == [0, 0, 96, 96, 0]
    assert note_table_from_bytes(data).tracks[0].notes.end_ticks.tolist() == [192]


def reference_pairing(events: list[tuple[int, bool, bool]]) -> list[tuple[int, int]]:
    """First-in-first-out pairing written plainly: (on index, off index or -1), by on index."""
    waiting: dict[int, deque] = {}
    pairs = []
    for index, (key, is_on, is_off) in enumerate(events):
        if is_on:
            waiting.setdefault(key, deque()).append(index)
        elif is_off and waiting.get(key):
            pairs.append((waiting[key].popleft(), index))
    pairs.extend((index, -1) for queue in waiting.values() for index in queue)
    return sorted(pairs)


@pytest.mark.parametrize("seed", range(30))
def test_vectorised_pairing_matches_a_plain_first_in_first_out_queue(seed):
    rng = random.Random(seed)
    events = []
    for _ in range(rng.randint(0, 80)):
        kind = rng.choice(("on", "on", "off", "off", "other"))
        events.append((rng.randint(0, 3), kind == "on", kind == "off"))  # few keys: long queues, stray offs
    keys = np.array([key for key, _, _ in events], dtype=np.int64)
    is_on = np.array([on for _, on, _ in events], dtype=bool)
    is_off = np.array([off for _, _, off in events], dtype=bool)
    on_events, off_events = midi_read._pair_note_events(keys, is_on, is_off)
    assert list(zip(on_events.tolist(), off_events.tolist())) == reference_pairing(events)


def reference_strike_pairing(events: list[tuple[int, bool, bool]]) -> list[tuple[int, int, int]]:
    """(on index, off index or -1, re-strike index or -1), by on index: first in, first out, but by
    strikes for keys where that leaves a note-on unreleased (a note-on ends its key's sounding note)."""
    fifo = reference_pairing(events)
    unreleased = {events[on][0] for on, off in fifo if off < 0}
    result = {on: (off, -1) for on, off in fifo if events[on][0] not in unreleased}
    sounding: dict[int, int] = {}
    for index, (key, is_on, is_off) in enumerate(events):
        if key not in unreleased:
            continue
        if is_on:
            if key in sounding:
                result[sounding[key]] = (-1, index)
            result[index] = (-1, -1)
            sounding[key] = index
        elif is_off and key in sounding:
            result[sounding.pop(key)] = (index, -1)
    return sorted((on, off, struck) for on, (off, struck) in result.items())


@pytest.mark.parametrize("seed", range(30))
def test_keys_with_unreleased_notes_pair_by_strikes(seed):
    rng = random.Random(seed)
    events = []
    for _ in range(rng.randint(0, 80)):
        kind = rng.choice(("on", "on", "on", "off", "other"))  # more strikes than releases
        events.append((rng.randint(0, 3), kind == "on", kind == "off"))
    keys = np.array([key for key, _, _ in events], dtype=np.int64)
    is_on = np.array([on for _, on, _ in events], dtype=bool)
    is_off = np.array([off for _, _, off in events], dtype=bool)
    on_events, off_events = midi_read._pair_note_events(keys, is_on, is_off)
    off_events, struck = midi_read._pair_by_strikes(keys, is_on, is_off, on_events, off_events)
    assert list(zip(on_events.tolist(), off_events.tolist(), struck.tolist())) == reference_strike_pairing(events)
