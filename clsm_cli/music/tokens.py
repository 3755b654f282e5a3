"""The paper's melodico-rhythmic encoding, as pure functions on numpy token arrays.

A melody on the 16th-note grid becomes one token per step: a note's first step is its pitch token,
later steps are ``__`` (hold); a rest's first step is ``R``, later steps ``__``. A window is
*canonical* when its first token is not ``__``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import numpy as np

from clsm_cli.constants import (
    FIRST_PITCH_TOKEN,
    HOLD_TOKEN,
    MAX_PITCH,
    MIN_PITCH,
    NUM_MUSIC_TOKENS,
    REST_TOKEN,
    STEPS_PER_BAR,
    TOKEN_NAMES,
    TRIPLET_TOKEN,
    TRIPLET_TOKEN_NAME,
)

TOKEN_DTYPE = np.uint8
_NAMES_WITH_MARKER = TOKEN_NAMES + (TRIPLET_TOKEN_NAME,)  # ids 0..35: the triplet grid's vocabulary
assert len(TOKEN_NAMES) == TRIPLET_TOKEN


@dataclass(frozen=True)
class StepNote:
    """A note on the step grid: sounds from ``start_step`` up to (not including) ``end_step``.

    ``tied_from_before`` marks a note decoded from leading ``__`` tokens: it continues whatever was
    sounding before the first step rather than starting a new note. Its ``pitch`` is None when the
    tokens alone do not say what that was (0 is a real pitch, C-1).
    """

    start_step: int
    end_step: int
    pitch: Optional[int]
    tied_from_before: bool = False

    def __post_init__(self):
        if self.end_step <= self.start_step:
            raise ValueError(f"note must last at least one step, got {self.start_step}..{self.end_step}")
        if self.pitch is None:
            if not self.tied_from_before:
                raise ValueError("only a note tied from before may have an unknown pitch (None)")
        elif not 0 <= self.pitch <= 127:
            raise ValueError(f"pitch must be in range 0..127, got {self.pitch}")


def pitch_to_token(pitch: int) -> int:
    if not MIN_PITCH <= pitch <= MAX_PITCH:
        raise ValueError(f"pitch must be in range {MIN_PITCH}..{MAX_PITCH}, got {pitch}")
    return FIRST_PITCH_TOKEN + pitch - MIN_PITCH


def token_to_pitch(token: int) -> int | None:
    """The MIDI pitch of a pitch token; None for R, __ and specials."""
    if FIRST_PITCH_TOKEN <= token < FIRST_PITCH_TOKEN + (MAX_PITCH - MIN_PITCH + 1):
        return MIN_PITCH + token - FIRST_PITCH_TOKEN
    return None


@dataclass(frozen=True)
class NoteColumns:
    """Step notes as three parallel int64 arrays, the form the vectorised token code works on.

    Build it once per line with :meth:`from_notes` when several functions look at the same notes
    (the data build encodes a track, checks its pitch range and finds its transpositions).
    """

    starts: np.ndarray  # (n,) int64, first step of each note
    ends: np.ndarray  # (n,) int64, step after the last one
    pitches: np.ndarray  # (n,) int64, MIDI pitch

    @classmethod
    def from_notes(cls, notes: Iterable[StepNote] | NoteColumns) -> NoteColumns:
        """The columns of ``notes`` (returned as they are when they already are columns)."""
        if isinstance(notes, NoteColumns):
            return notes
        notes = notes if isinstance(notes, (list, tuple)) else list(notes)
        return cls(
            np.array([note.start_step for note in notes], dtype=np.int64),
            np.array([note.end_step for note in notes], dtype=np.int64),
            np.array([note.pitch for note in notes], dtype=np.int64),
        )

    def __len__(self) -> int:
        return len(self.starts)


def encode_notes(notes: Iterable[StepNote] | NoteColumns, num_steps: int, start_step: int = 0) -> np.ndarray:
    """Tokens for steps ``start_step .. start_step + num_steps`` of a monophonic line.

    Notes must not overlap and their pitches must lie in the token range (only notes reaching into
    the steps asked for are checked). Steps no note covers are rests. A note that began before
    ``start_step`` is clipped; the result is made canonical, so its first step carries the note's
    pitch (a model sees the pitch of a note already sounding). ``notes`` may be step notes in any
    order or their :class:`NoteColumns`.
    """
    tokens = np.full(num_steps, HOLD_TOKEN, dtype=TOKEN_DTYPE)
    columns = NoteColumns.from_notes(notes)
    order = np.argsort(columns.starts, kind="stable")  # by onset; notes starting together keep their order
    first = np.maximum(columns.starts[order], start_step) - start_step
    last = np.minimum(columns.ends[order], start_step + num_steps) - start_step
    inside = last > first  # notes that sound inside the requested steps
    first, last, pitches = first[inside], last[inside], columns.pitches[order][inside]
    # In onset order a note overlaps an earlier one exactly when it starts before the latest end so
    # far; the first problem in that order (overlap or pitch without a token) is the one reported.
    overlaps = np.zeros(len(first), dtype=bool)
    overlaps[1:] = first[1:] < np.maximum.accumulate(last)[:-1]
    problems = np.flatnonzero(overlaps | (pitches < MIN_PITCH) | (pitches > MAX_PITCH))
    if len(problems):
        index = problems[0]
        if overlaps[index]:
            raise ValueError(f"notes overlap at step {start_step + int(first[index])}; reduce to one line first")
        pitch_to_token(int(pitches[index]))  # raises, naming the range
    tokens[first] = FIRST_PITCH_TOKEN + pitches - MIN_PITCH
    # The notes are disjoint now, so their onsets (and their ends) are distinct steps.
    boundaries = np.zeros(num_steps + 1, dtype=np.int8)
    boundaries[first] += 1
    boundaries[last] -= 1
    covered = np.cumsum(boundaries[:-1], dtype=np.int8) > 0
    # Rests: the first uncovered step after a covered one (or at the start) gets R.
    rest_starts = ~covered
    rest_starts[1:] &= covered[:-1]
    tokens[rest_starts] = REST_TOKEN
    return tokens


def decode_tokens(tokens: Sequence[int], start_step: int = 0) -> list[StepNote]:
    """Notes (rests omitted) of a token sequence, with step positions offset by ``start_step``.

    Leading ``__`` tokens become a note with ``tied_from_before=True`` and pitch None (unknown
    here); callers that know what was sounding use :func:`resolve_leading_hold` first.
    Raises ValueError for special tokens.
    """
    notes: list[StepNote] = []
    current_pitch: int | None = None
    current_start = start_step
    current_tied = False
    sounding = False  # a note (not a rest) is open
    leading = True

    def close(end: int):
        if sounding:
            notes.append(StepNote(current_start, end, current_pitch, current_tied))

    for offset, raw in enumerate(tokens):
        token = int(raw)
        step = start_step + offset
        if token == HOLD_TOKEN:
            if leading:
                current_pitch, current_start, current_tied, sounding = None, step, True, True
            leading = False
            continue
        leading = False
        if not 0 <= token < NUM_MUSIC_TOKENS:
            name = TOKEN_NAMES[token] if 0 <= token < len(TOKEN_NAMES) else str(token)
            raise ValueError(f"token {name!r} at step {step} is not a music token (pitch, R or __)")
        close(step)
        current_pitch = token_to_pitch(token)
        current_start, current_tied, sounding = step, False, current_pitch is not None
    close(start_step + len(tokens))
    return notes


def resolve_leading_hold(tokens: np.ndarray, sounding_token: int) -> np.ndarray:
    """Replace a leading ``__`` with the token sounding just before (a pitch or R): canonical form."""
    tokens = np.asarray(tokens, dtype=TOKEN_DTYPE).copy()
    if len(tokens) and tokens[0] == HOLD_TOKEN:
        tokens[0] = sounding_token
    return tokens


def sounding_token_at(tokens: np.ndarray, index: int) -> int:
    """The pitch or R token whose sound covers ``tokens[index]`` (walks back over holds)."""
    for position in range(index, -1, -1):
        if tokens[position] != HOLD_TOKEN:
            return int(tokens[position])
    return REST_TOKEN


def cut_window(sequence: np.ndarray, start: int, length: int) -> np.ndarray:
    """A canonical slice ``sequence[start:start+length]`` (leading hold replaced by what sounds)."""
    window = np.asarray(sequence[start : start + length], dtype=TOKEN_DTYPE).copy()
    if len(window) and window[0] == HOLD_TOKEN:
        window[0] = sounding_token_at(sequence, start)
    return window


def longest_rest_steps(tokens: np.ndarray) -> int:
    """Length in steps of the longest run of rest (R followed by its holds)."""
    longest = current = 0
    in_rest = False
    for raw in tokens:
        token = int(raw)
        if token == REST_TOKEN:
            in_rest, current = True, 1
        elif token == HOLD_TOKEN and in_rest:
            current += 1
        else:
            in_rest, current = False, 0
        longest = max(longest, current)
    return longest


def octave_shift_into_range(pitches: Iterable[int]) -> int:
    """The multiple of 12 semitones that puts the most of ``pitches`` inside 55..84.

    Ties prefer the smallest shift. Returns 0 for no pitches.
    """
    pitches = list(pitches)
    if not pitches:
        return 0
    best_shift, best_inside = 0, -1
    for octaves in sorted(range(-10, 11), key=abs):
        shift = 12 * octaves
        inside = sum(MIN_PITCH <= p + shift <= MAX_PITCH for p in pitches)
        if inside > best_inside:
            best_shift, best_inside = shift, inside
    return best_shift


def fold_into_range(pitch: int) -> int:
    """Move a pitch by whole octaves until it lies in 55..84 (for the model's view only)."""
    while pitch < MIN_PITCH:
        pitch += 12
    while pitch > MAX_PITCH:
        pitch -= 12
    return pitch


def tokens_to_text(tokens: Iterable[int], steps_per_bar: int = STEPS_PER_BAR) -> str:
    """Readable form, bars of ``steps_per_bar`` tokens (the model's) separated by ``|``:
    ``67 __ R __ | 69 ...``; the triplet grid's marker reads ``3:``."""
    names = [_NAMES_WITH_MARKER[int(t)] for t in tokens]
    bars = [" ".join(names[i : i + steps_per_bar]) for i in range(0, len(names), steps_per_bar)]
    return " | ".join(bars)
