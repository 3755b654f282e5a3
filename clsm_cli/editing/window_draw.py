"""Ranked infills of one window of tokens, with the editing commands' defaults and controls.

:func:`draw_window` is :func:`draw.draw_pool` for a bare window (no song around it): the quality
check (``clsm evaluate --quality``, ``benchmarks/quality.py``) and the steering benchmark draw
through it, so what they measure is what ``clsm infill`` writes (``clsm explore`` has a song, so it
draws as ``infill`` does, through ``pools.ranked``, and lists infill's very files). The window's
own context stands for the song: its notes outside the target give the default register (3
semitones either side) and the key (a profile estimate of their pitch classes, for ``--key auto``
and the key fit), its last note before the target and first after it the edge leaps. Pitches are
the window's (no octave shift).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from clsm_cli.constants import NUM_PITCHES
from clsm_cli.editing import generate
from clsm_cli.editing.controls import ControlRequest, default_register
from clsm_cli.editing.draw import (
    KEEP_RHYTHM_NEW_PITCHES,
    PoolRedraw,
    draw_pool,
    mean_log_prob,
    pool_indices,
    pool_size,
    token_problem,
)
from clsm_cli.editing.generate import Candidate
from clsm_cli.editing.ranking import FitContext, Score, score_candidate
from clsm_cli.editing.step_rules import (
    LineRules,
    bar_bounds,
    density_budget,
    file_pitches_of,
    pitch_mask,
    rhythm_classes,
)
from clsm_cli.engine.protocol import InferenceEngine, TargetSpan
from clsm_cli.music.key import Key, estimate_key, parse_key, pitch_class_weights
from clsm_cli.music.tokens import StepNote, decode_tokens
from clsm_cli.music.triplets import from_triplet_tokens
from clsm_cli.sampling import Decoding

SILENT_TARGET_DENSITY = (1.0, float("inf"))


@dataclass(frozen=True)
class WindowDraw:
    """The best candidates of one window, best first, and how the pool went."""

    candidates: list[Candidate]
    indices: list[int]  # each candidate's draw index j
    scores: list[Score]
    redraws: list[PoolRedraw]
    dropped: list[tuple[int, str]]
    key: Optional[Key]  # the context's key (estimated)
    rules: LineRules  # the masks the pool was drawn under


def sounding_notes(tokens: np.ndarray, start_step: int = 0) -> list[StepNote]:
    """The notes of a stretch of window tokens that starts on a quarter line, on either grid (a
    triplet quarter's notes land on its 16th steps 0, 1 and 3, as the editing commands read them)."""
    sixteenths, _ = from_triplet_tokens(tokens)
    return [note for note in decode_tokens(sixteenths, start_step=start_step) if note.pitch is not None]


def window_context(window: np.ndarray, target: TargetSpan) -> tuple[list[StepNote], list[StepNote]]:
    """The notes before and after the target in a window (window pitches; the target's own left out)."""
    window = np.asarray(window)
    before = sounding_notes(window[: target.start])
    after = sounding_notes(window[target.end :], start_step=target.end)
    return before, after


def draw_window(engine: InferenceEngine, window: np.ndarray, target: TargetSpan, decoding: Decoding, seed: int,
                count: int, pool: Optional[int] = None, request: ControlRequest = ControlRequest(), rank: bool = True,
                steps_per_bar: int = 16) -> WindowDraw:
    """The best ``count`` infills of ``window``'s target from a pool (``pool_size(pool, count)``) drawn
    under ``request``'s controls and the defaults, redrawn while silent, a copy, leaping out of
    the target over ``--max-leap`` or keeping most original pitches under ``--keep-rhythm``, ranked by the fit score (``rank`` False: draw order)."""
    window = np.asarray(window)
    before, after = window_context(window, target)
    context = before + after
    weights = pitch_class_weights([n.pitch for n in context], [n.end_step - n.start_step for n in context])
    key = estimate_key(weights)
    lock = key if request.key == "auto" else (parse_key(request.key) if request.key is not None else None)
    if isinstance(request.pitch_range, tuple):
        pitch_range = request.pitch_range
    elif request.pitch_range == "any":
        pitch_range = None
    else:
        pitch_range = default_register([n.pitch for n in context], [])
    original = window[target.start : target.end].astype(np.int64)
    density = request.density
    if density is None and not request.keep_rhythm and not np.any(original < NUM_PITCHES):
        density = SILENT_TARGET_DENSITY
    pitches = file_pitches_of(0)
    allowed = pitch_mask(pitches, None if lock is None else lock.scale, pitch_range)
    if not allowed.any():  # a register outside the vocabulary: the key and the vocabulary decide
        allowed = pitch_mask(pitches, None if lock is None else lock.scale, None)
    bars = [(start, min(start + steps_per_bar, target.end)) for start in range(target.start, target.end, steps_per_bar)]
    bar_starts, bar_ends = bar_bounds(bars, target.start, target.length)
    rules = LineRules(
        file_pitches=pitches, pitch_allowed=allowed, previous_pitch=before[-1].pitch if before else None,
        max_leap=request.max_leap, rhythm=rhythm_classes(original) if request.keep_rhythm else None,
        bar_starts=bar_starts, bar_ends=bar_ends, density=density_budget(density),
        num_classes=engine.config.num_music_tokens,
    )
    next_pitch = after[0].pitch if after else None
    fit = FitContext(key=key, before=rules.previous_pitch, after=next_pitch,
                     context_pitches=tuple(n.pitch for n in context),
                     context_onsets=tuple((n.start_step, n.pitch) for n in context), target_steps=target.length)

    def draw(indices, attempt):
        return generate.infill(engine, window, target, decoding, seed, indices, attempt=attempt, rules=rules)

    def problem_of(candidate: Candidate, accepted: list[Candidate]) -> Optional[str]:
        problem = token_problem(candidate.tokens, original, [other.tokens for other in accepted])
        onset_steps = original < NUM_PITCHES
        if problem is None and request.keep_rhythm and onset_steps.any() and np.mean(
                candidate.tokens[onset_steps] != original[onset_steps]) < KEEP_RHYTHM_NEW_PITCHES:
            return "the original pitches at most onsets"
        if problem is None and request.max_leap is not None and next_pitch is not None:
            pitched = candidate.tokens[candidate.tokens < NUM_PITCHES]
            if len(pitched) and abs(int(pitches[pitched[-1]]) - next_pitch) > request.max_leap:
                return f"a leap out of the bars over --max-leap {request.max_leap}"
        return problem

    def score_of(candidate: Candidate) -> Score:
        notes = sounding_notes(candidate.tokens, start_step=target.start)
        return score_candidate(notes, mean_log_prob([candidate]), fit)

    drawn = draw_pool(draw, pool_indices(pool_size(pool, count)), problem_of, score_of, rank)
    return WindowDraw(drawn.members[:count], drawn.indices[:count], drawn.scores[:count], drawn.redraws,
                      drawn.dropped, key, rules)
