"""The fit score's parts (``editing/ranking.py``) and the pool rule (``editing/draw.py``), pure."""

from __future__ import annotations

import pytest

from clsm_cli.editing.draw import draw_pool
from clsm_cli.editing.pools import repitched_share
from clsm_cli.editing.ranking import FitContext, Score, rank_order, score_candidate
from clsm_cli.music.key import parse_key
from clsm_cli.music.tokens import StepNote

C_MAJOR = parse_key("C")
CONTEXT = FitContext(key=C_MAJOR, before=67, after=69, context_pitches=(64, 65, 67, 69, 67, 65, 64, 62))


def notes(*pitches, start=32):
    return [StepNote(start + 4 * i, start + 4 * i + 4, p) for i, p in enumerate(pitches)]


def test_a_line_that_fits_loses_nothing_but_its_likelihood():
    score = score_candidate(notes(67, 65, 64, 65, 67), -0.7, CONTEXT)
    assert score == Score(-0.7, -0.7, 0.0, 0.0, 0.0, None, 0.0)


def test_each_misfit_costs_its_part():
    leapy = score_candidate(notes(55, 65, 64, 84), 0.0, CONTEXT)  # into the bars -12, out of them -15
    usual = 2.0  # the context's median leap
    assert leapy.edge_leaps == pytest.approx(-((12 - usual) + (15 - usual)) / 12)
    assert leapy.register_fit == pytest.approx(-0.5 / 12)  # medians 64.5 and 65: half a semitone apart
    sunk = score_candidate(notes(55, 53, 52, 53), 0.0, CONTEXT)
    assert sunk.register_fit == pytest.approx(-(65 - 53) / 12)  # an octave under the context: -1
    off_key = score_candidate(notes(67, 66, 68, 67), 0.0, CONTEXT)
    assert off_key.key_fit == pytest.approx(-0.5)
    assert off_key.total == pytest.approx(2 * -0.5 + off_key.register_fit)  # its middle, G4, is 2 semitones up
    repeating = score_candidate(notes(67, 67, 67, 65, 65), 0.0, CONTEXT)  # 3 of 4 steps repeat; the context none
    assert repeating.repeat_fit == pytest.approx(-0.75)
    assert repeating.total == pytest.approx(2 * -0.75 + repeating.edge_leaps + repeating.register_fit)


def test_harmony_fit_compares_with_the_contexts_own_agreement():
    harmony = {32: frozenset({0, 4, 7}), 36: frozenset({0, 4, 7}), 41: frozenset({2, 5, 9})}
    fit = FitContext(key=C_MAJOR, before=None, after=None, context_pitches=(60, 64), harmony=harmony,
                     context_onsets=((32, 60), (36, 64)))  # the context agrees on every beat
    half = score_candidate([StepNote(32, 36, 67), StepNote(36, 40, 66), StepNote(41, 44, 62)], 0.0, fit)
    assert half.harmony_fit == pytest.approx(2 / 3 - 1)  # 66 does not sound with C-E-G; 62 a 16th late does with D-F-A
    assert score_candidate([StepNote(34, 36, 61)], 0.0, fit).harmony_fit is None  # off the beat: not judged


def test_rank_order_is_best_first_ties_in_draw_order_or_draw_order_itself():
    scores = [Score(t, t, 0, 0, 0, None) for t in (-1.0, -0.5, -1.0, -0.2)]
    assert rank_order(scores) == [3, 1, 0, 2]
    assert rank_order(scores, rank=False) == [0, 1, 2, 3]


def test_the_pool_redraws_drops_and_ranks():
    drawn = {}

    def draw(indices, attempt):
        drawn.setdefault(attempt, []).extend(indices)
        # member 2 repeats member 1 until its third draw; member 3 stays silent
        return [{1: "a", 2: "a" if attempt < 2 else "b", 3: "", 4: "c"}[j] for j in indices]

    def problem_of(item, accepted):
        return "all rests" if not item else ("a copy" if item in accepted else None)

    pool = draw_pool(draw, [1, 2, 3, 4], problem_of, lambda item: Score({"a": 0, "b": 1, "c": -1}[item], 0, 0, 0, 0, None))
    assert pool.members == ["b", "a", "c"] and pool.indices == [2, 1, 4]
    assert [(r.index, r.attempt, r.reason) for r in pool.redraws] == [
        (2, 1, "a copy"), (2, 2, "a copy"), (3, 1, "all rests"), (3, 2, "all rests"), (3, 3, "all rests")]
    assert pool.dropped == [(3, "all rests")]
    assert drawn == {0: [1, 2, 3, 4], 1: [2, 3], 2: [2, 3], 3: [3]}


def test_keep_rhythm_asks_for_new_pitches_at_half_the_onsets():
    original = [(0, 4, 60), (4, 8, 62), (8, 12, 64), (12, 16, 65)]
    assert repitched_share([(0, 4, 60), (4, 8, 62), (8, 12, 67), (12, 16, 69)], original) == 0.5
    assert repitched_share([(0, 4, 60), (4, 8, 62), (8, 12, 64), (12, 16, 69)], original) == 0.25


def test_a_line_narrower_than_the_contexts_usual_stretch_costs_its_spread():
    onsets = tuple((step, pitch) for step, pitch in zip(range(0, 64, 4), [60, 64, 67, 72] * 4))  # 12 per 16 steps
    fit = FitContext(key=C_MAJOR, before=None, after=None, context_pitches=tuple(p for _, p in onsets),
                     context_onsets=onsets, target_steps=16)
    assert fit.usual_spread == 12
    assert score_candidate(notes(64, 65, 64, 65), 0.0, fit).spread_fit == pytest.approx(-(12 - 1) / 12)
    assert score_candidate(notes(60, 67, 72, 64), 0.0, fit).spread_fit == 0.0
