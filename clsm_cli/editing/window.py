"""The model's window around a target: which bars it covers, and the tokens the model reads.

The window holds the model's ``window_steps`` (8 bars of its meter: ``window_steps //
steps_per_bar``), centred on the target and clamped to the song by :func:`bars.window_around`, the
one window geometry of clsm. Every target (each chunk of a long infill too) sees the bars on both
sides of it that exist, so a target at bar 1 is conditioned on what follows it. A short song is
padded with rests (with a warning), except when the padded window would hold no notes besides the
target's (a sketch edited whole): then the model sees the song repeated around the target, as a
loop, since a window of rests makes it predict rests. One octave shift moves the window's notes into
55..84; pitches still outside are folded for the model only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Sequence

import numpy as np

from clsm_cli.constants import HOLD_TOKEN, NUM_PITCHES, STEPS_PER_QUARTER
from clsm_cli.editing.prepare import PreparedSong
from clsm_cli.engine.protocol import TargetSpan
from clsm_cli.music.bars import BarRange, meter_run, window_around
from clsm_cli import timebase
from clsm_cli.timebase import Meter
from clsm_cli.music.song import note_arrays
from clsm_cli.music.triplets import place_on_triplet_grid, representable_triplets, to_triplet_tokens
from clsm_cli.music.tokens import (
    TOKEN_DTYPE,
    StepNote,
    encode_notes,
    fold_into_range,
    octave_shift_into_range,
    sounding_token_at,
)


def bars_per_window(config) -> int:
    """Bars of the model's meter in its window (8 for the paper's 128 steps of 4/4)."""
    return timebase.bars_per_window(int(config.window_steps), int(config.steps_per_bar))


@dataclass(frozen=True)
class ModelWindow:
    """A window as the model sees it, and how it maps back onto the song.

    ``start_step`` is the song step of window position 0 (negative when the window reaches before
    the song: those steps are rests). ``target`` is where the target sits inside the window.
    ``octave_shift`` was added to every pitch (folded pitches aside) and is taken off again.
    ``looped`` is True when the window shows a short song repeated around the target.
    """

    tokens: np.ndarray  # (window_steps,) uint8, canonical: the model's tokens (its grid's)
    start_step: int
    target: TargetSpan
    octave_shift: int
    looped: bool = False
    triplet_steps: frozenset[int] = frozenset()  # song steps of the quarters shown as triplets (triplet grid)

    @property
    def target_start_step(self) -> int:
        return self.start_step + self.target.start

    @property
    def context_has_notes(self) -> bool:
        """True when a note starts somewhere in the window outside the target."""
        outside = np.concatenate([self.tokens[: self.target.start],
                                  self.tokens[self.target.start + self.target.length :]])
        return bool(np.any(outside < NUM_PITCHES))


def build_window(line: Sequence[StepNote], start_step: int, target_start_step: int, target_length: int,
                 window_steps: int, triplet_steps: frozenset[int] = frozenset()) -> ModelWindow:
    """The model's view of one line of notes around a target (pure).

    One octave shift moves the window's notes into 55..84 (the most of them), pitches still
    outside are folded by octaves. A right context that begins inside a note (or a rest) starts
    with that note's pitch (or ``R``), not with ``__``: the target before it is being replaced.
    ``triplet_steps`` (a triplet-grid model's) are the song steps of quarters the line plays as
    triplets: they are shown as ``3:`` quarters (``music/triplets.py``).
    """
    end_step = start_step + window_steps
    inside = [note for note in line if note.start_step < end_step and note.end_step > start_step]
    shift = octave_shift_into_range(note.pitch for note in inside)
    model_notes = [replace(note, pitch=fold_into_range(note.pitch + shift), tied_from_before=False) for note in inside]
    tokens = encode_notes(model_notes, window_steps, start_step=start_step)
    target_start = target_start_step - start_step
    right = target_start + target_length
    if right < window_steps and tokens[right] == HOLD_TOKEN:
        tokens[right] = sounding_token_at(tokens, right)
    shown = frozenset(step for step in triplet_steps if start_step <= step < end_step)
    tokens = to_triplet_tokens(tokens, [step - start_step for step in shown])
    return ModelWindow(tokens.astype(TOKEN_DTYPE), start_step, TargetSpan(target_start, target_length), shift,
                       triplet_steps=shown)


def target_tokens_of(line: Sequence[StepNote], window: ModelWindow) -> np.ndarray:
    """What ``line`` holds where the window's target is, as the window's tokens (its octave shift) (pure)."""
    start, length = window.target_start_step, window.target.length
    inside = [note for note in line if note.start_step < start + length and note.end_step > start]
    model_notes = [replace(note, pitch=fold_into_range(note.pitch + window.octave_shift), tied_from_before=False)
                   for note in inside]
    tokens = encode_notes(model_notes, length, start_step=start)
    shown = representable_triplets(window.triplet_steps, line)
    return to_triplet_tokens(tokens, [step - start for step in shown if start <= step < start + length]).astype(TOKEN_DTYPE)


def song_triplet_steps(prepared: PreparedSong, config) -> frozenset[int]:
    """The quarters (song steps) the melody plays as triplets, for a triplet-grid model (none for a
    16th-grid one): each quarter on the grid that moves its onsets least (``music/triplets.py``),
    where the 16th-grid line can say it."""
    if not config.grid.has_triplets:
        return frozenset()
    notes = note_arrays(prepared.track)
    placement = place_on_triplet_grid(notes.start_ticks, notes.end_ticks, notes.pitches, list(prepared.bars),
                                      prepared.song.ticks_per_beat)
    return representable_triplets(placement.triplet_steps, prepared.line)


def chunk_triplet_steps(prepared: PreparedSong, config, generated: BarRange, generated_triplets: frozenset[int]):
    """The triplet quarters of a long infill's line once ``generated`` bars are new: the song's
    outside them, the generated ones inside (a later chunk's window shows both)."""
    first, end = generated.step_span(prepared.bars)
    kept = frozenset(step for step in song_triplet_steps(prepared, config) if not first <= step < end)
    return kept | generated_triplets


def centred_window(prepared: PreparedSong, line: Sequence[StepNote], target: BarRange, config,
                   triplet_steps: Optional[frozenset[int]] = None) -> ModelWindow:
    """The window centred on the ``target`` bars, with the bars on both sides that exist, kept off
    odd bars (a bar in a meter the model does not read).

    ``line`` is what the window shows outside the target (for a chunk of a long infill: the bars
    before it as already generated, the bars after it as in the song). A song shorter than the
    window whose bars around the target hold no notes is shown looped (:func:`looped_window`).
    ``triplet_steps``: the quarters ``line`` plays as triplets (default: the song's, for a
    triplet-grid model; :func:`song_triplet_steps`).
    """
    if triplet_steps is None:
        triplet_steps = song_triplet_steps(prepared, config)
    triplet_steps = representable_triplets(triplet_steps, line)
    run = model_bars_run(prepared, target, config)
    window_bars = window_around(target, len(prepared.bars), bars_per_window(config), within=run)
    start, end = prepared.target_steps(target)
    line = notes_within(line, prepared, run)
    window = build_window(line, prepared.bars[window_bars.first - 1].first_step, start, end - start,
                          config.window_steps, triplet_steps)
    if _song_steps(prepared) < config.window_steps and not window.context_has_notes:
        return looped_window(line, _song_steps(prepared), start, end - start, config, triplet_steps) or window
    return window


def looped_window(line: Sequence[StepNote], song_steps: int, target_start_step: int, target_length: int,
                  config, triplet_steps: frozenset[int] = frozenset()) -> Optional[ModelWindow]:
    """The window of a short song repeated before and after itself, the target centred (pure).

    None when the line holds no notes at all (a loop of rests would show nothing new). The song's
    triplet quarters repeat with it (when the song is whole quarters long).
    """
    if not line:
        return None
    copies = -(-int(config.window_steps) // song_steps) + 1  # enough copies to fill either side
    looped = [replace(note, start_step=note.start_step + copy * song_steps, end_step=note.end_step + copy * song_steps,
                      tied_from_before=False)
              for copy in range(-copies, copies + 1) for note in line]
    steps_per_bar = int(config.steps_per_bar)
    before = (int(config.window_steps) - target_length) // 2 // steps_per_bar * steps_per_bar
    repeated = frozenset(step + copy * song_steps for copy in range(-copies, copies + 1) for step in triplet_steps
                         ) if song_steps % STEPS_PER_QUARTER == 0 else frozenset()
    window = build_window(looped, target_start_step - before, target_start_step, target_length, config.window_steps,
                          repeated)
    return replace(window, looped=True)


def model_bars_run(prepared: PreparedSong, target: BarRange, config) -> BarRange:
    """The bars around ``target`` the model reads as its own (up to the nearest odd bar each side)."""
    return meter_run(prepared.bars, target, [Meter(*meter) for meter in config.meters], config.steps_per_bar)


def notes_within(line: Sequence[StepNote], prepared: PreparedSong, run: BarRange) -> Sequence[StepNote]:
    """The notes of ``line`` that start in the ``run`` bars, cut at its end: the model sees rests
    over odd bars. The whole song's line is returned as it is."""
    if run == BarRange(1, len(prepared.bars)):
        return line
    first, end = run.step_span(prepared.bars)
    return [replace(note, end_step=min(note.end_step, end)) for note in line if first <= note.start_step < end]


def short_song_warning(prepared: PreparedSong, window: ModelWindow, config) -> Optional[str]:
    name, count = prepared.path.name, len(prepared.bars)
    if window.looped:
        return (
            f"{name} has only {count} bar{'s' if count != 1 else ''}, with no notes around the target; "
            f"the model sees the song repeated around them, as a loop, to fill its {bars_per_window(config)}-bar window"
        )
    missing = window.start_step + config.window_steps - _song_steps(prepared)
    if missing <= 0:
        return None
    return (
        f"{name} has only {count} bars; the model sees "
        f"{missing // config.steps_per_bar} bars of rest after it to fill its {bars_per_window(config)}-bar window"
    )


def _song_steps(prepared: PreparedSong) -> int:
    return prepared.bars[-1].end_step
