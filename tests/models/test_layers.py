import pytest
import torch

from clsm_cli.models.layers import (
    MultiHeadAttention,
    TransformerStack,
    mask_to_bias,
    relative_index,
    sample_logits,
)


def _attention(max_distance=8):
    torch.manual_seed(0)
    return MultiHeadAttention(16, 2, dropout=0.0, max_relative_distance=max_distance).eval()


def _self_attend(attention, x, positions, allowed=None):
    keys, values = attention.keys_values(x)
    rel = relative_index(positions, positions, attention.max_relative_distance)
    bias = None if allowed is None else mask_to_bias(allowed)
    return attention(x, keys, values, rel, bias)


def test_relative_index_clips_distances():
    index = relative_index(torch.arange(4), torch.arange(4), 2)
    assert index.tolist() == [[2, 3, 4, 4], [1, 2, 3, 4], [0, 1, 2, 3], [0, 0, 1, 2]]


def test_relative_attention_depends_only_on_relative_positions():
    attention = _attention()
    x = torch.randn(2, 10, 16)
    at_zero = _self_attend(attention, x, torch.arange(10))
    shifted = _self_attend(attention, x, torch.arange(10) + 37)
    torch.testing.assert_close(shifted, at_zero, rtol=0, atol=1e-6)


def test_relative_attention_is_translation_equivariant_inside_a_longer_sequence():
    """A segment that only attends to itself gives the same outputs wherever it sits."""
    attention = _attention()
    segment = torch.randn(1, 6, 16)
    alone = _self_attend(attention, segment, torch.arange(6))
    for offset in (3, 9):
        sequence = torch.cat([torch.randn(1, offset, 16), segment, torch.randn(1, 4, 16)], dim=1)
        length = sequence.shape[1]
        inside = torch.zeros(length, dtype=torch.bool)
        inside[offset : offset + 6] = True
        allowed = ~inside[:, None] | inside[None, :]  # segment queries see only the segment
        out = _self_attend(attention, sequence, torch.arange(length), allowed)
        torch.testing.assert_close(out[:, offset : offset + 6], alone, rtol=0, atol=1e-6)


def test_relative_embeddings_break_permutation_symmetry():
    """Without positions attention is permutation-equivariant; the relative keys must make order matter."""
    attention = _attention()
    x = torch.randn(1, 7, 16)
    forward = _self_attend(attention, x, torch.arange(7))
    backward = _self_attend(attention, x.flip(1), torch.arange(7)).flip(1)
    assert not torch.allclose(forward, backward, atol=1e-4)


def test_query_subset_matches_full_outputs():
    torch.manual_seed(0)
    stack = TransformerStack(2, 16, 2, 32, 0.0, 8).eval()
    x = torch.randn(2, 12, 16)
    positions = torch.arange(12)
    full = stack(x, positions)
    part = stack(x, positions, last_layer_rows=slice(4, 9))
    torch.testing.assert_close(part, full[:, 4:9], rtol=0, atol=1e-6)


def test_sample_logits_argmax_at_zero_temperature():
    logits = torch.tensor([[0.0, 3.0, 1.0], [5.0, 0.0, 0.0]])
    assert sample_logits(logits, 0.0).tolist() == [1, 0]


def test_sample_logits_is_reproducible_and_top_p_keeps_the_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).expand(2000, -1)
    first = sample_logits(logits, 1.0, 1.0, torch.Generator().manual_seed(3))
    again = sample_logits(logits, 1.0, 1.0, torch.Generator().manual_seed(3))
    assert torch.equal(first, again)
    assert set(first.tolist()) == {0, 1, 2, 3}
    nucleus = sample_logits(logits, 1.0, 0.7, torch.Generator().manual_seed(3))
    assert set(nucleus.tolist()) == {0, 1}  # 0.5 + 0.3 reaches 0.7
    frequency = (nucleus == 0).float().mean().item()
    assert frequency == pytest.approx(0.5 / 0.8, abs=0.05)


def test_sample_logits_draws_only_allowed_tokens():
    import numpy as np

    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).expand(2000, -1)
    allowed = np.array([False, True, False, True])
    drawn = sample_logits(logits, 1.0, 1.0, torch.Generator().manual_seed(3), allowed=allowed)
    assert set(drawn.tolist()) == {1, 3}
    assert (drawn == 1).float().mean().item() == pytest.approx(0.3 / 0.35, abs=0.03)
    assert sample_logits(logits[:2], 0.0, allowed=allowed).tolist() == [1, 1]
