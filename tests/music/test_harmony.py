"""Reading the chord the other tracks play on each beat (music/harmony.py)."""

from __future__ import annotations

import numpy as np

from clsm_cli.music.harmony import beat_chords, chord_of_weights

C_MAJOR, A_MINOR, B_DIMINISHED = frozenset({0, 4, 7}), frozenset({9, 0, 4}), frozenset({11, 2, 5})


def notes(*rows):
    starts, ends, pitches = zip(*rows)
    return np.array(starts), np.array(ends), np.array(pitches)


def test_a_struck_triad_is_named_on_each_beat_it_sounds():
    starts, ends, pitches = notes((0, 8, 48), (0, 8, 64), (0, 8, 67), (8, 16, 57), (8, 16, 60), (8, 16, 64))
    chords = beat_chords(starts, ends, pitches, [0, 4, 8, 12], span=4)
    assert chords == {0: C_MAJOR, 4: C_MAJOR, 8: A_MINOR, 12: A_MINOR}


def test_a_passing_note_does_not_change_the_chord():
    starts, ends, pitches = notes((0, 8, 60), (0, 8, 64), (0, 8, 67), (2, 3, 62))  # a 16th D over C major
    assert beat_chords(starts, ends, pitches, [0], span=8) == {0: C_MAJOR}


def test_the_weight_of_the_span_decides_between_two_chords():
    # A minor held through the beat, C major only struck at its end: the span's weight names A minor.
    starts, ends, pitches = notes((0, 7, 57), (0, 7, 60), (0, 7, 64), (7, 8, 55), (7, 8, 60), (7, 8, 64))
    assert beat_chords(starts, ends, pitches, [0], span=8) == {0: A_MINOR}


def test_beats_where_nothing_sounds_have_no_chord():
    starts, ends, pitches = notes((0, 4, 60), (0, 4, 64), (0, 4, 67))
    assert beat_chords(starts, ends, pitches, [0, 4, 8], span=4) == {0: C_MAJOR}
    assert chord_of_weights(np.zeros(12)) is None


def test_a_diminished_triad_and_a_bare_fifth():
    assert chord_of_weights(np.bincount([11, 2, 5], minlength=12).astype(float)) == B_DIMINISHED
    assert chord_of_weights(np.bincount([0, 7], minlength=12).astype(float)) == C_MAJOR  # ties go to major


def test_a_lone_bass_line_names_no_chord():
    starts, ends, pitches = notes((0, 8, 36), (8, 16, 38), (16, 24, 48))  # one note at a time (octaves alike)
    assert beat_chords(starts, ends, pitches, [0, 8, 16], span=8) == {}
    assert chord_of_weights(np.bincount([7, 7], minlength=12).astype(float)) is None
