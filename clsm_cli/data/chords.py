"""Chord labels of POP909's ``chord_midi.txt`` (``C:maj``, ``A:min7``, ``F#:sus4/5``) as pitch
classes, and the harmony figure of issue 24: the share of notes on beats 1 and 3 that are chord
tones. Pure functions (the data build stores the chords on the song step grid; the harmony
benchmark and the card read them back)."""

from __future__ import annotations

from bisect import bisect_right
from typing import Sequence

import numpy as np

from clsm_cli.constants import HOLD_TOKEN, MIN_PITCH, NUM_PITCHES, REST_TOKEN

_ROOTS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_QUALITIES = {  # intervals above the root
    "maj": (0, 4, 7), "min": (0, 3, 7), "dim": (0, 3, 6), "aug": (0, 4, 8), "sus2": (0, 2, 7), "sus4": (0, 5, 7),
    "7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11), "min7": (0, 3, 7, 10), "minmaj7": (0, 3, 7, 11),
    "dim7": (0, 3, 6, 9), "hdim7": (0, 3, 6, 10), "maj6": (0, 4, 7, 9), "min6": (0, 3, 7, 9),
    "9": (0, 4, 7, 10, 2), "maj9": (0, 4, 7, 11, 2), "min9": (0, 3, 7, 10, 2), "11": (0, 4, 7, 10, 5),
    "13": (0, 4, 7, 10, 9), "min11": (0, 3, 7, 10, 5), "sus4(b7)": (0, 5, 7, 10), "sus4(b7,9)": (0, 5, 7, 10, 2),
}
STRONG_BEAT_STEPS = (0, 8)  # beats 1 and 3 of a 4/4 bar of 16 steps


def chord_pitch_classes(label: str) -> frozenset[int] | None:
    """The pitch classes of a chord label (None for ``N`` or a label it cannot read).

    An inversion (``/3``, ``/b7``) does not change the chord's tones; an unknown quality falls back
    on its triad (``min...`` minor, ``dim...``, ``aug...``, otherwise major)."""
    if ":" not in label:
        return None
    root_text, quality = label.split(":", 1)
    if not root_text or root_text[0] not in _ROOTS:
        return None
    root = _ROOTS[root_text[0]] + root_text[1:].count("#") - root_text[1:].count("b")
    quality = quality.split("/", 1)[0]
    intervals = _QUALITIES.get(quality)
    if intervals is None:
        prefix = next((name for name in ("min", "dim", "aug", "sus2", "sus4") if quality.startswith(name)), "maj")
        intervals = _QUALITIES[prefix]
    return frozenset((root + interval) % 12 for interval in intervals)


def chord_at(chords: Sequence[Sequence], step: int) -> frozenset[int] | None:
    """The pitch classes of the chord sounding at ``step`` ([start, end, label] rows sorted by start)."""
    index = bisect_right([row[0] for row in chords], step) - 1
    if index < 0 or step >= chords[index][1]:
        return None
    return chord_pitch_classes(chords[index][2])


def strong_beat_chord_tones(target_tokens: np.ndarray, song_step: int, chords: Sequence[Sequence],
                            steps_per_bar: int = 16) -> tuple[int, int]:
    """(chord tones, notes) among the notes starting on beats 1 and 3 of a target whose first token
    sits at ``song_step`` of the song step grid (bar-aligned), where a chord is annotated."""
    tones = notes = 0
    for offset, token in enumerate(np.asarray(target_tokens)):
        if token in (HOLD_TOKEN, REST_TOKEN) or token >= NUM_PITCHES or offset % steps_per_bar not in STRONG_BEAT_STEPS:
            continue
        chord = chord_at(chords, song_step + offset)
        if chord is None:
            continue
        notes += 1
        tones += (MIN_PITCH + int(token)) % 12 in chord
    return tones, notes
