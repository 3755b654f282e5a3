"""The bars an interpolation starts or ends on, or a variation centres on: pure functions.

An endpoint is a whole melody line (the song's line with the endpoint's target bars in it) and a
:class:`~clsm_cli.editing.generate.Candidate`: its target tokens, seen in the decoding window's
frame (its start step and octave shift), and its latent ``w``. The tokens are what the anchored
decoding reproduces; the line is what the first or last output holds, note for note.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Sequence

import numpy as np

from clsm_cli.editing.generate import Candidate
from clsm_cli.editing.splice import notes_for_writer, splice
from clsm_cli.editing.window import ModelWindow
from clsm_cli.music.bars import BarRange
from clsm_cli.music.melody import split_top_voice
from clsm_cli.music.triplets import representable_triplets, to_triplet_tokens
from clsm_cli.music.tokens import TOKEN_DTYPE, StepNote, encode_notes, fold_into_range


@dataclass(frozen=True)
class Endpoint:
    """Bars to start or end on: the whole ``line`` holding them, and their tokens and latent."""

    line: tuple[StepNote, ...]
    candidate: Candidate
    copies: tuple = ()  # another file's target notes (melody.VoicedNote), written exactly where they recur
    triplet_steps: frozenset = frozenset()  # the target's quarters played as triplets (triplet grid)


def target_tokens_in_frame(line: Sequence[StepNote], window: ModelWindow,
                           triplet_steps: frozenset[int] = frozenset()) -> np.ndarray:
    """The target tokens of ``line`` as ``window`` frames them (its start step and octave shift). (length,)

    Two versions of a song may differ in octave shift when built alone; seen through one window,
    their targets can be compared and decoded in the same context.
    """
    window_steps = len(window.tokens)
    end_step = window.start_step + window_steps
    inside = [note for note in line if note.start_step < end_step and note.end_step > window.start_step]
    model_notes = [replace(note, pitch=fold_into_range(note.pitch + window.octave_shift), tied_from_before=False)
                   for note in inside]
    tokens = encode_notes(model_notes, window_steps, start_step=window.start_step)
    target = tokens[window.target.start : window.target.end]
    start = window.target_start_step
    shown = [step - start for step in representable_triplets(triplet_steps, line) if start <= step < start + len(target)]
    return to_triplet_tokens(target, shown).astype(TOKEN_DTYPE)


def with_target_of(song_line: Sequence[StepNote], other_line: Sequence[StepNote], start: int,
                   end: int) -> tuple[StepNote, ...]:
    """``song_line`` with steps ``start..end`` taken from ``other_line``, as the writer splices them."""
    return tuple(splice(song_line, start, end, notes_for_writer(other_line, start, end)))


def same_outside(first: Sequence[StepNote], second: Sequence[StepNote], start: int, end: int) -> bool:
    """Whether two lines hold the same notes outside steps ``start..end``."""
    return splice(first, start, end, []) == splice(second, start, end, [])


def target_note_rows(line: Sequence[StepNote], start: int, end: int) -> list[list[int]]:
    """The notes of ``line`` in steps ``start..end`` as ``[start, end, pitch, tied]`` rows relative to
    ``start``: what an output records of its own target, to tell later whether it was edited."""
    return [[note.start_step - start, note.end_step - start, note.pitch, int(note.tied_from_before)]
            for note in notes_for_writer(line, start, end)]


def edited_by_hand(recorded: Optional[Sequence[Sequence[int]]], notes: Sequence[StepNote], start: int,
                   end: int) -> bool:
    """Whether a file no longer holds every target note its provenance recorded (None: not recorded).

    ``notes`` are all the file's notes on the melody track (chords kept): the lower voices of a
    chordal target stay beside the written melody, so the recorded notes need only be among them.
    """
    if recorded is None:
        return False
    present = {tuple(row) for row in target_note_rows(notes, start, end)}
    return not all(tuple(int(value) for value in row) in present for row in recorded)


def target_voice_notes(other, bars: BarRange, voice: str) -> tuple:
    """The edited voice's notes of another version's (``other``, a PreparedSong) ``bars``, with
    their ticks and velocities: what an interpolation's end taken from it writes exactly."""
    split = split_top_voice(other.track, list(other.bars), other.song.ticks_per_beat)
    voiced = split.top + (split.others if voice == "all" else ())
    start, end = other.target_steps(bars)
    return tuple(note for note in voiced if start <= note.start_step < end)
