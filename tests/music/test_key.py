"""The Key value (``music/key.py``): parsing, scales, spelling, signatures and estimation."""

import mido
import numpy as np
import pytest

from clsm_cli.errors import UsageError
from clsm_cli.music.key import (
    Key,
    estimate_key,
    key_from_signature,
    parse_key,
    passage_key,
    pitch_class_weights,
)
from clsm_cli.music.midi_read import song_from_bytes

NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


def scale_names(key: Key) -> set[str]:
    return {NAMES[pc] for pc in key.scale}


@pytest.mark.parametrize(
    "text, name, scale",
    [
        ("G", "G major", {"G", "A", "B", "C", "D", "E", "F#"}),
        ("Em", "E minor", {"E", "F#", "G", "A", "B", "C", "D"}),
        ("Bb", "Bb major", {"A#", "C", "D", "D#", "F", "G", "A"}),
        ("E dorian", "E dorian", {"E", "F#", "G", "A", "B", "C#", "D"}),
        ("A harmonic-minor", "A harmonic-minor", {"A", "B", "C", "D", "E", "F", "G#"}),
        ("D mixolydian", "D mixolydian", {"D", "E", "F#", "G", "A", "B", "C"}),
        ("f# minor", "F# minor", {"F#", "G#", "A", "B", "C#", "D", "E"}),
        ("Eb major", "Eb major", {"D#", "F", "G", "G#", "A#", "C", "D"}),
    ],
)
def test_keys_parse_as_musicians_write_them(text, name, scale):
    key = parse_key(text)
    assert key.name == name
    assert scale_names(key) == scale
    assert key.source == "given"


@pytest.mark.parametrize("text", ["H", "", "C lydianish", "7", "Cm7"])
def test_a_key_that_is_not_one_is_a_usage_error_naming_the_forms(text):
    with pytest.raises(UsageError, match="e.g. G, Em, Bb"):
        parse_key(text)


def test_flat_keys_spell_their_notes_with_flats_and_modes_by_letter():
    assert parse_key("Bb").spell(70) == ("B", -1, 4)
    assert parse_key("Bb").spell(63) == ("E", -1, 4)
    assert parse_key("F").spell(70) == ("B", -1, 4)
    assert parse_key("E").spell(63) == ("D", 1, 4)
    assert parse_key("D harmonic-minor").spell(61) == ("C", 1, 4)  # the leading tone, not D flat
    assert parse_key("C").spell(61) == ("C", 1, 4)
    assert parse_key("C").spell(70) == ("B", -1, 4)
    assert parse_key("Gb").spell(71) == ("C", -1, 5)  # C flat sounds as B4, written in octave 5


def test_a_midi_key_signature_names_its_key_and_signature():
    assert key_from_signature(-2, False).name == "Bb major"
    assert key_from_signature(1, True).name == "E minor"
    assert key_from_signature(0, False).fifths == 0
    assert Key.of(8, "minor").name == "G# minor"  # five sharps, not A flat minor's seven flats


def test_the_estimate_finds_the_key_of_a_tune():
    # A G-major line: G A B C D E F# G, tonic and dominant long.
    pitches = [67, 69, 71, 72, 74, 76, 78, 79, 67, 74]
    durations = [4, 1, 1, 1, 2, 1, 1, 4, 4, 2]
    key = estimate_key(pitch_class_weights(pitches, durations))
    assert key.name == "G major" and key.source == "estimated"
    assert estimate_key(np.zeros(12)) is None


def test_a_default_c_major_signature_that_the_notes_contradict_gives_way_to_the_estimate():
    # Like a POP909 song: C major written, 114 F sharp against 38 F natural in a G-major melody.
    weights = np.zeros(12)
    weights[[7, 9, 11, 0, 2, 4]] = 100
    weights[6], weights[5] = 114, 38
    chosen = passage_key([(0, 0, False)], 0, weights)
    assert chosen.name == "G major" and chosen.source == "estimated"
    # The same notes under a one-sharp signature keep it.
    assert passage_key([(0, 1, False)], 0, weights).source == "key signature"


def test_a_signature_after_the_passage_does_not_count_and_the_relative_minor_is_found():
    weights = pitch_class_weights([69, 72, 76, 69, 71, 74, 72, 69], [4, 2, 2, 4, 1, 1, 2, 4])  # A minor
    key = passage_key([(0, 0, False), (10_000, 3, False)], 480, weights)
    assert key.name == "A minor" and key.source == "key signature"


def test_key_signatures_are_read_from_the_file():
    midi = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("key_signature", key="Bb", time=0))
    track.append(mido.Message("note_on", note=70, velocity=80, time=0))
    track.append(mido.Message("note_off", note=70, velocity=0, time=480))
    track.append(mido.MetaMessage("key_signature", key="F#m", time=0))
    track.append(mido.Message("note_on", note=66, velocity=80, time=0))
    track.append(mido.Message("note_off", note=66, velocity=0, time=480))
    midi.tracks.append(track)
    import io

    buffer = io.BytesIO()
    midi.save(file=buffer)
    song = song_from_bytes(buffer.getvalue())
    assert song.key_signatures == [(0, -2, False), (480, 3, True)]


def test_the_key_of_a_real_pop_song_passage_comes_from_all_its_pitched_tracks():
    from pathlib import Path

    from clsm_cli.music.key import song_key
    from clsm_cli.music.midi_read import read_midi

    song = read_midi(Path(__file__).parents[1] / "fixtures" / "dev_midi" / "pop909_303.mid")
    key = song_key(song, 0, song.end_tick)
    assert key is not None and len(key.scale) == 7
    drums_only = song_key(song, song.end_tick + 1, song.end_tick + 2)  # nothing sounds there
    assert drums_only is None or drums_only.source == "key signature"
