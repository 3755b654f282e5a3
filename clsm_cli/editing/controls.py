"""What a musician asks of the new notes (``--key``, ``--range``, ``--keep-rhythm``, ``--max-leap``,
``--density``) and what a candidate achieved, pure.

The controls act while decoding, as token masks (``editing/step_rules.py`` builds them and
``sampling.choose_tokens`` applies them); nothing is snapped after the draw. This module parses
and checks the request (exit 2 for what no file could meet), resolves it for one song (the key,
the default register) and measures a candidate against it (:func:`achieved`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence

from clsm_cli.errors import UsageError
from clsm_cli.music.key import Key, parse_key
from clsm_cli.music.tokens import StepNote

REGISTER_MARGIN_SEMITONES = 3  # the default range: the window's melody notes, 3 semitones either side
MIDI_PITCHES = range(0, 128)
_NOTE_NAMES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_NOTE_PATTERN = re.compile(r"^\s*([A-Ga-g])([#♯]|b|♭)?(-?\d+)\s*$")


@dataclass(frozen=True)
class ControlRequest:
    """The controls as asked for, checked (see :func:`check_controls`).

    ``key``: None (no lock), "auto" (the song's key) or a key text (``parse_key``). ``pitch_range``:
    None for the default register, "any" for none, or (low, high) MIDI pitches. ``density``: notes
    per bar (low, high). ``top_voice``: new notes stay above the notes kept under them.
    ``follow_chords``: in a song with other pitched tracks, new notes on the beats lean towards the
    chord those tracks play there.
    """

    key: Optional[str] = None
    pitch_range: object = None
    keep_rhythm: bool = False
    max_leap: Optional[int] = None
    density: Optional[tuple[float, float]] = None
    top_voice: bool = True
    follow_chords: bool = True

    @property
    def given_key(self) -> Optional[Key]:
        return None if self.key in (None, "auto") else parse_key(self.key)

    def to_json(self) -> dict:
        pitch_range = self.pitch_range
        return {
            "key": self.key,
            "range": pitch_range if pitch_range in (None, "any") else list(pitch_range),
            "keep_rhythm": self.keep_rhythm,
            "max_leap": self.max_leap,
            "density": None if self.density is None else list(self.density),
            "chords": "follow" if self.follow_chords else "ignore",
        }

    @property
    def any_given(self) -> bool:
        return (self.key is not None or self.pitch_range not in (None, "any") or self.keep_rhythm
                or self.max_leap is not None or self.density is not None)


def parse_pitch(text: str) -> int:
    """A MIDI pitch from a note name (``C4`` = 60, ``F#3``, ``Bb5``) or a number 0..127."""
    text = text.strip()
    if re.fullmatch(r"\d+", text):
        pitch = int(text)
    else:
        match = _NOTE_PATTERN.match(text)
        if not match:
            raise UsageError(f"{text!r} is not a note; write a name and an octave (C4 is MIDI 60, F#3, Bb5) or a number")
        alter = {"#": 1, "♯": 1, "b": -1, "♭": -1}.get(match.group(2) or "", 0)
        pitch = (int(match.group(3)) + 1) * 12 + _NOTE_NAMES[match.group(1).upper()] + alter
    if pitch not in MIDI_PITCHES:
        raise UsageError(f"note {text!r} is outside MIDI's range 0..127")
    return pitch


def parse_range(text: Optional[str]) -> object:
    """``--range``: None (the default register), "any", or (low, high) from ``LOW-HIGH``."""
    if text is None:
        return None
    if text.strip().lower() == "any":
        return "any"
    parts = _split_range(text)
    if parts is None:
        raise UsageError(f"--range {text!r} is not a range; write LOW-HIGH as notes or numbers (G3-E6, 55-88) or any")
    low, high = (parse_pitch(part) for part in parts)
    if low > high:
        raise UsageError(f"--range {text}: the low note is above the high one; write it low to high")
    return (low, high)


def _split_range(text: str) -> Optional[tuple[str, str]]:
    """``LOW-HIGH`` split at the dash between the two notes (a note may hold a minus: C-1)."""
    text = text.replace(" ", "")
    for index, char in enumerate(text):
        if char == "-" and 0 < index < len(text) - 1 and text[index - 1].isdigit():
            return text[:index], text[index + 1 :]
    return None


def parse_density(text: Optional[str]) -> Optional[tuple[float, float]]:
    """``--density LOW-HIGH`` notes per bar (``2-5``, ``1.5-3``) or None."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*", text)
    if not match:
        raise UsageError(f"--density {text!r} is not a range of notes per bar; write LOW-HIGH, e.g. 2-5")
    low, high = float(match.group(1)), float(match.group(2))
    if low > high:
        raise UsageError(f"--density {text}: the low count is above the high one; write it low to high")
    if high < 1:
        raise UsageError(f"--density {text}: at least one note per bar must be allowed")
    return (low, high)


def check_controls(request: ControlRequest, steps_per_bar: int = 16) -> None:
    """Settings no file could meet (UsageError, exit 2), checked before any model loads."""
    key = request.given_key  # parse errors are exit 2 too
    if request.max_leap is not None and not 0 <= request.max_leap <= 127:
        raise UsageError(f"--max-leap must be a number of semitones from 0 to 127, got {request.max_leap}")
    if isinstance(request.pitch_range, tuple) and key is not None:
        low, high = request.pitch_range
        if not any(key.contains(pitch) for pitch in range(low, high + 1)):
            raise UsageError(f"--range {low}-{high} holds no note of {key.name}; widen the range or choose another key")
    if request.keep_rhythm and request.density is not None:
        raise UsageError("--keep-rhythm keeps the original notes' rhythm, so --density cannot change it; give one of them")
    if request.density is not None and request.density[0] > steps_per_bar:
        raise UsageError(f"--density {request.density[0]:g} notes per bar is more than a bar holds ({steps_per_bar} steps)")


# --- what a candidate achieved ------------------------------------------------------------------------


@dataclass(frozen=True)
class Achieved:
    """A candidate's new notes measured against the controls (file pitches, the song's grid)."""

    in_key_share: Optional[float]  # None without a key or without new notes
    lowest: Optional[int]
    highest: Optional[int]
    largest_leap: Optional[int]  # consecutive notes, rests skipped, into and out of the target included
    notes_per_bar: tuple[int, ...]
    rhythm_kept: bool

    def to_json(self) -> dict:
        return {
            "in_key_share": None if self.in_key_share is None else round(self.in_key_share, 4),
            "lowest": self.lowest,
            "highest": self.highest,
            "largest_leap": self.largest_leap,
            "notes_per_bar": list(self.notes_per_bar),
            "rhythm_kept": self.rhythm_kept,
        }


def achieved(new_notes: Sequence[StepNote], original_notes: Sequence[StepNote], key: Optional[Key],
             before: Optional[int], after: Optional[int], bar_spans: Sequence[tuple[int, int]]) -> Achieved:
    """Measure ``new_notes`` (the target's notes at file pitches, tied notes included) against the
    controls. ``before``/``after``: the pitch of the melody's last note before the target and its
    first after it (None for none); ``bar_spans``: each target bar's (start, end) steps."""
    started = sorted((note for note in new_notes if not note.tied_from_before), key=lambda note: note.start_step)
    pitches = [note.pitch for note in started]
    in_key = None if key is None or not pitches else sum(key.contains(p) for p in pitches) / len(pitches)
    line = ([before] if before is not None else []) + pitches + ([after] if after is not None else [])
    leaps = [abs(b - a) for a, b in zip(line, line[1:])]
    per_bar = tuple(sum(start <= note.start_step < end for note in started) for start, end in bar_spans)
    return Achieved(in_key, min(pitches) if pitches else None, max(pitches) if pitches else None,
                    max(leaps) if leaps else None, per_bar, same_rhythm(new_notes, original_notes))


def same_rhythm(new_notes: Sequence[StepNote], original_notes: Sequence[StepNote]) -> bool:
    """Whether two target note lists have the same onsets and durations (pitches aside)."""
    def rhythm(notes):
        return sorted((note.start_step, note.end_step) for note in notes if not note.tied_from_before)
    return rhythm(new_notes) == rhythm(original_notes)


def default_register(window_pitches: Sequence[int], song_pitches: Sequence[int]) -> Optional[tuple[int, int]]:
    """The default range: the window's melody notes (outside the target; vary adds the target's) with
    ``REGISTER_MARGIN_SEMITONES`` either side; the melody's register over the song when the window
    has none; None when the melody has no notes at all."""
    pitches = list(window_pitches) or list(song_pitches)
    if not pitches:
        return None
    return (max(0, min(pitches) - REGISTER_MARGIN_SEMITONES), min(127, max(pitches) + REGISTER_MARGIN_SEMITONES))
