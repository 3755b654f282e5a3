"""Generated target tokens back to notes, and new notes spliced into a line, as the writer does it.

All pure functions on :class:`StepNote` lists on the song step grid.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional, Sequence

import numpy as np

from clsm_cli.editing.window import ModelWindow
from clsm_cli.music.tokens import StepNote, decode_tokens


def target_notes(tokens: np.ndarray, window: ModelWindow, line: Sequence[StepNote]) -> list[StepNote]:
    """The notes of generated target tokens on the song's grid and at the song's pitch.

    A leading ``__`` continues what sounds just before the target in ``line``: the note becomes
    ``tied_from_before`` with that note's pitch, or disappears when a rest (or nothing) sounds.
    """
    start = window.target_start_step
    notes = []
    for note in decode_tokens(tokens, start_step=start):
        if note.tied_from_before:
            before = sounding_note(line, start - 1)
            if before is None:
                continue  # the rest before the target simply goes on
            notes.append(StepNote(note.start_step, note.end_step, before.pitch, tied_from_before=True))
        else:
            notes.append(replace(note, pitch=_midi_pitch(note.pitch - window.octave_shift)))
    return notes


def sounding_note(notes: Sequence[StepNote], step: int) -> Optional[StepNote]:
    """The highest note sounding at ``step`` (None for a rest or a step before the song)."""
    if step < 0:
        return None
    sounding = [note for note in notes if note.start_step <= step < note.end_step]
    return max(sounding, key=lambda note: note.pitch) if sounding else None


def _midi_pitch(pitch: int) -> int:
    """Fold a shifted-back pitch into MIDI's 0..127 (only matters for melodies at the extremes)."""
    while pitch > 127:
        pitch -= 12
    while pitch < 0:
        pitch += 12
    return pitch


def splice(notes: Sequence[StepNote], start: int, end: int, new_notes: Sequence[StepNote]) -> list[StepNote]:
    """``notes`` with steps ``start..end`` replaced by ``new_notes``, as the writer does it (pure).

    Notes crossing ``start`` keep their part before it (a tied new note extends the one of its
    pitch instead); notes crossing ``end`` keep their part after it, re-struck at ``end``.
    """
    kept: list[Optional[StepNote]] = []
    ending_at_start: dict[int, int] = {}  # pitch -> index in kept of a note cut at (or ending at) start
    restruck: dict[int, int] = {}  # index of a cut note -> index of its re-struck remainder
    for note in notes:
        if note.end_step <= start or note.start_step >= end:
            kept.append(note)
            if note.end_step == start:
                ending_at_start[note.pitch] = len(kept) - 1
            continue
        if note.start_step < start:
            kept.append(StepNote(note.start_step, start, note.pitch, note.tied_from_before))
            ending_at_start[note.pitch] = len(kept) - 1
        if note.end_step > end:
            kept.append(StepNote(end, note.end_step, note.pitch))
            if note.start_step < start:
                restruck[len(kept) - 2] = len(kept) - 1
    for note in new_notes:
        index = ending_at_start.get(note.pitch) if note.tied_from_before else None
        if index is None:
            kept.append(StepNote(note.start_step, note.end_step, note.pitch))
            continue
        previous = kept[index]
        new_end = note.end_step
        if new_end == end and index in restruck:
            # A tie through the whole range: the original note simply sounds on, never re-struck.
            new_end = kept[restruck[index]].end_step
            kept[restruck[index]] = None
        kept[index] = StepNote(previous.start_step, new_end, previous.pitch, previous.tied_from_before)
    return sorted((note for note in kept if note is not None), key=lambda note: (note.start_step, note.pitch))


def notes_for_writer(line: Sequence[StepNote], start: int, end: int) -> list[StepNote]:
    """The notes of a spliced line inside ``start..end``, as the writer takes them.

    A note that began before ``start`` and now lasts into the target is a tie: it is given from
    ``start`` with ``tied_from_before`` so the writer extends the original note.
    """
    notes = []
    for note in line:
        if note.end_step <= start or note.start_step >= end:
            continue
        if note.start_step < start:
            notes.append(StepNote(start, min(note.end_step, end), note.pitch, tied_from_before=True))
        else:
            notes.append(StepNote(note.start_step, min(note.end_step, end), note.pitch))
    return notes
