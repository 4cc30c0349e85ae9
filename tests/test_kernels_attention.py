"""Attention kernels (flash prefill, split-key decode) == torch reference == library attention.

Runs under the Triton interpreter on CPU and compiled on CUDA when present.
"""
from __future__ import annotations

import math

import pytest
import torch
from gptoss_edu.kernels.attention import (
    attention,
    attention_decode,
    attention_prefill,
    attention_reference,
    decode_splits,
)

from gptoss_edu.model.attention import attention_with_sinks

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def random_attention_inputs(batch, queries, keys, kv_heads, group, head_dim, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=g).to(DEVICE, dtype)

    q = randn(batch, queries, kv_heads, group, head_dim)
    k, v = randn(batch, keys, kv_heads, head_dim), randn(batch, keys, kv_heads, head_dim)
    sinks = randn(kv_heads * group)
    return q, k, v, sinks, 1 / math.sqrt(head_dim)


def positions(start, count):
    return torch.arange(start, start + count, device=DEVICE)


@pytest.mark.parametrize(
    "batch, tokens, kv_heads, group, head_dim, window",
    [(1, 37, 2, 2, 16, 0), (2, 21, 1, 3, 24, 8), (1, 70, 2, 1, 32, 16)],
)
def test_prefill_matches_reference(batch, tokens, kv_heads, group, head_dim, window):
    q, k, v, sinks, scale = random_attention_inputs(batch, tokens, tokens, kv_heads, group, head_dim)
    pos = positions(0, tokens)
    want = attention_reference(q, k, v, sinks, scale, pos, pos, window)
    got = attention_prefill(q, k, v, sinks, scale, pos, pos, window)
    assert got.shape == (batch, tokens, kv_heads * group * head_dim)
    torch.testing.assert_close(got, want, atol=2e-5, rtol=2e-5)


def test_prefill_continues_after_a_ring_cache():
    """Keys out of order with empty slots (a ring buffer), queries that start at position 11."""
    q, k, v, sinks, scale = random_attention_inputs(1, 5, 13, 2, 2, 16, seed=1)
    k_pos = torch.tensor([8, 9, 10, -1, 4, 5, 6, 7, 11, 12, 13, 14, 15], device=DEVICE)
    q_pos = positions(11, 5)
    want = attention_reference(q, k, v, sinks, scale, q_pos, k_pos, 4)
    torch.testing.assert_close(attention_prefill(q, k, v, sinks, scale, q_pos, k_pos, 4), want, atol=2e-5, rtol=2e-5)


@pytest.mark.parametrize("batch, keys, kv_heads, group, head_dim, window", [(1, 150, 2, 4, 16, 0), (3, 40, 1, 2, 32, 7)])
def test_decode_matches_reference(batch, keys, kv_heads, group, head_dim, window):
    q, k, v, sinks, scale = random_attention_inputs(batch, 1, keys, kv_heads, group, head_dim, seed=2)
    k_pos = positions(0, keys)
    k_pos[keys - 5:] = -1  # a preallocated cache: the last slots are still empty
    q_pos = positions(keys - 6, 1)
    want = attention_reference(q, k, v, sinks, scale, q_pos, k_pos, window)
    got = attention_decode(q, k, v, sinks, scale, q_pos, k_pos, window)
    torch.testing.assert_close(got, want, atol=2e-5, rtol=2e-5)
    assert decode_splits(keys, batch * kv_heads, 64)[0] > 1 or keys <= 64, "the combine path was not exercised"


def test_bfloat16_matches_reference():
    q, k, v, sinks, scale = random_attention_inputs(1, 19, 19, 2, 2, 16, seed=3, dtype=torch.bfloat16)
    pos = positions(0, 19)
    want = attention_reference(q, k, v, sinks, scale, pos, pos, 0).float()
    torch.testing.assert_close(attention(q, k, v, sinks, scale, pos, pos, 0).float(), want, atol=2e-2, rtol=2e-2)
    want = attention_reference(q[:, -1:], k, v, sinks, scale, pos[-1:], pos, 0).float()
    got = attention(q[:, -1:], k, v, sinks, scale, pos[-1:], pos, 0).float()
    torch.testing.assert_close(got, want, atol=2e-2, rtol=2e-2)


def test_a_query_that_sees_no_key_returns_zero():
    """Everything masked: only the sink is left, which carries no value."""
    q, k, v, sinks, scale = random_attention_inputs(1, 1, 4, 1, 2, 16, seed=4)
    k_pos = torch.full((4,), -1, device=DEVICE)
    got = attention_decode(q, k, v, sinks, scale, positions(0, 1), k_pos)
    assert torch.count_nonzero(got) == 0


@pytest.mark.parametrize("window", [0, 5])
def test_reference_matches_library(window):
    q, k, v, sinks, scale = random_attention_inputs(2, 9, 12, 2, 3, 8, seed=5)
    q_pos, k_pos = positions(3, 9), positions(0, 12)
    k_pos[0] = -1
    want = attention_with_sinks(q, k, v, sinks, scale, q_pos, k_pos, window)
    got = attention_reference(q, k, v, sinks, scale, q_pos, k_pos, window, block_size=5)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_rejects_mismatched_positions():
    q, k, v, sinks, scale = random_attention_inputs(1, 3, 3, 1, 2, 16)
    with pytest.raises(ValueError, match="k_positions"):
        attention(q, k, v, sinks, scale, positions(0, 3), positions(0, 2))
