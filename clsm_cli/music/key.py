"""The key of a passage: a tonic and a mode, its scale, its key signature and how to spell its notes.

A :class:`Key` comes from one of three places:

- **given** by the musician (``--key G``, ``Em``, ``Bb``, ``E dorian``, ``A harmonic-minor``):
  :func:`parse_key`;
- **the file's key signature** (the last one at or before the passage), trusted only when its
  scale holds the passage's pitches about as well as the best estimate's does. A C-major
  signature is often a default that nobody set: a POP909 song carries C major over a melody with
  114 F♯ against 38 F♮, and there the estimate wins;
- **estimated** from the pitches (Krumhansl–Kessler key profiles correlated with the
  duration-weighted pitch-class histogram, the standard method): :func:`estimate_key`.

:func:`passage_key` applies that rule to the notes around a passage. The scale of a major or minor
key is the 7 pitch classes of its key signature (E minor: E F♯ G A B C D), the diatonic set the
in-key melody check counts; a named mode or harmonic/melodic minor uses its own 7 pitch classes.

Pure: numbers in, values out; no MIDI here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from clsm_cli.errors import UsageError

if TYPE_CHECKING:
    from clsm_cli.music.song import MidiSong, NoteTable

PITCH_CLASSES = 12

# Semitones above the tonic of each mode's 7 scale degrees.
MODE_INTERVALS: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "locrian": (0, 1, 3, 5, 6, 8, 10),
    "harmonic-minor": (0, 2, 3, 5, 7, 8, 11),
    "melodic-minor": (0, 2, 3, 5, 7, 9, 11),
}
MODE_ALIASES = {
    "": "major", "maj": "major", "ionian": "major", "m": "minor", "min": "minor", "aeolian": "minor",
    "harmonic minor": "harmonic-minor", "harmonic": "harmonic-minor", "melodic minor": "melodic-minor",
    "melodic": "melodic-minor", "dor": "dorian", "mix": "mixolydian", "mixo": "mixolydian",
}
# Where the mode's key signature sits on the line of fifths, relative to its tonic's major key:
# D dorian has C major's signature, two fifths below D major's.
MODE_SIGNATURE_SHIFT = {
    "major": 0, "minor": -3, "dorian": -2, "phrygian": -4, "lydian": 1, "mixolydian": -1, "locrian": -5,
    "harmonic-minor": -3, "melodic-minor": -3,
}

LETTERS_BY_FIFTH = "FCGDAEB"  # the naturals along the line of fifths: F = -1, C = 0, ..., B = 5
NATURAL_PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
SOURCES = ("given", "key signature", "estimated")

# Krumhansl & Kessler (1982) probe-tone profiles, tonic first.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])

# A key signature is trusted when its scale holds at least this much less of the passage's
# (duration-weighted) notes than the estimated key's scale does.
SIGNATURE_TOLERANCE = 0.03


def _fifth_position(letter: str, alter: int) -> int:
    """A spelled pitch class's place on the line of fifths (C = 0, G = 1, F = -1, F♯ = 6, B♭ = -2)."""
    return LETTERS_BY_FIFTH.index(letter) - 1 + 7 * alter


def _spelling_at(position: int) -> tuple[str, int]:
    """(letter, alteration) of the line-of-fifths position (6 -> ("F", 1), -2 -> ("B", -1))."""
    shifted = position + 1
    return LETTERS_BY_FIFTH[shifted % 7], shifted // 7


@dataclass(frozen=True)
class Key:
    """A tonic (pitch class 0..11, C = 0), a mode (a name of ``MODE_INTERVALS``) and a spelling.

    ``fifths`` is the key signature on the line of fifths (-7..7: flats negative, sharps positive);
    it decides how notes are spelled (B♭ major writes B♭, never A♯). ``source`` says where the key
    came from: "given", "key signature" or "estimated".
    """

    tonic: int
    mode: str
    fifths: int
    source: str = "given"

    def __post_init__(self) -> None:
        if not 0 <= self.tonic < PITCH_CLASSES:
            raise ValueError(f"tonic must be a pitch class in range 0..11, got {self.tonic}")
        if self.mode not in MODE_INTERVALS:
            raise ValueError(f"mode must be one of {', '.join(MODE_INTERVALS)}, got {self.mode!r}")
        if not -7 <= self.fifths <= 7:
            raise ValueError(f"fifths must be in range -7..7, got {self.fifths}")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {self.source!r}")

    @classmethod
    def of(cls, tonic: int, mode: str, source: str = "given") -> "Key":
        """The key on ``tonic`` with its conventional signature: the fewest accidentals (G♯ minor
        over A♭ minor, D♭ major over C♯ major); 6 sharps and 6 flats tie, and sharps win."""
        shift = MODE_SIGNATURE_SHIFT[mode]
        candidates = [s for s in range(-7, 8) if (7 * (s - shift)) % PITCH_CLASSES == tonic % PITCH_CLASSES]
        return cls(tonic % PITCH_CLASSES, mode, min(candidates, key=lambda s: (abs(s), -s)), source)

    @property
    def scale(self) -> frozenset[int]:
        """The 7 pitch classes of the key's scale."""
        return frozenset((self.tonic + step) % PITCH_CLASSES for step in MODE_INTERVALS[self.mode])

    def scale_mask(self) -> np.ndarray:
        """(12,) bool: True at the scale's pitch classes."""
        mask = np.zeros(PITCH_CLASSES, dtype=bool)
        mask[list(self.scale)] = True
        return mask

    def contains(self, pitch: int) -> bool:
        """Whether a MIDI pitch is in the scale."""
        return pitch % PITCH_CLASSES in self.scale

    @property
    def tonic_name(self) -> str:
        """The tonic spelled as the key writes it ("F#", "Bb")."""
        letter, alter = self.spell_pitch_class(self.tonic)
        return letter + ("#" * alter if alter > 0 else "b" * -alter)

    @property
    def name(self) -> str:
        """"E minor", "Bb major", "D dorian", "A harmonic-minor"."""
        return f"{self.tonic_name} {self.mode}"

    def __str__(self) -> str:
        return self.name

    def spell_pitch_class(self, pitch_class: int) -> tuple[str, int]:
        """(letter, alteration) of a pitch class in this key. The scale's 7 notes take the 7 letters
        in order from the tonic (D harmonic minor writes C♯, never D♭); other notes take the
        accidental nearest the key's signature on the line of fifths, then the plainer spelling (C
        major writes C♯, E♭, F♯, G♯ and B♭; a flat key never writes a sharp where a flat is as near)."""
        pitch_class %= PITCH_CLASSES
        tonic_letter, tonic_alter = _spelling_at(self.fifths - MODE_SIGNATURE_SHIFT[self.mode])
        first = "CDEFGAB".index(tonic_letter)
        for degree, step in enumerate(MODE_INTERVALS[self.mode]):
            if (self.tonic + step) % PITCH_CLASSES == pitch_class:
                letter = "CDEFGAB"[(first + degree) % 7]
                return letter, (pitch_class - NATURAL_PITCH_CLASS[letter] + 6) % PITCH_CLASSES - 6
        centre = self.fifths + 2  # the middle of the signature's seven positions
        # Single sharps and flats only (positions -8..12): a chromatic note never gets a double accidental.
        candidates = [p for p in range(-8, 13) if (7 * p) % PITCH_CLASSES == pitch_class]
        best = min(candidates, key=lambda p: (abs(p - centre), abs(_spelling_at(p)[1]), -p if self.fifths >= 0 else p))
        return _spelling_at(best)

    def spell(self, pitch: int) -> tuple[str, int, int]:
        """(letter, alteration, octave) of a MIDI pitch in this key (C4 = 60; B♯3 is 60 too)."""
        letter, alter = self.spell_pitch_class(pitch)
        octave = (pitch - alter - NATURAL_PITCH_CLASS[letter]) // PITCH_CLASSES - 1
        return letter, alter, octave

    def signature_alter(self, letter: str) -> int:
        """The alteration the key signature gives every ``letter`` (B♭ major: -1 for B and E)."""
        return signature_alter(self.fifths, letter)

    def to_json(self) -> dict[str, object]:
        return {"tonic": self.tonic_name, "mode": self.mode, "name": self.name, "fifths": self.fifths,
                "scale": sorted(self.scale), "source": self.source}


def signature_alter(fifths: int, letter: str) -> int:
    """The alteration a key signature of ``fifths`` (-7..7) gives ``letter``: sharps fall on
    F C G D A E B in that order, flats on B E A D G C F."""
    if fifths > 0:
        return 1 if LETTERS_BY_FIFTH.index(letter) < fifths else 0
    if fifths < 0:
        return -1 if LETTERS_BY_FIFTH[::-1].index(letter) < -fifths else 0
    return 0


def _fold_fifths(position: int) -> int:
    """A signature position folded into -7..7 by enharmonic respelling (A♯ major -> B♭ major)."""
    while position > 7:
        position -= 12
    while position < -7:
        position += 12
    return position


def key_from_signature(sharps: int, minor: bool) -> Key:
    """The key a MIDI key-signature event names (sharps -7..7, the minor flag)."""
    major_tonic = (7 * sharps) % PITCH_CLASSES
    if minor:
        return Key((major_tonic + 9) % PITCH_CLASSES, "minor", sharps, "key signature")
    return Key(major_tonic, "major", sharps, "key signature")


_KEY_PATTERN = re.compile(r"^\s*([A-Ga-g])\s*([#♯s]|b|♭|es|is)?\s*(.*?)\s*$")


def parse_key(text: str) -> Key:
    """A key as a musician writes it: ``G``, ``Em``, ``Bb``, ``F# minor``, ``E dorian``,
    ``A harmonic-minor``, ``D mixolydian``. UsageError (exit 2) naming the accepted forms."""
    match = _KEY_PATTERN.match(text or "")
    mode_text = (match.group(3) if match else "").lower().replace("_", "-")
    mode = MODE_ALIASES.get(mode_text, MODE_ALIASES.get(mode_text.replace("-", " "), mode_text))
    if not match or mode not in MODE_INTERVALS:
        raise UsageError(
            f"--key {text!r} is not a key; write a tonic and an optional mode, e.g. G, Em, Bb, "
            f"F# minor, E dorian, A harmonic-minor (modes: {', '.join(MODE_INTERVALS)}), or auto"
        )
    letter = match.group(1).upper()
    accidental = match.group(2) or ""
    alter = 1 if accidental in ("#", "♯", "s", "is") else -1 if accidental in ("b", "♭", "es") else 0
    tonic_position = _fifth_position(letter, alter)
    tonic = (NATURAL_PITCH_CLASS[letter] + alter) % PITCH_CLASSES
    return Key(tonic, mode, _fold_fifths(tonic_position + MODE_SIGNATURE_SHIFT[mode]), "given")


# --- estimating and choosing ------------------------------------------------------------------------


def pitch_class_weights(pitches: Iterable[int], durations: Iterable[float]) -> np.ndarray:
    """(12,) duration-weighted pitch-class histogram of notes."""
    histogram = np.zeros(PITCH_CLASSES)
    pitch_array = np.asarray(list(pitches), dtype=np.int64)
    duration_array = np.asarray(list(durations), dtype=np.float64)
    if len(pitch_array):
        np.add.at(histogram, pitch_array % PITCH_CLASSES, np.maximum(duration_array, 0.0))
    return histogram


def key_correlations(weights: np.ndarray) -> np.ndarray:
    """(2, 12): the correlation of ``weights`` with the major (row 0) and minor (row 1) profile of
    every tonic; 0 where the histogram is flat or empty."""
    weights = np.asarray(weights, dtype=np.float64)
    out = np.zeros((2, PITCH_CLASSES))
    if weights.std() == 0:
        return out
    for row, profile in enumerate((MAJOR_PROFILE, MINOR_PROFILE)):
        for tonic in range(PITCH_CLASSES):
            out[row, tonic] = np.corrcoef(weights, np.roll(profile, tonic))[0, 1]
    return out


def estimate_key(weights: np.ndarray) -> Key | None:
    """The major or minor key whose profile best matches the pitch-class ``weights`` (None when
    there are no notes to judge by)."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.sum() <= 0:
        return None
    correlations = key_correlations(weights)
    row, tonic = np.unravel_index(int(np.argmax(correlations)), correlations.shape)
    return Key.of(int(tonic), "major" if row == 0 else "minor", source="estimated")


def scale_share(key: Key, weights: np.ndarray) -> float:
    """The share of the weighted notes whose pitch class is in ``key``'s scale (0 with no notes)."""
    weights = np.asarray(weights, dtype=np.float64)
    total = weights.sum()
    return float(weights[key.scale_mask()].sum() / total) if total > 0 else 0.0


def last_signature_at(key_signatures: Sequence[tuple[int, int, bool]], tick: int) -> tuple[int, int, bool] | None:
    """The last (tick, sharps, minor) key-signature event at or before ``tick`` (None if none)."""
    before = [signature for signature in key_signatures if signature[0] <= tick]
    return max(before, key=lambda signature: signature[0]) if before else None


def passage_key(
    key_signatures: Sequence[tuple[int, int, bool]], at_tick: int, weights: np.ndarray
) -> Key | None:
    """The key of a passage starting at ``at_tick`` whose notes have pitch-class ``weights``.

    The file's key signature (the last one at or before the passage) when its scale holds the notes
    within ``SIGNATURE_TOLERANCE`` of the estimate's scale; its tonic is the signature's major or
    relative minor, whichever profile fits the notes better. Otherwise the estimate. None when there
    is neither a signature nor a note.
    """
    estimate = estimate_key(weights)
    signature = last_signature_at(key_signatures, at_tick)
    if signature is None:
        return estimate
    from_signature = key_from_signature(signature[1], signature[2])
    if estimate is None:
        return from_signature
    if scale_share(from_signature, weights) + SIGNATURE_TOLERANCE < scale_share(estimate, weights):
        return estimate
    correlations = key_correlations(weights)
    major_tonic = (7 * signature[1]) % PITCH_CLASSES
    minor_tonic = (major_tonic + 9) % PITCH_CLASSES
    if correlations[1, minor_tonic] > correlations[0, major_tonic]:
        return Key(minor_tonic, "minor", signature[1], "key signature")
    return Key(major_tonic, "major", signature[1], "key signature")


def song_key(song: "MidiSong | NoteTable", start_tick: int, end_tick: int) -> Key | None:
    """The key of the passage ``start_tick`` .. ``end_tick`` of a song: :func:`passage_key` over the
    notes of every pitched track (drums excluded) that sound in it, weighted by how long they sound
    there, and the file's key signatures."""
    from clsm_cli.music.song import note_arrays

    weights = np.zeros(PITCH_CLASSES)
    for track in song.tracks:
        if track.is_drum:
            continue
        notes = note_arrays(track)
        if not len(notes):
            continue
        overlap = np.minimum(notes.end_ticks, end_tick) - np.maximum(notes.start_ticks, start_tick)
        inside = overlap > 0
        np.add.at(weights, notes.pitches[inside] % PITCH_CLASSES, overlap[inside].astype(np.float64))
    return passage_key(song.key_signatures, start_tick, weights)
