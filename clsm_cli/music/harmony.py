"""The chord the other tracks play on each beat, read from their notes (pure, numpy only).

A melody edited inside a song is heard against its accompaniment. :func:`beat_chords` names, for
each beat of a stretch, the triad the other pitched tracks sound there, so that new notes on the
beats can lean towards its tones (``editing/step_rules.py``: the chord-tone weights).

How a beat's chord is read: the pitch classes sounding from the beat over ``span`` steps (the
editing commands take two beats: a chord seldom changes faster), each weighed by how long it
sounds there, a note already sounding when the beat starts or starting on it counting double; the
chord is the triad (major, minor, diminished or a sus chord, on each of the 12 roots) that covers
most of that weight. A beat where fewer than two pitch classes of that triad sound (nothing, a lone
bass line, a unison riff) has no chord: one note does not say which triad it belongs to.

On the 46 POP909 test songs, read at their annotated beats 1 and 3 against their annotated chords
(``chord_midi.txt``): 78% of the triads' tones are tones of the annotated chord. A bonus for the
bass note on the root, or reading one beat instead of two, did worse (76-77%).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

TRIADS = {"maj": (0, 4, 7), "min": (0, 3, 7), "dim": (0, 3, 6), "sus4": (0, 5, 7), "sus2": (0, 2, 7)}
QUALITY_ORDER = ("maj", "min", "dim", "sus4", "sus2")  # ties go to the more common chord


def _templates() -> np.ndarray:
    """(T, 12) 0/1 rows, one per quality (in QUALITY_ORDER) and root."""
    rows = np.zeros((len(QUALITY_ORDER) * 12, 12))
    for index, (quality, root) in enumerate((q, r) for q in QUALITY_ORDER for r in range(12)):
        rows[index, [(root + interval) % 12 for interval in TRIADS[quality]]] = 1.0
    return rows


_TEMPLATES = _templates()
CHORD_SPAN_BEATS = 2  # the editing commands read a beat's chord over two beats


def chord_of_weights(weights: np.ndarray) -> frozenset[int] | None:
    """The pitch classes of the triad that covers most of pitch-class ``weights`` (12,), or None when
    fewer than two of its pitch classes sound."""
    weights = np.asarray(weights, dtype=np.float64)
    best = int(np.argmax(_TEMPLATES @ weights))  # the first best: QUALITY_ORDER breaks ties
    if np.count_nonzero(weights[_TEMPLATES[best] > 0] > 0) < 2:
        return None
    return frozenset(int(pc) for pc in np.flatnonzero(_TEMPLATES[best]))


def beat_chords(starts: np.ndarray, ends: np.ndarray, pitches: np.ndarray,
                beat_steps: Sequence[int], span: int) -> dict[int, frozenset[int]]:
    """Beat step -> the chord the notes (``starts``, ``ends``, ``pitches``: (N,) step arrays of the
    other pitched tracks) sound from that step for ``span`` steps; beats where none sounds are
    left out."""
    starts, ends, pitches = (np.asarray(a, dtype=np.int64) for a in (starts, ends, pitches))
    chords: dict[int, frozenset[int]] = {}
    for beat in beat_steps:
        overlap = np.minimum(ends, beat + span) - np.maximum(starts, beat)  # (N,) steps sounding in the span
        sounding = overlap > 0
        if not sounding.any():
            continue
        at_start = sounding & (starts <= beat)
        weights = np.bincount(pitches[sounding] % 12, weights=overlap[sounding] * (1.0 + at_start[sounding]),
                              minlength=12)
        chord = chord_of_weights(weights)
        if chord is not None:
            chords[int(beat)] = chord
    return chords
