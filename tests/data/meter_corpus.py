"""Tunes in any meter, generated in code: a melody with the meter's rhythm, written as a MIDI file.

:func:`meter_tune` gives the notes (16th-note steps from the song start, 120 ticks a step at 480
ticks per beat) of ``num_bars`` bars of a meter; each ``seed`` walks its own pitches, so no window
of one tune equals a window of another in any key. :func:`write_tune` writes one file, with a time
signature for each meter section, so a tune may change meter on a bar line.
"""

from __future__ import annotations

from pathlib import Path

from clsm_cli.timebase import Meter
from synthetic_midi.midi_factory import make_midi, melody_track

STEP_TICKS = 120  # at 480 ticks per beat

# Note lengths in steps filling one bar: a waltz's quarters, a jig's long-short eighths, ...
BAR_RHYTHMS = {
    (4, 4): (4, 2, 2, 4, 4),
    (2, 2): (8, 4, 4),
    (3, 4): (4, 4, 2, 2),
    (6, 8): (4, 2, 2, 2, 2),
    (2, 4): (2, 2, 4),
    (9, 8): (4, 2, 4, 2, 6),
    (3, 8): (2, 2, 2),
    (5, 4): (4, 4, 4, 4, 4),
}


def meter_tune(meter: tuple[int, int], num_bars: int, seed: int, first_step: int = 0) -> list[tuple[int, int, int]]:
    """``num_bars`` bars of ``meter`` from ``first_step``: (start_step, end_step, pitch) notes in 60..76."""
    rhythm = BAR_RHYTHMS[meter]
    assert sum(rhythm) == Meter(*meter).steps_per_bar, meter
    notes = []
    step = first_step
    for index in range(num_bars * len(rhythm)):
        length = rhythm[index % len(rhythm)]
        pitch = 60 + (index * (seed % 5 + 2) + seed * 3 + (index // 7) * seed) % 17
        notes.append((step, step + length, pitch))
        step += length
    return notes


def write_tune(path: Path, sections: list[tuple[tuple[int, int], int]], seed: int) -> list[tuple[int, int, int]]:
    """A MIDI file of ``sections`` [(meter, bars), ...] played one after another; its notes."""
    notes, signatures, step = [], [], 0
    for meter, bars in sections:
        signatures.append((step * STEP_TICKS, *meter))
        notes += meter_tune(meter, bars, seed, first_step=step)
        step += bars * Meter(*meter).steps_per_bar
    path.parent.mkdir(parents=True, exist_ok=True)
    make_midi(path, [melody_track(notes, ticks_per_step=STEP_TICKS, name="Melody", program=73)], time_signatures=signatures)
    return notes
