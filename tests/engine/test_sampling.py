"""Inverse-CDF token sampling from caller-given uniforms (``engine/sampling.py``)."""

import numpy as np
import pytest

from clsm_cli.engine.sampling import ARGMAX, Decoding, choose_tokens, step_uniforms
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
