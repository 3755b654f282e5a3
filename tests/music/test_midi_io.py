"""Reading MIDI files: what read_midi finds in good files and the sentence it gives for bad ones."""

import struct
from pathlib import Path

import mido
import pytest

from clsm_cli.errors import EXIT_INPUT, ClsmError, InputFileError
from clsm_cli.music.midi_read import read_midi, read_text_events, song_from_bytes
from clsm_cli.music.song import MidiNote
from synthetic_midi.midi_factory import SongSpec, TrackSpec, make_midi, melody_track, random_multitrack_song

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack(">I", len(body)) + body


def header(midi_format=1, tracks=1, division=480) -> bytes:
    return chunk(b"MThd", struct.pack(">HHH", midi_format, tracks, division))


END = bytes([0x00, 0xFF, 0x2F, 0x00])


def notes_of(song, number):
    return [(n.start_tick, n.end_tick, n.pitch, n.velocity) for n in song.tracks[number - 1].notes]


# --- good files -------------------------------------------------------------------------------------


def test_type1_tracks_are_chunk_channel_pairs_in_order(tmp_path):
    path = make_midi(
        tmp_path / "song.mid",
        [
            TrackSpec([(0, 480, 60, 90)], channel=0, program=73, name="Flute"),
            TrackSpec([(0, 960, 36, 70)], channel=1, program=33, name="Bass"),
            TrackSpec([(0, 120, 38, 100)], channel=9, program=None, name="Kit"),
        ],
    )
    song = read_midi(path)
    assert song.midi_type == 1 and song.ticks_per_beat == 480 and song.path == path and song.name == "song.mid"
    assert [(t.number, t.chunk, t.channel, t.name, t.program, t.is_drum) for t in song.tracks] == [
        (1, 1, 0, "Flute", 73, False),
        (2, 2, 1, "Bass", 33, False),
        (3, 3, 9, "Kit", 0, True),
    ]
    assert song.tracks[0].notes == [MidiNote(0, 480, 60, 90)]
    assert isinstance(song.midi_file, mido.MidiFile) and len(song.midi_file.tracks) == 4


def test_type0_file_splits_into_one_track_per_channel(tmp_path):
    song = read_midi(FIXTURES / "type0_mixed.mid")
    assert song.midi_type == 0 and song.ticks_per_beat == 96
    assert [(t.number, t.chunk, t.channel, t.program, t.is_drum) for t in song.tracks] == [
        (1, 0, 0, 0, False),
        (2, 0, 1, 33, False),
        (3, 0, 9, 0, True),
    ]
    assert [t.label for t in song.tracks] == ["channel 1", "channel 2", "Drums"]
    assert len(song.tracks[0].notes) == 6 and len(song.tracks[2].notes) == 8


def test_chunk_mixing_channels_names_each_part(tmp_path):
    path = make_midi(
        tmp_path / "mixed.mid",
        [
            TrackSpec([(0, 480, 72, 90)], channel=4, program=0, name="Keys", chunk=1),
            TrackSpec([(0, 480, 48, 90)], channel=2, program=0, name="Keys", chunk=1),
        ],
    )
    song = read_midi(path)
    assert [(t.chunk, t.channel, t.name) for t in song.tracks] == [(1, 2, "Keys (channel 3)"), (1, 4, "Keys (channel 5)")]


def test_running_status_velocity_zero_overlaps_and_unreleased_notes():
    song = read_midi(FIXTURES / "running_status.mid")
    assert song.midi_type == 0 and song.ticks_per_beat == 96
    assert not song.had_time_signature and song.time_signatures == []
    assert not song.had_tempo and song.tempos == [(0, 500_000)]
    (track,) = song.tracks
    assert (track.name, track.program) == ("Lead", 5)
    # Velocity-0 note-on ends C4; the two D4s pair first-in-first-out; E4 is never released and
    # ends with its track (tick 368).
    assert notes_of(song, 1) == [(0, 96, 60, 100), (96, 192, 62, 90), (144, 240, 62, 110), (240, 368, 64, 95)]
    assert any("never released" in warning for warning in song.warnings)


def test_tempo_meter_and_text_maps(tmp_path):
    spec = SongSpec(
        [TrackSpec([(0, 4000, 60, 90)])],
        time_signatures=[(0, 3, 4), (1440, 6, 8)],
        tempos=[(0, 600_000), (900, 400_000)],
        texts=[(10, "hello")],
    )
    song = read_midi(spec.write(tmp_path / "maps.mid"))
    assert song.time_signatures == [(0, 3, 4), (1440, 6, 8)] and song.had_time_signature
    assert song.tempos == [(0, 600_000), (900, 400_000)] and song.had_tempo
    assert song.end_tick == 4000
    assert read_text_events(tmp_path / "maps.mid") == ["hello"]


@pytest.mark.parametrize("ticks_per_beat", [1, 24, 96, 383, 480, 960, 15360, 32767])
def test_any_ticks_per_beat(ticks_per_beat):
    data = SongSpec([TrackSpec([(0, 3 * ticks_per_beat, 64, 80)])], ticks_per_beat=ticks_per_beat).to_bytes()
    song = song_from_bytes(data)
    assert song.ticks_per_beat == ticks_per_beat
    assert notes_of(song, 1) == [(0, 3 * ticks_per_beat, 64, 80)]


def test_same_tick_release_and_attack_of_one_pitch_keeps_both_notes():
    # Some writers put the next note-on before the previous note-off at the same tick.
    body = bytes([0x00, 0x90, 60, 90, 0x83, 0x60, 0x90, 60, 91, 0x00, 0x80, 60, 0, 0x83, 0x60, 0x80, 60, 0]) + END
    song = song_from_bytes(header() + chunk(b"MTrk", body))
    assert notes_of(song, 1) == [(0, 480, 60, 90), (480, 960, 60, 91)]


def test_zero_length_notes_and_stray_releases_are_ignored():
    body = bytes([0x00, 0x90, 62, 90, 0x00, 0x80, 62, 0, 0x00, 0x80, 65, 0, 0x00, 0x90, 60, 90, 0x60, 0x80, 60, 0]) + END
    song = song_from_bytes(header() + chunk(b"MTrk", body))
    assert notes_of(song, 1) == [(0, 96, 60, 90)]


def test_damaged_meta_event_is_kept_as_raw_bytes():
    # An invalid key signature (mode 7) must not make the file unreadable.
    body = bytes([0x00, 0xFF, 0x59, 0x02, 0x00, 0x07, 0x00, 0x90, 60, 90, 0x60, 0x80, 60, 0]) + END
    song = song_from_bytes(header() + chunk(b"MTrk", body))
    assert notes_of(song, 1) == [(0, 96, 60, 90)]
    assert song.midi_file.tracks[0][0].bytes() == [0xFF, 0x59, 0x02, 0x00, 0x07]


def test_unknown_chunks_are_skipped_and_riff_wrappers_opened():
    body = bytes([0x00, 0x90, 60, 90, 0x60, 0x80, 60, 0]) + END
    smf = header() + chunk(b"XFIH", b"\x01\x02\x03") + chunk(b"MTrk", body)
    song = song_from_bytes(smf)
    assert notes_of(song, 1) == [(0, 96, 60, 90)] and any("skipped" in w for w in song.warnings)
    riff_body = b"RMID" + chunk(b"data", b"")[:4] + struct.pack("<I", len(smf)) + smf
    riff = b"RIFF" + struct.pack("<I", len(riff_body)) + riff_body
    assert notes_of(song_from_bytes(riff), 1) == [(0, 96, 60, 90)]


def test_random_songs_read_back_every_note(tmp_path):
    for seed in range(6):
        spec = random_multitrack_song(seed, midi_type=1)
        song = read_midi(spec.write(tmp_path / f"r{seed}.mid"))
        written = {}
        for part in spec.tracks:
            key = part.channel
            written.setdefault(key, []).extend((s, e, p, v) for s, e, p, v in part.notes if e > s)
        read = {}
        for track in song.tracks:
            read.setdefault(track.channel, []).extend((n.start_tick, n.end_tick, n.pitch, n.velocity) for n in track.notes)
        assert {k: sorted(v) for k, v in read.items()} == {k: sorted(v) for k, v in written.items()}


# --- bad files --------------------------------------------------------------------------------------

BAD_FIXTURES = {
    "empty.mid": "empty.mid is empty (0 bytes), not a MIDI file",
    "not_midi.mid": "not_midi.mid is not a MIDI file (it does not start with the MIDI header 'MThd')",
    "truncated.mid": "truncated.mid is truncated: track 4 should hold 156 bytes but the file ends after 7",
    "header_only.mid": "header_only.mid contains only a MIDI header and no tracks",
    "no_notes.mid": "no_notes.mid has no notes",
    "huge_length.mid": "huge_length.mid is corrupt: track 1 claims 4,294,967,280 bytes, far more than a MIDI file holds",
    "type2.mid": "type2.mid is a type 2 MIDI file (independent patterns), which clsm cannot edit; save it as type 0 or 1",
    "smpte.mid": "smpte.mid counts time in SMPTE frames rather than beats, which clsm does not support; "
    "save it with ticks per beat",
    "too_many_tracks.mid": "too_many_tracks.mid declares 60,000 tracks, more than the 1,024 clsm reads; "
    "the file looks corrupt",
}


@pytest.mark.parametrize("name", sorted(BAD_FIXTURES))
def test_bad_fixture_gives_its_sentence(name):
    with pytest.raises(InputFileError) as caught:
        read_midi(FIXTURES / name)
    assert caught.value.message == BAD_FIXTURES[name]
    assert caught.value.exit_code == EXIT_INPUT


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        read_midi(tmp_path / "nope.mid")
    with pytest.raises(InputFileError, match="is a folder, not a MIDI file"):
        read_midi(tmp_path)


def test_oversized_file_is_refused_before_reading(tmp_path, monkeypatch):
    import clsm_cli.music.smf_scan as smf_scan

    path = tmp_path / "big.mid"
    path.write_bytes(b"MThd" + b"\0" * 2000)
    monkeypatch.setattr(smf_scan, "MAX_MIDI_FILE_BYTES", 1000)
    opened = []
    monkeypatch.setattr("builtins.open", lambda *a, **k: opened.append(a) or (_ for _ in ()).throw(AssertionError))
    with pytest.raises(InputFileError, match="larger than the 0 MB clsm reads"):
        read_midi(path)
    assert opened == []  # refused from the file size alone


@pytest.mark.parametrize(
    "data, words",
    [
        (b"MThd\0\0", "header is incomplete"),
        (header(tracks=0) + b"\0" * 20, "no tracks"),
        (chunk(b"MThd", b"\0\x01\0\x01\0") + b"x" * 20, "header is too short"),
        (header(5), "MIDI format 5"),
        (header(division=0) + chunk(b"MTrk", END), "0 ticks per beat"),
        (header(tracks=2) + chunk(b"MTrk", bytes([0, 0x90, 60, 90, 0x60, 0x80, 60, 0]) + END), "announces 2 tracks"),
        (header() + chunk(b"MTrk", bytes([0x00, 60, 90]) + END), "data byte appears where an event should start"),
        (header() + chunk(b"MTrk", bytes([0x00, 0x90, 60, 200]) + END), "above 127"),
        (header() + chunk(b"MTrk", bytes([0x00, 0xF4]) + END), "status byte 0xF4"),
        (header() + chunk(b"MTrk", bytes([0x00, 0xFF, 0x01, 0x20, 65]) + END), "meta event is longer than its track"),
        (header() + chunk(b"MTrk", bytes([0x00, 0xF0, 0x7F, 1]) + END), "system-exclusive message is longer"),
        (header() + chunk(b"MTrk", bytes([0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0x90, 60, 90])), "longer than MIDI allows"),
        (header() + chunk(b"MTrk", bytes([0x00, 0x90, 60])), "cut off at the end of its track"),
        (header() + b"\x00\x01\x02\x03" + b"\0\0\0\x01" + b"x", "expected a track"),
        (header() + chunk(b"MTrk", bytes([0x00, 0xFF, 0x58, 0x04, 0, 2, 24, 8, 0x00, 0x90, 60, 90, 0x60, 0x80, 60, 0])),
         "impossible time signature"),
        (header(division=1) + chunk(b"MTrk", bytes([0x00, 0x90, 60, 90, 0x87, 0xFF, 0xFF, 0x7F, 0x80, 60, 0])),
         "timing looks corrupt"),
    ],
)
def test_corrupt_bytes_give_an_input_error(data, words):
    with pytest.raises(InputFileError) as caught:
        song_from_bytes(data, "bad.mid")
    assert words in caught.value.message
    assert caught.value.message.startswith("bad.mid ")
    assert "\n" not in caught.value.message


def test_too_many_notes_is_refused_while_reading(monkeypatch):
    import clsm_cli.music.smf_scan as smf_scan

    monkeypatch.setattr(smf_scan, "MAX_NOTES_PER_FILE", 10)
    data = SongSpec([TrackSpec([(i * 10, i * 10 + 5, 60, 90) for i in range(11)])]).to_bytes()
    with pytest.raises(InputFileError, match="more than 10 notes"):
        song_from_bytes(data)


def test_every_bad_input_is_a_clsm_error_not_a_crash():
    for name in BAD_FIXTURES:
        data = (FIXTURES / name).read_bytes()
        with pytest.raises(ClsmError):
            song_from_bytes(data, name)


def test_melody_track_helper_builds_sixteenths():
    spec = melody_track([(0, 4, 60)], ticks_per_step=120)
    assert spec.notes == [(0, 480, 60, 90)]


@pytest.mark.parametrize("seed", range(4))
def test_parser_agrees_with_mido_on_every_message(seed):
    # An independent reader (mido's own) must see exactly the messages ours keeps for the writer.
    import io

    data = random_multitrack_song(seed).to_bytes()
    ours = song_from_bytes(data).midi_file
    theirs = mido.MidiFile(file=io.BytesIO(data))
    assert len(ours.tracks) == len(theirs.tracks)
    for mine, reference in zip(ours.tracks, theirs.tracks):
        assert [(m.time, m.bytes()) for m in mine] == [(m.time, m.bytes()) for m in reference]


def test_every_channel_message_kind_agrees_with_mido():
    import io

    body = bytes([
        0x00, 0x93, 60, 100, 0x00, 0xA3, 60, 33, 0x00, 0xB3, 7, 90, 0x00, 0xC3, 12, 0x00, 0xD3, 44,
        0x00, 0xE3, 0x00, 0x40, 0x00, 0xE3, 0x7F, 0x7F, 0x00, 0xE3, 0x00, 0x00, 0x10, 0x83, 60, 64,
        0x00, 0xF0, 0x03, 0x7E, 0x09, 0xF7, 0x00, 0xFF, 0x7F, 0x02, 0x01, 0x02,
    ]) + END
    data = header() + chunk(b"MTrk", body)
    ours = song_from_bytes(data).midi_file.tracks[0]
    theirs = mido.MidiFile(file=io.BytesIO(data)).tracks[0]
    assert [(m.time, m.bytes()) for m in ours] == [(m.time, m.bytes()) for m in theirs]
    assert [m.type for m in ours][:7] == ["note_on", "polytouch", "control_change", "program_change",
                                         "aftertouch", "pitchwheel", "pitchwheel"]
    assert [m.pitch for m in ours if m.type == "pitchwheel"] == [0, 8191, -8192]
