"""Every example and every real dev file, notated and read back by music21 (issue 26, item 4).

Each parses back with the pitches, onsets and durations (ties joined) of its melody track on the
notation grid; every measure lasts its time signature (a pickup only its own notes); each tie is
one start/stop pair; notes are spelled by the key. ABC, through music21's ABC reader, holds the
top line. About 0.1 s a file.
"""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest

from clsm_cli.editing.prepare import open_song, prepare_song
from clsm_cli.music.abc import score_to_abc
from clsm_cli.music.musicxml import score_to_musicxml
from clsm_cli.music.notation import assign_voices, track_score
from tests.music.notation_checks import joined_notes, measure_lengths, parse, tie_pairs_ok

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((ROOT / "examples").glob("*.mid")) + sorted((ROOT / "tests/fixtures/dev_midi").glob("*.mid"))


def melody_score(path):
    prepared = prepare_song(open_song(path, None), None, None)
    return track_score(prepared.song, prepared.track, list(prepared.bars), path.stem)


def test_the_files_are_there():
    assert len(FILES) == 6 + 19


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.stem)
def test_musicxml_reads_back_as_the_melody_on_its_grid(path):
    score = melody_score(path)
    text = score_to_musicxml(score)
    parsed = parse(text, "musicxml")
    assert joined_notes(parsed) == Counter((note.start, note.pitch, note.end - note.start) for note in score.notes)
    lengths = measure_lengths(parsed)
    assert [number for number, _, _ in lengths] == [measure.number for measure in score.measures]
    for (number, length, bar), measure in zip(lengths, score.measures):
        if measure.pickup:
            assert length * 12 == measure.length < bar * 12
        else:
            assert length == bar, f"measure {number} lasts {length} quarters, its time signature {bar}"
    assert tie_pairs_ok(text)
    for note in parsed.flatten().notes:
        for pitch in note.pitches:
            letter, alter, _ = score.key.spell(pitch.midi)
            assert (pitch.step, int(pitch.alter)) == (letter, alter)


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.stem)
def test_abc_reads_back_as_the_top_line(path):
    score = melody_score(path)
    parsed = parse(score_to_abc(score), "abc")
    top = Counter((chord.start, chord.pitches[0], chord.end - chord.start)
                  for chord in assign_voices(score.notes) if chord.voice == 1)
    assert joined_notes(parsed) == top
    # music21's ABC reader drops meter changes, so each bar is held to the measure it stands for.
    lengths = [length * 12 for _, length, _ in measure_lengths(parsed)]
    assert lengths == [measure.length for measure in score.measures]
    for measure in score.measures:
        if not measure.pickup:
            assert measure.length == 12 * Fraction(4 * bar_of(score, measure)[0], bar_of(score, measure)[1])


def bar_of(score, measure):
    """The time signature in force at a measure of the score."""
    signature = None
    for other in score.measures:
        signature = other.time_signature or signature
        if other is measure:
            return signature


def test_a_flat_key_writes_no_sharps_for_its_own_notes():
    path = ROOT / "examples" / "hoert-ihr-herrn.mid"  # E-flat major
    score = melody_score(path)
    assert score.key.fifths == -3
    for kind, text in (("musicxml", score_to_musicxml(score)), ("abc", score_to_abc(score))):
        names = {pitch.name for note in parse(text, kind).flatten().notes for pitch in note.pitches}
        assert {"E-", "B-"} <= names and not names & {"D#", "A#", "G#"}, (kind, names)


def test_the_hornpipe_swung_as_triplets_is_written_in_tuplets():
    score = melody_score(ROOT / "tests/fixtures/dev_midi/cre_BaconandBeanshornpipe.mid")
    pieces = [piece for measure in score.measures for piece in measure.voices[0]]
    assert sum(piece.tuplet == "start" for piece in pieces) > 40
    assert all(piece.duration in (4, 8) for piece in pieces if piece.triplet)
    assert "<actual-notes>3</actual-notes>" in score_to_musicxml(score)
    assert "(3:2:2" in score_to_abc(score)
