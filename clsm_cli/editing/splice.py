"""Generated target tokens back to notes, and new notes spliced into a line, as the writer does it.

All pure functions on :class:`StepNote` lists on the song step grid. :func:`splice` follows the
surgical writer's boundary rules (``music.edit_plan``): a note belongs to the bar its quantized
onset falls in and is replaced whole when that bar is edited; a note outside keeps its start and
end unless a new note starts while it still sounds (then it ends there); a hold at the first
target step is a new note, never an extension of the note before the target.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional, Sequence

import numpy as np

from clsm_cli.editing.window import ModelWindow
from clsm_cli.music.tokens import StepNote, decode_tokens
from clsm_cli.music.triplets import from_triplet_tokens


def target_notes(tokens: np.ndarray, window: ModelWindow, line: Sequence[StepNote]) -> list[StepNote]:
    """The notes of generated target tokens on the song's grid and at the song's pitch.

    A leading ``__`` holds what sounds just before the target in ``line``: the note becomes
    ``tied_from_before`` with that note's pitch (a new note of that pitch, see :func:`splice`), or
    disappears when a rest (or nothing) sounds.
    """
    start = window.target_start_step
    tokens, _ = from_triplet_tokens(tokens)  # a triplet quarter's steps on the 16th grid (no-op on 16ths)
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
    """``notes`` with those starting on steps ``start..end`` replaced by ``new_notes`` (pure), by the
    surgical writer's rules (``music.edit_plan``), on the step grid:

    * a note belongs to the range when its onset step lies in it, and is then replaced whole (also
      the part that sounded on past ``end``);
    * a note outside the range keeps its start and end, unless a new note starts while it still
      sounds: it then ends where that new note starts (a line does not overlap itself);
    * a new note ends where a kept note after it starts, when that note starts before it would end;
    * a hold at the first step (``tied_from_before``) is a new note of its pitch, never an
      extension of the note before the range; one of unknown pitch (None) is a rest.
    """
    kept = [note for note in notes if not start <= note.start_step < end]
    additions = []
    for note in sorted(new_notes, key=lambda n: n.start_step):
        if note.pitch is None:
            continue
        new_end = min([note.end_step] + [k.start_step for k in kept if note.start_step < k.start_step < note.end_step])
        if new_end > note.start_step:
            additions.append(StepNote(note.start_step, new_end, note.pitch))
    result = []
    for note in kept:
        cuts = [n.start_step for n in additions if note.start_step < n.start_step < note.end_step]
        result.append(StepNote(note.start_step, min(cuts), note.pitch, note.tied_from_before) if cuts else note)
    return sorted(result + additions, key=lambda note: (note.start_step, note.pitch))


def notes_for_writer(line: Sequence[StepNote], start: int, end: int) -> list[StepNote]:
    """The notes of a spliced line that start on steps ``start..end``: the new notes, as the writer
    takes them (notes before the range are the file's own and stay the writer's business)."""
    return [note for note in line if start <= note.start_step < end]


def edited_track_notes(
    all_notes: Sequence[StepNote],
    line: Sequence[StepNote],
    accompaniment: Sequence[StepNote],
    start: int,
    end: int,
    new_notes: Sequence[StepNote],
    voice: str,
) -> list[StepNote]:
    """A track's notes (chords kept) once ``new_notes`` replace steps ``start..end`` of its edited
    voice: its top voice ``line``, the ``accompaniment`` under it staying as it is, or, with
    ``voice="all"``, every note of ``all_notes``."""
    if voice == "all":
        return splice(all_notes, start, end, new_notes)
    edited = splice(line, start, end, new_notes) + list(accompaniment)
    return sorted(edited, key=lambda note: (note.start_step, note.pitch))


def target_triplet_steps(tokens: np.ndarray, window: ModelWindow) -> frozenset[int]:
    """The song steps of the quarters generated target ``tokens`` play as triplets (triplet grid)."""
    _, offsets = from_triplet_tokens(tokens)
    return frozenset(window.target_start_step + offset for offset in offsets)
