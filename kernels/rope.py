"""Fused decode-step RoPE: rotate the new token's query and key and write key and value into the KV cache.

In a decode step the torch path spends about twenty tiny launches per layer on this
(casts, halves, products, a concatenation for q and for k, the slot arithmetic, three
``index_copy_``); inside a CUDA graph each still costs a microsecond or two, which at
batch 1 adds up to a good part of the step. One program here handles one head of one
sequence: it reads the position from a tensor (so the step can be replayed from a graph),
gathers that row of the cos/sin tables, rotates the half-split pairs, and stores the
query, or the key and value at cache slot ``position % slots`` (the position itself on
full-attention layers, the ring slot on sliding-window ones).

``rope_and_cache_reference`` is the same function in plain torch
(``gptoss_edu.model.rope.rope_and_cache``, built on the library's ``apply_rotary``), which works
without Triton. ``gptoss_edu.fast.select`` wraps the kernel as the model's ``rope_store_core``
for one-token steps into a fixed-shape cache.
"""
from __future__ import annotations

import torch

from gptoss_edu.model.rope import rope_and_cache as rope_and_cache_reference

from ._triton import check_device, tl, triton


@triton.jit
def _rope_and_cache_kernel(
    q_ptr, k_ptr, v_ptr, cos_ptr, sin_ptr, position_ptr, q_out_ptr, keys_ptr, values_ptr, slot_positions_ptr,
    num_q_heads, num_kv_heads, head_dim, slots,
    HALF: tl.constexpr,
):
    batch, head = tl.program_id(0), tl.program_id(1)
    position = tl.load(position_ptr)
    half = tl.arange(0, HALF)
    ok = half < head_dim // 2
    cos = tl.load(cos_ptr + position * (head_dim // 2) + half, mask=ok, other=0.0)
    sin = tl.load(sin_ptr + position * (head_dim // 2) + half, mask=ok, other=0.0)
    if head < num_q_heads:
        src = q_ptr + (batch * num_q_heads + head) * head_dim
        dst = q_out_ptr + (batch * num_q_heads + head) * head_dim
    else:
        kv_head = head - num_q_heads
        slot = position % slots
        src = k_ptr + (batch * num_kv_heads + kv_head) * head_dim
        dst = keys_ptr + ((batch * slots + slot) * num_kv_heads + kv_head) * head_dim
        value = tl.load(v_ptr + (batch * num_kv_heads + kv_head) * head_dim + tl.arange(0, 2 * HALF),
                        mask=tl.arange(0, 2 * HALF) < head_dim)
        tl.store(values_ptr + ((batch * slots + slot) * num_kv_heads + kv_head) * head_dim + tl.arange(0, 2 * HALF),
                 value, mask=tl.arange(0, 2 * HALF) < head_dim)
        if (batch == 0) & (kv_head == 0):
            tl.store(slot_positions_ptr + slot, position)
    first = tl.load(src + half, mask=ok, other=0.0).to(tl.float32)
    second = tl.load(src + head_dim // 2 + half, mask=ok, other=0.0).to(tl.float32)
    # The torch path casts the tables to the activation dtype first; so do we, to round alike.
    cos = cos.to(dst.dtype.element_ty).to(tl.float32)
    sin = sin.to(dst.dtype.element_ty).to(tl.float32)
    tl.store(dst + half, (first * cos - second * sin).to(dst.dtype.element_ty), mask=ok)
    tl.store(dst + head_dim // 2 + half, (second * cos + first * sin).to(dst.dtype.element_ty), mask=ok)


def _check(q, k, v, keys, values) -> None:
    for name, t in (("q", q), ("k", k), ("v", v), ("keys", keys), ("values", values)):
        check_device(name, t)
    if not (keys.is_contiguous() and values.is_contiguous()):
        raise ValueError("the cache's keys and values must be contiguous")
    if q.shape[1] != 1 or k.shape[1] != 1:
        raise ValueError(f"one new token per sequence: q {tuple(q.shape)}, k {tuple(k.shape)} must be (B, 1, heads, D)")
    if keys.shape[0] != k.shape[0] or keys.shape[2:] != k.shape[2:] or values.shape != keys.shape:
        raise ValueError(f"cache keys {tuple(keys.shape)} / values {tuple(values.shape)} do not fit k {tuple(k.shape)}")


def rope_and_cache(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                   position: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                   slot_positions: torch.Tensor) -> torch.Tensor:
    """Rotate ``q (B, 1, Hq, D)`` and ``k (B, 1, KV, D)`` at ``position (1,)``; store k, v in the cache; return q.

    ``cos``/``sin`` are the float32 ``(L, D/2)`` tables (``L > position``); ``keys``/``values``
    ``(B, slots, KV, D)`` and ``slot_positions (slots,)`` are one ``LayerCache``'s tensors.
    """
    _check(q, k, v, keys, values)
    batch, _, num_q_heads, head_dim = q.shape
    num_kv_heads, slots = k.shape[2], keys.shape[1]
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()  # slices of the fused qkv projection
    q_out = torch.empty_like(q)
    _rope_and_cache_kernel[(batch, num_q_heads + num_kv_heads)](
        q, k, v, cos, sin, position, q_out, keys, values, slot_positions,
        num_q_heads, num_kv_heads, head_dim, slots,
        HALF=triton.next_power_of_2(head_dim // 2),
    )
    return q_out


__all__ = ["rope_and_cache", "rope_and_cache_reference"]
