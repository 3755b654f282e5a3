"""One result, two engines: the numpy engine computes what the torch CLSM computes.

On a tiny model with every weight perturbed and on the shipped model: prior, posterior and the
flow (both ways) agree within 1e-5, decoder logits within 1e-4 at every step, and the tokens of
the examples' windows are identical for many seeds, drawn as an edit draws them
(``draws.candidate_draws``). A token may flip only where the two engines' float rounding straddles
a decision boundary: such rows are counted, checked to be ties, and must stay rare.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from clsm_cli.engine import latent
from clsm_cli.engine.draws import candidate_draws
from clsm_cli.engine.protocol import TargetSpan
from clsm_cli.sampling import ARGMAX, Decoding

from .conftest import random_window

LATENT_TOLERANCE = 1e-5
LOGIT_TOLERANCE = 1e-4
TIE_MARGIN = 1e-4  # a flip is a tie when the torch logits put its uniform (or its top two) this close to a boundary
TARGETS = [TargetSpan(0, 16), TargetSpan(32, 32), TargetSpan(48, 48), TargetSpan(64, 64), TargetSpan(112, 16)]
EXAMPLE_WINDOWS = json.loads((Path(__file__).parent / "example_windows.json").read_text())["windows"]


def _example(entry) -> tuple[np.ndarray, TargetSpan]:
    tokens = np.array([int(token) for token in entry["tokens"].split()], dtype=np.uint8)
    return tokens, TargetSpan(*entry["target"])


def _assert_latents_agree(numpy_engine, torch_engine, window, target):
    for method in ("prior", "posterior"):
        ours, reference = getattr(numpy_engine, method)(window, target), getattr(torch_engine, method)(window, target)
        assert ours.mean.dtype == np.float32 and ours.mean.shape == reference.mean.shape
        np.testing.assert_allclose(ours.mean, reference.mean, rtol=0, atol=LATENT_TOLERANCE, err_msg=method)
        np.testing.assert_allclose(ours.logvar, reference.logvar, rtol=0, atol=LATENT_TOLERANCE, err_msg=method)


def _assert_flows_agree(numpy_engine, torch_engine, rows):
    ours_w, reference_w = numpy_engine.flow_forward(rows), torch_engine.flow_forward(rows)
    assert ours_w.dtype == np.float32
    np.testing.assert_allclose(ours_w, reference_w, rtol=0, atol=LATENT_TOLERANCE)
    np.testing.assert_allclose(numpy_engine.flow_inverse(rows), torch_engine.flow_inverse(rows), rtol=0, atol=LATENT_TOLERANCE)
    np.testing.assert_allclose(numpy_engine.flow_inverse(ours_w), rows, rtol=0, atol=LATENT_TOLERANCE)


def _is_tie(logits: np.ndarray, decoding: Decoding, uniform: float) -> bool:
    """Whether float rounding of ``logits`` (C,) could move the token chosen at this step."""
    if decoding.is_argmax:
        top_two = np.sort(logits)[-2:]
        return bool(top_two[1] - top_two[0] < TIE_MARGIN)
    scaled = logits.astype(np.float64) / decoding.temperature
    probs = np.exp(scaled - scaled.max())
    probs /= probs.sum()
    order = np.argsort(-probs, kind="stable")
    mass_before = np.cumsum(probs[order]) - probs[order]
    near_nucleus_edge = np.abs(mass_before - decoding.top_p).min() < TIE_MARGIN
    kept = probs * np.isin(np.arange(probs.size), order[mass_before < decoding.top_p])
    cumulative = np.cumsum(kept) / kept.sum()
    return bool(near_nucleus_edge or np.abs(cumulative - uniform).min() < TIE_MARGIN)


def _compare_decoding(numpy_engine, torch_engine, window, target, z, decoding, uniforms) -> tuple[int, float]:
    """Decode z with both engines; returns (rows whose tokens differ, max abs logit difference).

    Logits are compared at every step with the numpy engine teacher-forced on the torch tokens,
    so a flipped row still has all its steps compared; a flipped row must start at a tie."""
    ours, _ = numpy_engine.decode_with_logits(window, target, z, decoding, uniforms)
    reference, reference_logits = torch_engine.decode_with_logits(window, target, z, decoding, uniforms)
    windows = np.repeat(window[None], z.shape[0], axis=0)
    windows[:, target.start : target.end] = reference
    forced = numpy_engine.teacher_forced_logits(windows, target, z)  # (n, length, C)
    difference = float(np.abs(forced - reference_logits).max())
    flipped = np.flatnonzero((ours != reference).any(axis=1))
    for row in flipped:
        step = int(np.flatnonzero(ours[row] != reference[row])[0])
        uniform = 0.0 if uniforms is None else float(uniforms[row, step])
        assert _is_tie(reference_logits[row, step], decoding, uniform), f"row {row} flips at step {step} without a tie"
    return len(flipped), difference


@pytest.mark.parametrize("target", TARGETS, ids=lambda target: f"{target.start}+{target.length}")
def test_tiny_model_latents_and_flow_agree(tiny_engines, target):
    numpy_engine, torch_engine = tiny_engines
    _assert_latents_agree(numpy_engine, torch_engine, random_window(target.start), target)
    rows = np.random.default_rng(target.length).standard_normal((6, numpy_engine.config.z_dim)).astype(np.float32)
    _assert_flows_agree(numpy_engine, torch_engine, rows)


@pytest.mark.parametrize("target", TARGETS, ids=lambda target: f"{target.start}+{target.length}")
@pytest.mark.parametrize("decoding", [ARGMAX, Decoding(1.0, 1.0), Decoding(0.8, 0.9)], ids=str)
def test_tiny_model_decodes_the_same_tokens_from_the_same_logits(tiny_engines, target, decoding):
    numpy_engine, torch_engine = tiny_engines
    rng = np.random.default_rng(target.start + target.length)
    z = rng.standard_normal((8, numpy_engine.config.z_dim)).astype(np.float32)
    uniforms = None if decoding.is_argmax else rng.random((8, target.length))
    flipped, difference = _compare_decoding(numpy_engine, torch_engine, random_window(3), target, z, decoding, uniforms)
    assert difference < LOGIT_TOLERANCE
    assert flipped == 0


def test_cached_decoding_matches_the_full_pass(tiny_engines):
    """The KV cache changes nothing: each step's logits equal a full masked pass over the tokens so far."""
    numpy_engine, _ = tiny_engines
    window, target = random_window(9), TargetSpan(40, 48)
    z = np.random.default_rng(1).standard_normal((3, numpy_engine.config.z_dim)).astype(np.float32)
    tokens, logits = numpy_engine.decode_with_logits(window, target, z, Decoding(1.0, 1.0), np.random.default_rng(2).random((3, 48)))
    for row in range(3):
        filled = window.copy()
        filled[target.start : target.end] = tokens[row]
        forced = numpy_engine.teacher_forced_logits(filled, target, z[row : row + 1])[0]
        np.testing.assert_allclose(logits[row], forced, rtol=0, atol=1e-5)


def test_shipped_model_latents_and_flow_agree_on_the_examples(shipped_engines):
    numpy_engine, torch_engine = shipped_engines
    for entry in EXAMPLE_WINDOWS:
        _assert_latents_agree(numpy_engine, torch_engine, *_example(entry))
    rows = np.random.default_rng(0).standard_normal((16, numpy_engine.config.z_dim)).astype(np.float32)
    _assert_flows_agree(numpy_engine, torch_engine, rows)


SEEDS = range(8)
CANDIDATES = 4


@pytest.mark.slow  # the shipped model over many seeds: seconds per decoding
@pytest.mark.parametrize("decoding", [ARGMAX, Decoding(0.9, 0.95), Decoding(1.0, 1.0)], ids=str)
def test_shipped_model_writes_the_same_tokens_for_many_seeds(shipped_engines, decoding):
    """Each example window, 8 seeds x 4 candidates drawn as ``clsm infill`` draws them."""
    numpy_engine, torch_engine = shipped_engines
    z_dim = numpy_engine.config.z_dim
    rows = flipped = 0
    for entry in EXAMPLE_WINDOWS:
        window, target = _example(entry)
        draws = [candidate_draws(seed, k, z_dim, target.length) for seed in SEEDS for k in range(CANDIDATES)]
        prior = numpy_engine.prior(window, target)
        w = latent.prior_sample_w(prior.mean, prior.logvar, np.stack([draw.latent_noise for draw in draws]))
        uniforms = None if decoding.is_argmax else np.stack([draw.token_uniforms for draw in draws])
        window_flips, difference = _compare_decoding(
            numpy_engine, torch_engine, window, target, numpy_engine.flow_inverse(w), decoding, uniforms
        )
        assert difference < LOGIT_TOLERANCE, (entry["file"], entry["bars"], difference)
        rows, flipped = rows + len(draws), flipped + window_flips
    assert rows == len(EXAMPLE_WINDOWS) * len(SEEDS) * CANDIDATES
    assert flipped <= rows // 200, f"{flipped} of {rows} candidates differ between the engines"


def test_a_flip_counts_as_a_tie_only_near_a_decision_boundary():
    """The tie check that excuses a flip is itself strict."""
    logits = np.log(np.array([0.5, 0.3, 0.2], dtype=np.float32))
    assert _is_tie(np.array([1.0, 1.0 + 5e-5, -2.0], dtype=np.float32), ARGMAX, 0.0)
    assert not _is_tie(logits, ARGMAX, 0.0)
    assert _is_tie(logits, Decoding(1.0, 1.0), 0.5 + 2e-5)  # the CDF passes 0.5 after token 0
    assert not _is_tie(logits, Decoding(1.0, 1.0), 0.65)
    assert _is_tie(logits, Decoding(1.0, 0.8 + 5e-5), 0.1)  # the nucleus edge sits at 0.8


@pytest.mark.parametrize("target", TARGETS, ids=lambda target: f"{target.start}+{target.length}")
def test_the_three_segment_masks_are_the_same(target):
    from clsm_cli.engine.numpy_engine import three_segment_mask
    from clsm_cli.models.clsm import three_segment_mask as torch_three_segment_mask

    ours = three_segment_mask(target.start, target.length, 129)
    assert np.array_equal(ours, torch_three_segment_mask(target.start, target.length, 129).numpy())
