"""Drawing a pool of candidates, redrawing the ones that are no edit, and ranking the rest.

:func:`draw_pool` is the one window-level drawing function: every editing command (``infill``,
``vary``, ``interpolate``'s prior endpoints), ``clsm explore``, the quality check and the steering
benchmark draw through it. Pool member j (from 1) is drawn from the seed scheme with index j
(``engine/draws.candidate_draws(seed, j, ...)``), and its redraw a from attempt a, so the same seed
gives the same pool for any ``-n`` up to the pool size and the k-th file is the k-th best of it.

A draw is no edit, and is drawn again (up to ``MAX_DRAWS`` draws per member, each recorded), when
it is all rests, the original bars, or the same as an earlier member; a member that stays so is
dropped from the pool. The rest are scored (``editing/ranking.py``) and returned best first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from clsm_cli.constants import NUM_PITCHES
from clsm_cli.editing.generate import Candidate
from clsm_cli.editing.ranking import Score, rank_order

DEFAULT_POOL = 8  # candidates drawn per command before the best -n are written
MAX_DRAWS = 4  # draws of one pool member, the first included, before it is dropped
KEEP_RHYTHM_NEW_PITCHES = 0.5  # --keep-rhythm asks for new pitches: at least half the onsets change


@dataclass(frozen=True)
class PoolRedraw:
    """Pool member ``index`` was drawn again (redraw ``attempt``) because its draw was ``reason``."""

    index: int
    attempt: int
    reason: str


@dataclass
class DrawnPool:
    """What :func:`draw_pool` returns: accepted members best first, with their scores, and the redraws."""

    members: list = field(default_factory=list)  # drawn items, best first
    indices: list[int] = field(default_factory=list)  # each member's draw index j
    scores: list[Optional[Score]] = field(default_factory=list)
    redraws: list[PoolRedraw] = field(default_factory=list)
    dropped: list[tuple[int, str]] = field(default_factory=list)  # (index, why) of members that stayed no edit


def draw_pool(draw: Callable[[Sequence[int], int], list], indices: Sequence[int],
              problem_of: Callable[[object, list], Optional[str]],
              score_of: Optional[Callable[[object], Score]] = None, rank: bool = True,
              max_draws: int = MAX_DRAWS) -> DrawnPool:
    """Draw the pool ``indices`` (``draw(indices, attempt)`` returns one item per index), redraw each
    member while ``problem_of(item, accepted_before)`` names a problem, and rank what is left.

    ``accepted_before`` holds the members accepted earlier in draw order, so a copy of one of them
    is a problem. Without ``score_of`` or with ``rank`` False the pool keeps draw order.
    """
    first = draw(list(indices), 0)
    pool = DrawnPool()
    accepted, accepted_indices = [], []
    for index, item in zip(indices, first):
        problem = problem_of(item, accepted)
        attempt = 0
        while problem is not None and attempt + 1 < max_draws:
            attempt += 1
            pool.redraws.append(PoolRedraw(index, attempt, problem))
            (item,) = draw([index], attempt)
            problem = problem_of(item, accepted)
        if problem is not None:
            pool.dropped.append((index, problem))
            continue
        accepted.append(item)
        accepted_indices.append(index)
    scores = [score_of(item) for item in accepted] if score_of is not None else [None] * len(accepted)
    order = rank_order(scores, rank) if score_of is not None else list(range(len(accepted)))
    pool.members = [accepted[i] for i in order]
    pool.indices = [accepted_indices[i] for i in order]
    pool.scores = [scores[i] for i in order]
    return pool


def pool_indices(size: int) -> range:
    """The draw indices of a pool of ``size``: 1..size."""
    if int(size) < 1:
        raise ValueError(f"a pool holds at least one candidate, got {size}")
    return range(1, int(size) + 1)


def pool_size(requested: Optional[int], count: int) -> int:
    """``--pool`` (default ``DEFAULT_POOL``), raised to the number of candidates asked for."""
    return max(int(requested) if requested is not None else DEFAULT_POOL, int(count))


def token_problem(tokens: np.ndarray, original: Optional[np.ndarray], earlier: Sequence[np.ndarray]) -> Optional[str]:
    """Why a drawn target is no edit, on tokens (pure): all rests, the original, a copy of an earlier one."""
    tokens = np.asarray(tokens)
    if not np.any(tokens < NUM_PITCHES):
        return "all rests"
    if original is not None and np.array_equal(tokens, original):
        return "the original bars"
    if any(np.array_equal(tokens, other) for other in earlier):
        return "a copy of an earlier candidate"
    return None


def mean_log_prob(candidates: Sequence[Candidate]) -> float:
    """The mean per-token log-probability over the chunks of one candidate (0 when none was drawn)."""
    values = [c.log_probs for c in candidates if c.log_probs is not None]
    if not values:
        return 0.0
    joined = np.concatenate(values)
    finite = joined[np.isfinite(joined)]
    return float(finite.mean()) if len(finite) else 0.0
