"""The vectorised ``encode_notes`` against a straightforward note-by-note reference.

The reference below is the encoder as it was first written (one note at a time, a boolean array of
covered steps). The editing commands and the data build both encode through ``encode_notes``, so
the fast version must give the same tokens and the same errors on every input, including notes in
any order, notes clipped by the window, notes outside it, overlaps and pitches without a token.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from clsm_cli.constants import HOLD_TOKEN, MAX_PITCH, MIN_PITCH, REST_TOKEN
from clsm_cli.music.tokens import TOKEN_DTYPE, NoteColumns, StepNote, encode_notes, pitch_to_token


def reference_encode_notes(notes, num_steps: int, start_step: int = 0) -> np.ndarray:
    """Note by note: clip each note to the window, refuse overlaps, write its pitch, then rests."""
    tokens = np.full(num_steps, HOLD_TOKEN, dtype=TOKEN_DTYPE)
    covered = np.zeros(num_steps, dtype=bool)
    for note in sorted(notes, key=lambda n: n.start_step):
        first = max(note.start_step, start_step) - start_step
        last = min(note.end_step, start_step + num_steps) - start_step
        if last <= first:
            continue
        if covered[first:last].any():
            raise ValueError(f"notes overlap at step {start_step + first}; reduce to one line first")
        tokens[first] = pitch_to_token(note.pitch)
        covered[first:last] = True
    for step in range(num_steps):
        if not covered[step] and (step == 0 or covered[step - 1]):
            tokens[step] = REST_TOKEN
    return tokens


def random_notes(rng: random.Random, overlap_chance: float, out_of_range_chance: float) -> list[StepNote]:
    """A line of notes and rests in shuffled order; sometimes overlapping or out of range."""
    notes, step = [], rng.randrange(-8, 12)
    for _ in range(rng.randint(0, 25)):
        length = rng.choice((1, 1, 2, 3, 4, 6, 8, 16, 20))
        pitch = rng.randint(MIN_PITCH, MAX_PITCH)
        if rng.random() < out_of_range_chance:
            pitch = rng.choice((0, MIN_PITCH - 1, MAX_PITCH + 1, 127))
        notes.append(StepNote(step, step + length, pitch))
        gap = rng.choice((0, 0, 0, 1, 2, 5, 17))
        if rng.random() < overlap_chance:
            gap = -rng.randint(1, length)  # the next note starts inside this one (or with it)
        step += length + gap
    rng.shuffle(notes)
    return notes


def encode_or_error(encode, notes, num_steps, start_step):
    try:
        return encode(notes, num_steps, start_step)
    except ValueError as error:
        return str(error)


def assert_same(notes, num_steps, start_step):
    expected = encode_or_error(reference_encode_notes, notes, num_steps, start_step)
    for given in (notes, NoteColumns.from_notes(notes), iter(notes)):
        actual = encode_or_error(encode_notes, given, num_steps, start_step)
        if isinstance(expected, str):
            assert actual == expected
        else:
            assert isinstance(actual, np.ndarray) and actual.dtype == TOKEN_DTYPE
            assert actual.tolist() == expected.tolist()


@pytest.mark.parametrize("seed", range(40))
def test_vectorised_encoder_equals_the_reference_on_random_lines(seed):
    rng = random.Random(seed)
    overlap_chance = (0.0, 0.0, 0.05, 0.3)[seed % 4]
    out_of_range_chance = (0.0, 0.02, 0.0, 0.1)[seed // 4 % 4]
    errors = 0
    for _ in range(50):
        notes = random_notes(rng, overlap_chance, out_of_range_chance)
        num_steps = rng.choice((0, 1, 5, 16, 64, 128, 200))
        start_step = rng.choice((0, 0, rng.randrange(-10, 60)))
        assert_same(notes, num_steps, start_step)
        errors += isinstance(encode_or_error(reference_encode_notes, notes, num_steps, start_step), str)
    if overlap_chance == 0 and out_of_range_chance == 0:
        assert errors == 0  # clean lines always encode


@pytest.mark.parametrize(
    "notes, num_steps, start_step",
    [
        ([], 0, 0),
        ([], 5, 3),
        ([StepNote(0, 4, 60)], 0, 0),  # nothing asked for: nothing checked
        ([StepNote(0, 4, 60)], 4, 0),  # the note fills the window: no rest
        ([StepNote(2, 4, 60)], 6, 0),  # rest, note, rest
        ([StepNote(0, 2, 60), StepNote(2, 4, 62), StepNote(4, 6, 64)], 6, 0),  # adjacent notes
        ([StepNote(0, 2, 60), StepNote(3, 4, 62)], 6, 0),  # one-step rest between notes
        ([StepNote(0, 10, 70)], 4, 4),  # a note sounding through the whole window starts it
        ([StepNote(-5, 3, 70), StepNote(3, 5, 71)], 6, -2),  # negative steps
        ([StepNote(0, 8, 60), StepNote(8, 12, 62)], 4, 8),  # a note ending where the window starts
        ([StepNote(20, 24, 60)], 8, 0),  # a note after the window: all rest
        ([StepNote(0, 4, 60), StepNote(2, 6, 62)], 8, 0),  # overlap
        ([StepNote(2, 6, 62), StepNote(0, 4, 60)], 8, 0),  # overlap, given in reverse order
        ([StepNote(0, 4, 60), StepNote(0, 2, 62)], 8, 0),  # two notes starting together
        ([StepNote(0, 4, 60), StepNote(0, 2, 62)], 8, 4),  # ... but before the window: fine
        ([StepNote(0, 4, 60), StepNote(2, 6, 62)], 4, 4),  # overlap clipped away by the window
        ([StepNote(0, 4, MAX_PITCH + 1)], 8, 0),  # pitch without a token
        ([StepNote(0, 4, MIN_PITCH - 1)], 8, 4),  # ... outside the window: not checked
        ([StepNote(0, 4, 60), StepNote(2, 6, 99)], 8, 0),  # overlap reported before the pitch
        ([StepNote(0, 4, 99), StepNote(2, 6, 62)], 8, 0),  # the earlier note's pitch first
        ([StepNote(0, 4, 60), StepNote(6, 8, 10), StepNote(7, 9, 62)], 12, 0),  # first problem wins
    ],
)
def test_vectorised_encoder_equals_the_reference_on_edge_cases(notes, num_steps, start_step):
    assert_same(notes, num_steps, start_step)


def test_negative_length_is_refused_by_both():
    with pytest.raises(ValueError):
        reference_encode_notes([], -1)
    with pytest.raises(ValueError):
        encode_notes([], -1)
