"""How far apart two versions of some bars are: the pitch edit distance, and its figures for a series.

The pitch edit distance is the Levenshtein distance (``clsm_cli/edit_distance.py``) between the
pitch sequences of two versions' notes, in the order they start: a note changed, added or removed
counts 1, a note only lengthened or moved in time counts 0. Divided by the number of notes of the
reference, it is the *distance per note* that ``clsm vary``'s amounts are measured in.
"""

from __future__ import annotations

from typing import Sequence

from clsm_cli.edit_distance import edit_distance
from clsm_cli.music.tokens import StepNote


def pitch_sequence(notes: Sequence[StepNote]) -> list[int]:
    """The pitches of ``notes`` in the order they start (lower first within a step)."""
    return [note.pitch for note in sorted(notes, key=lambda note: (note.start_step, note.pitch))]


def pitch_edit_distance(first: Sequence[StepNote], second: Sequence[StepNote]) -> int:
    """Notes to change, add or remove to turn the pitches of ``first`` into those of ``second``."""
    return edit_distance(pitch_sequence(first), pitch_sequence(second))


def series_distances(series: Sequence[Sequence[StepNote]]) -> dict:
    """An interpolation's distances: between neighbours, and from every step to each end.

    ``neighbour_distances[i]`` is the distance between steps i and i + 1; ``distance_to_start`` and
    ``distance_to_end`` have one value per step (0 at their own end).
    """
    return {
        "neighbour_distances": [pitch_edit_distance(series[i], series[i + 1]) for i in range(len(series) - 1)],
        "distance_to_start": [pitch_edit_distance(series[0], step) for step in series],
        "distance_to_end": [pitch_edit_distance(step, series[-1]) for step in series],
    }
