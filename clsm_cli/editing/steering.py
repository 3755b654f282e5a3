"""One file's controls resolved against its song: the key, the register, the kept notes, the
harmony of the other tracks; and from them each window's step masks, fit context and the
measures of what a candidate achieved.

Defaults that need no option: new notes stay in the register of the window's melody notes (3
semitones either side; the melody's register over the song for a silent target), the top voice of
a track with chords stays above the notes kept under it, and a silent target gets at least one
note per bar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from clsm_cli.editing import controls as control_values
from clsm_cli.editing.controls import Achieved, ControlRequest
from clsm_cli.editing.edge_rules import edge_rules
from clsm_cli.editing.prepare import PreparedSong
from clsm_cli.editing.ranking import FitContext
from clsm_cli.editing.step_rules import (
    LineRules,
    bar_bounds,
    chord_weights,
    density_budget,
    file_pitches_of,
    floor_of_kept,
    pitch_mask,
    rhythm_classes,
)
from clsm_cli.editing.window import ModelWindow, bars_per_window
from clsm_cli.errors import InputFileError
from clsm_cli.music import melody
from clsm_cli.music.bars import BarRange, window_around
from clsm_cli.music.harmony import CHORD_SPAN_BEATS, beat_chords
from clsm_cli.music.key import Key, song_key
from clsm_cli.music.tokens import StepNote
from clsm_cli.sampling import StepMask

SILENT_TARGET_DENSITY = (1.0, float("inf"))  # a silent target gets at least one note per bar


@dataclass(frozen=True)
class Steering:
    """One file's controls, resolved (file pitches, song steps)."""

    request: ControlRequest
    song_key: Optional[Key]  # the key of the target's window (reported, scored)
    lock_key: Optional[Key]  # the key new notes must be in (--key), or None
    pitch_range: Optional[tuple[int, int]]  # --range, the default register, or None (--range any)
    density: Optional[tuple[float, float]]
    silent_target: bool
    kept: tuple[tuple[int, int], ...]  # (start step, pitch) of notes kept under the top voice
    harmony: Optional[dict]  # step -> pitch classes the other pitched tracks sound there (the ranking's harmony fit)
    chords: Optional[dict] = None  # beat step of the target -> the chord the other tracks play there (the step rules lean to it)

    def to_json(self) -> dict:
        record = self.request.to_json()
        record["key_used"] = None if self.lock_key is None else self.lock_key.name
        record["range_used"] = None if self.pitch_range is None else list(self.pitch_range)
        record["density_used"] = None if self.density is None else [self.density[0], None if not np.isfinite(
            self.density[1]) else self.density[1]]
        return record


def resolve_steering(prepared: PreparedSong, target: BarRange, request: ControlRequest, config,
                     voice: str = "top", include_target: bool = False,
                     context: Optional[Sequence[StepNote]] = None) -> Steering:
    """The controls of one file and target (``include_target``: vary's register counts the target's
    notes; ``context``: the line the model hears when the melody is silent, ``editing/silent.py``).
    InputFileError (exit 3) for settings this file cannot meet."""
    start, end = prepared.target_steps(target)
    window_bars = window_around(target, len(prepared.bars), bars_per_window(config))
    window_start, window_end = window_bars.step_span(prepared.bars)
    in_window = [n for n in prepared.line if window_start <= n.start_step < window_end
                 and (include_target or not start <= n.start_step < end)]
    in_target = [n for n in prepared.line if start <= n.start_step < end]
    first_bar, last_bar = prepared.bars[window_bars.first - 1], prepared.bars[window_bars.last - 1]
    key = song_key(prepared.song, first_bar.start_tick, last_bar.end_tick)
    if key is None:
        key = song_key(prepared.song, 0, prepared.bars[-1].end_tick)
    lock = None
    if request.key == "auto":
        if key is None:
            raise InputFileError(f"{prepared.path.name} has no notes to find its key from; give --key")
        lock = key
    elif request.key is not None:
        lock = request.given_key
    if isinstance(request.pitch_range, tuple):
        pitch_range = request.pitch_range
    elif request.pitch_range == "any":
        pitch_range = None
    else:
        song_pitches = [n.pitch for n in prepared.line] or [n.pitch for n in context or ()]
        pitch_range = control_values.default_register([n.pitch for n in in_window] + (
            [n.pitch for n in in_target] if include_target else []), song_pitches)
    if request.keep_rhythm and not in_target:
        raise InputFileError(f"{target} of {prepared.path.name} are all rests, so --keep-rhythm has no rhythm to keep")
    density = request.density
    if density is None and not request.keep_rhythm and not in_target:
        density = SILENT_TARGET_DENSITY
    kept = ()
    if voice == "top" and request.top_voice:
        kept = tuple((n.start_step, n.pitch) for n in prepared.accompaniment if start <= n.start_step < end)
    others = _other_tracks_notes(prepared)
    harmony = _sounding_classes(others, window_start, window_end)
    chords = _target_chords(others, prepared, target) if request.follow_chords else None
    return Steering(request, key, lock, pitch_range, density, not in_target, kept, harmony, chords)


def _other_tracks_notes(prepared: PreparedSong) -> list[StepNote]:
    """The notes of the song's other pitched tracks on the song step grid (not the melody, not drums)."""
    others = [t for t in prepared.song.tracks if not t.is_drum and t.number != prepared.track.number and t.notes]
    bars = list(prepared.bars)
    return [note for track in others
            for note in melody.quantize_track(track, bars, prepared.song.ticks_per_beat).notes]


def _sounding_classes(notes: Sequence[StepNote], first_step: int, end_step: int) -> Optional[dict]:
    """Steps of the window -> the pitch classes ``notes`` sound there (None: none sounds)."""
    sounding: dict[int, set[int]] = {}
    for note in notes:
        for step in range(max(note.start_step, first_step), min(note.end_step, end_step)):
            sounding.setdefault(step, set()).add(note.pitch % 12)
    return {step: frozenset(classes) for step, classes in sounding.items()} or None


def _target_chords(notes: Sequence[StepNote], prepared: PreparedSong, target: BarRange) -> Optional[dict]:
    """Beat steps of the target's bars -> the chord ``notes`` play there (``music/harmony.py``)."""
    if not notes:
        return None
    starts = np.array([n.start_step for n in notes])
    ends = np.array([n.end_step for n in notes])
    pitches = np.array([n.pitch for n in notes])
    chords: dict[int, frozenset[int]] = {}
    for number in target.numbers:
        bar = prepared.bars[number - 1]
        beat = bar.time_signature.beat_steps
        chords.update(beat_chords(starts, ends, pitches, range(bar.first_step, bar.first_step + bar.steps, beat),
                                  CHORD_SPAN_BEATS * beat))
    return chords or None


def line_rules(steering: Steering, prepared: PreparedSong, window: ModelWindow, chunk: BarRange,
               line: Sequence[StepNote], original_tokens: np.ndarray, num_classes: int) -> StepMask:
    """The step masks of one chunk in its window, over the model's ``num_classes`` decoder classes
    (:class:`LineRules`, with the rules at the target's first steps: ``editing/edge_rules.py``).
    InputFileError when no pitch is left to draw."""
    start, end = prepared.target_steps(chunk)
    pitches = file_pitches_of(window.octave_shift)
    scale = None if steering.lock_key is None else steering.lock_key.scale
    allowed = pitch_mask(pitches, scale, steering.pitch_range)
    if not allowed.any():
        key_text = "" if steering.lock_key is None else f" in {steering.lock_key.name}"
        raise InputFileError(f"no note{key_text} inside the range {_range_text(steering.pitch_range)} is one the "
                             f"model can write around {chunk} of {prepared.path.name}; widen --range")
    before = [n for n in line if n.start_step < start]
    previous = before[-1].pitch if before else None
    request = steering.request
    spans = [prepared.bars[number - 1] for number in chunk.numbers]
    bar_starts, bar_ends = bar_bounds([(b.first_step, b.first_step + b.steps) for b in spans], start, end - start)
    rules = LineRules(
        file_pitches=pitches, pitch_allowed=allowed, previous_pitch=previous, max_leap=request.max_leap,
        rhythm=rhythm_classes(original_tokens) if request.keep_rhythm else None,
        floor=floor_of_kept(steering.kept, start, end - start),
        bar_starts=bar_starts, bar_ends=bar_ends, density=density_budget(steering.density), num_classes=num_classes,
        pitch_weights=None if steering.chords is None else chord_weights(steering.chords, pitches, start, end - start),
    )
    return edge_rules(rules, prepared.bars, prepared.song.ticks_per_beat, start, line, steering.kept, num_classes)


def _range_text(pitch_range: Optional[tuple[int, int]]) -> str:
    return "any" if pitch_range is None else f"{pitch_range[0]}-{pitch_range[1]}"


def fit_context(steering: Steering, prepared: PreparedSong, target: BarRange, config,
                line: Optional[Sequence[StepNote]] = None) -> FitContext:
    """What the ranking judges the whole target against (``line``: the context the model heard,
    the melody by default)."""
    line = prepared.line if line is None else line
    start, end = prepared.target_steps(target)
    window_bars = window_around(target, len(prepared.bars), bars_per_window(config))
    window_start, window_end = window_bars.step_span(prepared.bars)
    context = [n for n in line if window_start <= n.start_step < window_end and not start <= n.start_step < end]
    before = [n for n in line if n.start_step < start]
    after = [n for n in line if n.start_step >= end]
    return FitContext(
        key=steering.song_key, before=before[-1].pitch if before else None, after=after[0].pitch if after else None,
        context_pitches=tuple(n.pitch for n in context), harmony=steering.harmony,
        context_onsets=tuple((n.start_step, n.pitch) for n in context), target_steps=end - start,
    )


def achieved_by(new_notes: Sequence[StepNote], steering: Steering, prepared: PreparedSong, target: BarRange) -> Achieved:
    """What one candidate's new target notes achieved against the controls."""
    start, end = prepared.target_steps(target)
    original = [n for n in prepared.line if start <= n.start_step < end]
    before = [n for n in prepared.line if n.start_step < start]
    after = [n for n in prepared.line if n.start_step >= end]
    spans = [(b.first_step, b.first_step + b.steps) for b in (prepared.bars[i - 1] for i in target.numbers)]
    return control_values.achieved(new_notes, original, steering.lock_key or steering.song_key,
                                   before[-1].pitch if before else None, after[0].pitch if after else None, spans)


def broken_controls(achieved: Achieved, steering: Steering) -> list[str]:
    """The requested controls an exact endpoint (a file's or the original bars) does not meet."""
    broken = []
    request = steering.request
    if steering.lock_key is not None and request.key is not None and (achieved.in_key_share or 1.0) < 1.0:
        broken.append(f"--key {steering.lock_key.name}")
    if isinstance(request.pitch_range, tuple) and achieved.lowest is not None and (
            achieved.lowest < request.pitch_range[0] or achieved.highest > request.pitch_range[1]):
        broken.append("--range")
    if request.max_leap is not None and achieved.largest_leap is not None and achieved.largest_leap > request.max_leap:
        broken.append(f"--max-leap {request.max_leap}")
    if request.density is not None and any(not request.density[0] <= count <= request.density[1]
                                           for count in achieved.notes_per_bar):
        broken.append("--density")
    return broken
