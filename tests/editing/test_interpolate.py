"""Interpolation and variation with the shipped model on the 4/4 example tunes (bars 3-4, seeds 1-3):
the measured properties of posterior-anchored decoding that issue 15 asks for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clsm_cli.editing import generate
from clsm_cli.editing.draw import pool_indices
from clsm_cli.editing.distances import pitch_edit_distance, series_distances
from clsm_cli.editing.options import command_decoding
from clsm_cli.editing.prepare import open_song, prepare_song
from clsm_cli.editing.splice import notes_for_writer, splice, target_notes
from clsm_cli.editing.window import centred_window
from clsm_cli.engine.load import load_engine
from clsm_cli.music.bars import BarRange

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BARS = BarRange(3, 4)
SEEDS = (1, 2, 3)


@pytest.fixture(scope="module")
def shipped():
    return load_engine(None, "numpy", "cpu")


@pytest.fixture(scope="module")
def tunes(shipped):
    """(line, window, target start and end steps) of bars 3-4 of every 4/4 example tune."""
    found = []
    for path in sorted(EXAMPLES.glob("*.mid")):
        opened = open_song(path, BARS)
        if any((bar.numerator, bar.denominator) != (4, 4) for bar in opened.bars):
            continue
        prepared = prepare_song(opened, BARS, None)
        window = centred_window(prepared, prepared.line, BARS, shipped.config)
        found.append((prepared.line, window, *prepared.target_steps(BARS)))
    assert len(found) == 3
    return found


def notes_of(candidate, line, window, start, end):
    """The target notes an output would hold for a decoded candidate."""
    return notes_for_writer(splice(line, start, end, target_notes(candidate.tokens, window, line)), start, end)


def test_interpolation_moves_steadily_from_start_to_end(shipped, tunes):
    """Neighbours differ less than the ends do: the largest neighbour step is on average below the
    ends' distance (0.89 of it for the triplet-grid folk-small, 0.71 for the 16th-grid one it
    replaced; a triplet quarter that comes or goes changes three notes at once), never more than
    1.5 times it, and the mean distance from the start grows step by step."""
    decoding = command_decoding(shipped.config, None, None)
    to_start, largest_steps = [], []
    for line, window, start, end in tunes:
        for seed in SEEDS:
            first, last = generate.prior_endpoints(shipped.engine, window.tokens, window.target, decoding, seed)
            steps = generate.interpolate(shipped.engine, window.tokens, window.target, decoding, seed, 8, first, last)
            distances = series_distances([notes_of(step, line, window, start, end) for step in steps])
            ends = distances["distance_to_start"][-1]
            largest_steps.append(max(distances["neighbour_distances"]) / max(1, ends))
            to_start.append(distances["distance_to_start"])
    assert np.mean(largest_steps) < 1.0 and max(largest_steps) <= 1.5, largest_steps
    mean_to_start = np.mean(to_start, axis=0)  # (9,)
    assert np.all(np.diff(mean_to_start) >= -1.0), mean_to_start


def test_the_amount_sets_how_far_variations_move(shipped, tunes):
    decoding = command_decoding(shipped.config, None, None)
    per_note = {}
    for amount in (0.25, 0.5, 1.0):
        distances = []
        for line, window, start, end in tunes:
            original = notes_for_writer(line, start, end)
            for seed in SEEDS:
                for candidate in generate.vary(shipped.engine, window.tokens, window.target, decoding, seed,
                                               pool_indices(8), amount):
                    moved = notes_of(candidate, line, window, start, end)
                    distances.append(pitch_edit_distance(original, moved) / len(original))
        per_note[amount] = float(np.mean(distances))
    assert per_note[0.25] < per_note[0.5] < per_note[1.0], per_note
    assert per_note[0.25] <= per_note[1.0] - 0.10, per_note
