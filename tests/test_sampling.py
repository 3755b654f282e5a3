"""Inverse-CDF token sampling from caller-given uniforms (``sampling.py``)."""

import numpy as np
import pytest

from clsm_cli.sampling import (
    ARGMAX,
    Decoding,
    anchor_uniforms,
    choose_tokens,
    nucleus_mask,
    step_masks,
    step_uniforms,
    token_log_probs,
)
from clsm_cli.errors import UsageError

PROBABILITIES = np.array([0.5, 0.3, 0.15, 0.05])


def test_argmax_needs_no_uniforms():
    logits = np.array([[0.0, 3.0, 1.0], [5.0, 0.0, 0.0]], dtype=np.float32)
    assert choose_tokens(logits, ARGMAX, None).tolist() == [1, 0]


def test_a_uniform_picks_the_token_whose_cumulative_mass_passes_it_in_token_order():
    logits = np.log(np.repeat(PROBABILITIES[None], 6, axis=0))
    uniforms = np.array([0.0, 0.49, 0.51, 0.79, 0.81, 0.999999])
    assert choose_tokens(logits, Decoding(1.0, 1.0), uniforms).tolist() == [0, 0, 1, 1, 2, 3]


def test_frequencies_follow_the_nucleus_and_the_temperature():
    uniforms = np.random.default_rng(0).random(20000)
    logits = np.log(np.repeat(PROBABILITIES[None], uniforms.size, axis=0))
    nucleus = choose_tokens(logits, Decoding(1.0, 0.7), uniforms)
    assert set(nucleus.tolist()) == {0, 1}  # 0.5 + 0.3 reaches 0.7
    assert (nucleus == 0).mean() == pytest.approx(0.5 / 0.8, abs=0.02)
    sharp = choose_tokens(logits, Decoding(0.25, 1.0), uniforms)
    sharpened = PROBABILITIES**4 / (PROBABILITIES**4).sum()  # softmax(log p / 0.25)
    assert (sharp == 0).mean() == pytest.approx(sharpened[0], abs=0.02)


def test_uniforms_are_checked_against_the_decoder():
    assert step_uniforms(None, 2, 3, ARGMAX) is None
    assert step_uniforms(np.zeros((2, 3), np.float32), 2, 3, Decoding(1.0, 1.0)).dtype == np.float64
    with pytest.raises(ValueError, match="needs uniforms"):
        step_uniforms(None, 2, 3, Decoding(1.0, 1.0))
    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        step_uniforms(np.zeros((3, 2)), 2, 3, Decoding(1.0, 1.0))


@pytest.mark.parametrize(("temperature", "top_p"), [(-0.1, 1.0), (11.0, 1.0), (1.0, 0.0), (1.0, 1.5), (float("nan"), 1.0)])
def test_impossible_decodings_are_usage_errors(temperature, top_p):
    with pytest.raises(UsageError):
        Decoding(temperature, top_p)


@pytest.mark.parametrize("decoding", [Decoding(1.0, 1.0), Decoding(0.8, 0.9), Decoding(1.5, 0.5)])
def test_anchor_uniforms_draw_the_given_tokens_back(decoding):
    rng = np.random.default_rng(4)
    logits = rng.normal(0, 3, size=(200, 32))  # (L, C)
    fallback = rng.random(200)
    # Tokens the sampler itself drew (always inside the nucleus) and tokens drawn from anywhere.
    drawn = choose_tokens(logits, decoding, rng.random(200))
    anchors = anchor_uniforms(logits, drawn, decoding, fallback)
    assert np.array_equal(choose_tokens(logits, decoding, anchors), drawn)
    assert np.all((anchors >= 0) & (anchors < 1))
    anywhere = rng.integers(0, 32, size=200)
    anchors = anchor_uniforms(logits, anywhere, decoding, fallback)
    reproduced = choose_tokens(logits, decoding, anchors) == anywhere
    kept = _nucleus(logits, decoding)[np.arange(200), anywhere]
    assert np.all(reproduced[kept])  # every token the nucleus keeps comes back
    assert np.array_equal(anchors[~kept], fallback[~kept])  # the others keep the fresh uniform


def test_an_anchor_is_the_middle_of_its_tokens_interval():
    logits = np.log(np.array([[0.25, 0.5, 0.25]]))
    anchors = anchor_uniforms(logits, np.array([1]), Decoding(1.0, 1.0), np.array([0.9]))
    assert anchors == pytest.approx([0.5])
    with pytest.raises(ValueError, match="argmax"):
        anchor_uniforms(logits, np.array([1]), ARGMAX, np.array([0.9]))


def _nucleus(logits, decoding):
    scaled = logits / decoding.temperature
    probs = np.exp(scaled - scaled.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    return nucleus_mask(probs, decoding.top_p) if decoding.top_p < 1 else np.ones_like(probs, dtype=bool)


@pytest.mark.parametrize("decoding", [ARGMAX, Decoding(1.0, 1.0), Decoding(0.7, 0.8)], ids=str)
def test_masked_tokens_get_no_probability_and_the_rest_renormalise(decoding):
    rng = np.random.default_rng(11)
    logits = rng.normal(size=(200, 6)) * 2
    allowed = np.array([True, False, True, True, False, True])
    uniforms = None if decoding.is_argmax else rng.random(200)
    drawn = choose_tokens(logits, decoding, uniforms, allowed=allowed)
    assert set(drawn.tolist()) <= {0, 2, 3, 5}
    # The same draw as on a vocabulary without the masked tokens: they had zero mass.
    kept = np.flatnonzero(allowed)
    assert np.array_equal(kept[choose_tokens(logits[:, kept], decoding, uniforms)], drawn)
    per_row = np.broadcast_to(allowed, logits.shape).copy()
    assert np.array_equal(choose_tokens(logits, decoding, uniforms, allowed=per_row), drawn)  # (B, C) works too
    if not decoding.is_argmax:
        anchors = anchor_uniforms(logits, drawn, decoding, rng.random(200), allowed=allowed)
        assert np.array_equal(choose_tokens(logits, decoding, anchors, allowed=allowed), drawn)


# --- allowed: the controls' masks -----------------------------------------------------------------


@pytest.mark.parametrize("decoding", [ARGMAX, Decoding(1.0, 1.0), Decoding(0.8, 0.9)])
def test_masked_tokens_are_never_drawn(decoding):
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, size=(500, 32))
    allowed = rng.random((500, 32)) < 0.3
    allowed[np.arange(500), rng.integers(0, 32, 500)] = True  # every row allows a token
    drawn = choose_tokens(logits, decoding, None if decoding.is_argmax else rng.random(500), allowed)
    assert allowed[np.arange(500), drawn].all()
    if decoding.is_argmax:
        assert np.array_equal(drawn, np.where(allowed, logits, -np.inf).argmax(axis=1))


def test_a_mask_renormalises_before_the_nucleus():
    # Tokens 0 and 1 masked: the rest (0.15, 0.05) renormalise to 0.75, 0.25 before top-p 0.7 cuts.
    logits = np.log(np.repeat(PROBABILITIES[None], 4, axis=0))
    allowed = np.array([False, False, True, True])
    uniforms = np.array([0.0, 0.5, 0.74, 0.99])
    assert choose_tokens(logits, Decoding(1.0, 1.0), uniforms, allowed).tolist() == [2, 2, 2, 3]
    assert choose_tokens(logits, Decoding(1.0, 0.7), uniforms, allowed).tolist() == [2, 2, 2, 2]


def test_a_mask_that_allows_nothing_is_refused():
    with pytest.raises(ValueError, match="at least one token"):
        choose_tokens(np.zeros((2, 4)), Decoding(1.0, 1.0), np.zeros(2), np.array([[True] * 4, [False] * 4]))
    with pytest.raises(ValueError, match="shape"):
        choose_tokens(np.zeros((2, 4)), ARGMAX, None, np.ones(3, dtype=bool))


@pytest.mark.parametrize("decoding", [Decoding(1.0, 1.0), Decoding(0.9, 0.95)])
def test_anchor_uniforms_are_taken_on_the_masked_distribution(decoding):
    rng = np.random.default_rng(5)
    logits = rng.normal(0, 3, size=(300, 32))
    allowed = rng.random((300, 32)) < 0.4
    allowed[:, 7] = True
    drawn = choose_tokens(logits, decoding, rng.random(300), allowed)
    anchors = anchor_uniforms(logits, drawn, decoding, rng.random(300), allowed)
    assert np.array_equal(choose_tokens(logits, decoding, anchors, allowed), drawn)
    # Without the mask the same anchors would draw other tokens somewhere: they are the masked ones.
    assert not np.array_equal(choose_tokens(logits, decoding, anchors), drawn)


def test_token_log_probs_are_those_of_the_masked_distribution():
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]]))
    allowed = np.array([[False, True, True, False]])
    log_probs = token_log_probs(logits, np.array([2]), Decoding(1.0, 1.0), allowed)
    assert log_probs[0] == pytest.approx(np.log(0.15 / 0.45))
    assert token_log_probs(logits, np.array([0]), Decoding(1.0, 1.0), allowed)[0] == -np.inf
    assert token_log_probs(logits, np.array([0]), ARGMAX)[0] == pytest.approx(np.log(0.5))


def test_step_masks_rebuild_each_steps_mask_from_the_tokens_before_it():
    def no_repeat(step, generated):  # a pure rule: never the token drawn just before
        allowed = np.ones((generated.shape[0], 4), dtype=bool)
        if step:
            allowed[np.arange(generated.shape[0]), generated[:, -1]] = False
        return allowed

    masks = step_masks(no_repeat, np.array([[0, 1, 2], [3, 3, 0]]), 4)
    assert masks.shape == (2, 3, 4) and masks[:, 0].all()
    assert masks[0, 1].tolist() == [False, True, True, True] and masks[1, 2].tolist() == [True, True, True, False]
    assert step_masks(None, np.zeros((1, 2), dtype=int), 4) is None
