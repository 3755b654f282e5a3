"""The pool of one file's candidates: drawn through ``draw.draw_pool``, judged on the notes they
write (all rests, the original bars, a copy of an earlier member, a leap out of the bars over
``--max-leap``, the original pitches at most onsets under ``--keep-rhythm``), ranked by the fit score, the best ``count`` kept; and warnings for exact bars
(endpoints) that break a requested control."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Optional, Sequence

from clsm_cli.editing.draw import (
    KEEP_RHYTHM_NEW_PITCHES,
    MAX_DRAWS,
    draw_pool,
    mean_log_prob,
    pool_indices,
    pool_size,
)
from clsm_cli.editing.generate import Candidate
from clsm_cli.editing.options import EditOptions, FileResult, Redraw
from clsm_cli.editing.prepare import PreparedSong
from clsm_cli.editing.ranking import Score, score_candidate
from clsm_cli.editing.splice import notes_for_writer
from clsm_cli.editing.steering import Steering, achieved_by, broken_controls, fit_context
from clsm_cli.errors import InputFileError
from clsm_cli.music.tokens import StepNote


@dataclass(frozen=True)
class Draft:
    """One pool member of a whole target (every chunk): the version and the candidates that made it."""

    version: Any  # verbs' version of the song: its line, latents, tokens, score
    candidates: tuple[Candidate, ...]


def ranked(prepared: PreparedSong, options: EditOptions, edit_model, result: FileResult,
            steering: Steering, draw: Callable[[Sequence[int], int], list], originals: Sequence[Sequence[StepNote]], count: int,
            heard: Optional[Sequence[StepNote]] = None) -> list:
    """Draw the pool through ``draw``, redraw or drop what is no edit, rank, keep the best ``count``
    (``heard``: the context the model heard, for the fit score)."""
    start, end = prepared.target_steps(options.bars)
    originals = [onsets([n for n in prepared.line if start <= n.start_step < end])] + [onsets(o) for o in originals]
    fit = fit_context(steering, prepared, options.bars, edit_model.config, heard)

    def problem_of(draft: Draft, accepted: list[Draft]) -> Optional[str]:
        notes = onsets(notes_for_writer(draft.version.line, start, end))
        if not notes:
            return "all rests"
        if notes in originals:
            return "the original bars"
        if any(notes == onsets(notes_for_writer(other.version.line, start, end)) for other in accepted):
            return "a copy of an earlier candidate"
        if steering.request.keep_rhythm and repitched_share(notes, originals[0]) < KEEP_RHYTHM_NEW_PITCHES:
            return "the original pitches at most onsets"
        max_leap = steering.request.max_leap
        if max_leap is not None and fit.after is not None and abs(notes[-1][2] - fit.after) > max_leap:
            return f"a leap out of the bars over --max-leap {max_leap}"
        return None

    def score_of(draft: Draft) -> Score:
        return score_candidate(notes_for_writer(draft.version.line, start, end), mean_log_prob(draft.candidates), fit)

    size = pool_size(options.pool, count)
    result.pool = size
    pool = draw_pool(draw, pool_indices(size), problem_of, score_of, options.rank)
    result.redraws.extend(Redraw(r.index, options.bars, r.attempt, r.reason) for r in pool.redraws)
    result.redraws.extend(Redraw(index, options.bars, 0, f"dropped: {why}") for index, why in pool.dropped)
    if not pool.members:
        raise InputFileError(
            f"no acceptable candidate for {options.bars} of {prepared.path.name}: all {size} draws stayed all rests, "
            f"copies or leapt out of the bars after {MAX_DRAWS} draws each; try another --seed, a higher "
            "--temperature or fewer controls")
    if len(pool.members) < count:
        result.add_warning(f"only {len(pool.members)} of {size} draws were new music; writing {len(pool.members)} "
                           f"candidates instead of {count}")
    return [replace(draft.version, score=score) for draft, score in zip(pool.members[:count], pool.scores[:count])]


def repitched_share(notes: Sequence[tuple[int, int, int]], original: Sequence[tuple[int, int, int]]) -> float:
    """The share of the original onsets (start, end, pitch) whose pitch a candidate changed (1 with none)."""
    pitch_at = {start: pitch for start, _, pitch in notes}
    if not original:
        return 1.0
    return sum(pitch_at.get(start) != pitch for start, _, pitch in original) / len(original)


def onsets(notes: Sequence[StepNote]) -> tuple[tuple[int, int, int], ...]:
    """The new notes that start in the target (tied continuations aside), for comparing candidates."""
    return tuple(sorted((n.start_step, n.end_step, n.pitch) for n in notes if not n.tied_from_before))


def warn_broken(result: FileResult, prepared: PreparedSong, options: EditOptions, line: Sequence[StepNote],
                 what: str) -> None:
    """Warn when exact bars (an endpoint from a file or the original) break a requested control."""
    start, end = prepared.target_steps(options.bars)
    broken = broken_controls(achieved_by(notes_for_writer(line, start, end), result.steering, prepared, options.bars),
                             result.steering)
    if broken:
        result.add_warning(f"{what} is kept note for note and breaks {', '.join(broken)}")
