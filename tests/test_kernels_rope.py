"""Fused decode RoPE + KV-cache write == its torch reference == the model's own RoPE and ``LayerCache.write_at``."""
from __future__ import annotations

import pytest
import torch
from gptoss_edu.kernels.rope import rope_and_cache, rope_and_cache_reference

from gptoss_edu.config import TINY
from gptoss_edu.model.kvcache import LayerCache
from gptoss_edu.model.rope import RotaryEmbedding

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
CONFIG = TINY


def random_step(batch, q_heads, kv_heads, head_dim, slots, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=g).to(DEVICE, dtype)

    cache = (randn(batch, slots, kv_heads, head_dim), randn(batch, slots, kv_heads, head_dim),
             torch.full((slots,), -1, dtype=torch.long, device=DEVICE))
    return randn(batch, 1, q_heads, head_dim), randn(batch, 1, kv_heads, head_dim), randn(batch, 1, kv_heads, head_dim), cache


def tables(head_dim, length=64):
    rope = RotaryEmbedding(CONFIG.replace(head_dim=head_dim))
    return rope.cos_sin(length, torch.device(DEVICE))


@pytest.mark.parametrize("batch, q_heads, kv_heads, head_dim, slots, position",
                         [(1, 4, 2, 16, 32, 5), (2, 6, 3, 24, 4, 10), (3, 2, 1, 32, 8, 7)])
def test_kernel_matches_reference(batch, q_heads, kv_heads, head_dim, slots, position):
    q, k, v, cache = random_step(batch, q_heads, kv_heads, head_dim, slots)
    ours = tuple(t.clone() for t in cache)
    cos, sin = tables(head_dim)
    pos = torch.tensor([position], device=DEVICE)
    want = rope_and_cache_reference(q, k, v, cos, sin, pos, *cache)
    got = rope_and_cache(q, k, v, cos, sin, pos, *ours)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-6)
    for name, a, b in zip(("keys", "values", "positions"), ours, cache):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6, msg=lambda m, name=name: f"{name}: {m}")


def test_bfloat16_matches_reference():
    q, k, v, cache = random_step(2, 4, 2, 16, 8, seed=1, dtype=torch.bfloat16)
    ours = tuple(t.clone() for t in cache)
    cos, sin = tables(16)
    pos = torch.tensor([3], device=DEVICE)
    want = rope_and_cache_reference(q, k, v, cos, sin, pos, *cache)
    got = rope_and_cache(q, k, v, cos, sin, pos, *ours)
    torch.testing.assert_close(got.float(), want.float(), atol=2e-2, rtol=2e-2)
    torch.testing.assert_close(ours[0].float(), cache[0].float(), atol=2e-2, rtol=2e-2)


def test_reference_matches_the_model_rope_and_ring_cache():
    """Token by token into a 4-slot ring: the same rotated queries and the same cache as the model's own path."""
    head_dim, slots = 16, 4
    rope = RotaryEmbedding(CONFIG.replace(head_dim=head_dim))
    layer = LayerCache(1, 2, head_dim, slots=slots, ring=True, device="cpu", dtype=torch.float32)
    keys, values = torch.zeros_like(layer.keys), torch.zeros_like(layer.values)
    positions = torch.full((slots,), -1, dtype=torch.long)
    cos, sin = rope.cos_sin(16, torch.device("cpu"))
    for p in range(7):
        q, k, v, _ = random_step(1, 4, 2, head_dim, slots, seed=10 + p)
        q, k, v = q.cpu(), k.cpu(), v.cpu()
        got_q = rope_and_cache_reference(q, k, v, cos, sin, torch.tensor([p]), keys, values, positions)
        want_q, want_k = rope(q, k, start=p)
        layer.write_at(torch.tensor([p]), want_k, v, held=p)
        torch.testing.assert_close(got_q, want_q)
    torch.testing.assert_close(keys, layer.keys)
    torch.testing.assert_close(values, layer.values)
    assert positions.tolist() == layer.positions.tolist()
