"""Attention with sinks and a sliding window: a flash-attention prefill kernel and a split-key decode kernel.

Both kernels take the library's attention-core signature (``gptoss_edu.model.attention.attention_with_sinks``):
``q (B, T, KV, G, D)``, ``k, v (B, S, KV, D)``, one sink logit per query head, and the absolute
positions of queries ``(T,)`` and keys ``(S,)`` (``-1`` marks an empty cache slot). The mask
comes from the positions, so keys may sit in any order, as in the ring buffers of the
sliding-window layers.

Online softmax that starts from the sink: a head's running maximum starts at its sink logit
and its running denominator at ``exp(sink - sink) = 1``, with an empty value accumulator.
Each block of keys then rescales what came before, as in flash attention; at the end the
sink has joined the denominator and contributed no value, which is exactly
``softmax([scores, sink])`` with the sink column dropped.

* ``_prefill_kernel``: one program per (batch, head, block of queries), streaming over key
  blocks and skipping blocks that no query of the tile may see (causal or out of window).
* ``_decode_split_kernel`` + ``_decode_combine_kernel`` (one query per sequence): the keys are
  cut into splits processed in parallel (flash-decoding), each program serving all ``G``
  query heads of one key/value head; the combine merges the splits' partial maxima, sums and
  accumulators together with the sink. Launch sizes depend only on shapes, and the query
  position is read from a tensor, so a decode step can be captured in a CUDA graph.

``attention`` dispatches between them. ``attention_reference`` (re-exported from the
Triton-free ``gptoss_edu.model.flash``) is the same block-by-block algorithm in plain torch.
"""
from __future__ import annotations

import math

import torch

from gptoss_edu.model.flash import EMPTY_MAX, attention_reference, merge_partials

from ._triton import INTERPRETED, check_device, dot_dtype_for, tl, triton

LOG2E = math.log2(math.e)
_EMPTY_MAX = tl.constexpr(EMPTY_MAX)


@triton.jit
def _visible(q_pos, k_pos, sliding_window):
    """``(len(q_pos), len(k_pos))``: causal, within the window (0 = none), and not an empty slot."""
    delta = q_pos[:, None] - k_pos[None, :]
    in_window = (sliding_window == 0) | (delta < sliding_window)
    return (k_pos[None, :] >= 0) & (delta >= 0) & in_window


@triton.jit
def _attend_key_block(
    q, k_base, v_base, cols, col_ok, dims, dim_ok, stride_ks, stride_vs, visible, scale_log2,
    running_max, running_sum, acc, DOT_DTYPE: tl.constexpr,
):
    """One block of keys in the online softmax (base 2): rescale what came before, add this block.

    Returns the updated ``(running_max, running_sum, acc)``; masked-out scores are ``-inf``.
    """
    kv_mask = col_ok[:, None] & dim_ok[None, :]
    k = tl.load(k_base + cols[:, None] * stride_ks + dims[None, :], mask=kv_mask, other=0.0).to(DOT_DTYPE)
    v = tl.load(v_base + cols[:, None] * stride_vs + dims[None, :], mask=kv_mask, other=0.0).to(DOT_DTYPE)
    scores = tl.dot(q, tl.trans(k), input_precision="ieee") * scale_log2
    scores = tl.where(visible, scores, float("-inf"))
    new_max = tl.maximum(running_max, tl.max(scores, 1))
    rescale = tl.exp2(running_max - new_max)
    p = tl.exp2(scores - new_max[:, None])
    running_sum = running_sum * rescale + tl.sum(p, 1)
    acc = acc * rescale[:, None] + tl.dot(p.to(DOT_DTYPE), v, input_precision="ieee")
    return new_max, running_sum, acc


@triton.jit
def _prefill_kernel(
    q_ptr, k_ptr, v_ptr, sinks_ptr, q_pos_ptr, k_pos_ptr, out_ptr,
    num_queries, num_keys, num_heads, group, head_dim, sliding_window, scale_log2,
    stride_qb, stride_qt, stride_qh, stride_kb, stride_ks, stride_kh, stride_vb, stride_vs, stride_vh,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, DOT_DTYPE: tl.constexpr,
):
    pid_m, pid_bh = tl.program_id(0), tl.program_id(1)
    batch = (pid_bh // num_heads).to(tl.int64)  # batch * stride_kb passes 2**31 at batch 32 of a 131k-token cache
    head = pid_bh % num_heads
    kv_head = head // group
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    row_ok = rows < num_queries
    dims = tl.arange(0, BLOCK_D)
    dim_ok = dims < head_dim
    q_ptrs = q_ptr + batch * stride_qb + rows[:, None] * stride_qt + head * stride_qh + dims[None, :]
    q = tl.load(q_ptrs, mask=row_ok[:, None] & dim_ok[None, :], other=0.0).to(DOT_DTYPE)
    q_pos = tl.load(q_pos_ptr + rows, mask=row_ok, other=-1)  # padding rows see nothing
    sink = tl.load(sinks_ptr + head).to(tl.float32) * 1.4426950408889634  # log2(e): the kernel works in base 2
    running_max = tl.zeros((BLOCK_M,), dtype=tl.float32) + sink
    running_sum = tl.zeros((BLOCK_M,), dtype=tl.float32) + 1.0  # the sink's own exp2(sink - sink)
    acc = tl.zeros((BLOCK_M, BLOCK_D), dtype=tl.float32)
    k_base = k_ptr + batch * stride_kb + kv_head * stride_kh
    v_base = v_ptr + batch * stride_vb + kv_head * stride_vh
    for start in range(0, num_keys, BLOCK_N):
        cols = start + tl.arange(0, BLOCK_N)
        col_ok = cols < num_keys
        k_pos = tl.load(k_pos_ptr + cols, mask=col_ok, other=-1)
        visible = _visible(q_pos, k_pos, sliding_window)
        if tl.max(visible.to(tl.int32)) > 0:  # skip key blocks that no query of this tile may see
            running_max, running_sum, acc = _attend_key_block(
                q, k_base, v_base, cols, col_ok, dims, dim_ok, stride_ks, stride_vs, visible, scale_log2,
                running_max, running_sum, acc, DOT_DTYPE,
            )
    out = acc / running_sum[:, None]
    out_ptrs = out_ptr + (batch * num_queries + rows[:, None]) * (num_heads * head_dim) + head * head_dim + dims[None, :]
    tl.store(out_ptrs, out.to(out_ptr.dtype.element_ty), mask=row_ok[:, None] & dim_ok[None, :])


@triton.jit
def _decode_split_kernel(
    q_ptr, k_ptr, v_ptr, q_pos_ptr, k_pos_ptr, part_acc_ptr, part_max_ptr, part_sum_ptr,
    num_keys, num_kv_heads, group, head_dim, sliding_window, scale_log2, keys_per_split, num_splits,
    stride_qb, stride_qh, stride_kb, stride_ks, stride_kh, stride_vb, stride_vs, stride_vh,
    BLOCK_G: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, DOT_DTYPE: tl.constexpr,
):
    pid, split = tl.program_id(0), tl.program_id(1)
    batch = (pid // num_kv_heads).to(tl.int64)  # batch * stride_kb passes 2**31 at batch 32 of a 131k-token cache
    kv_head = pid % num_kv_heads
    g = tl.arange(0, BLOCK_G)
    g_ok = g < group
    heads = kv_head * group + g  # the query heads that share this key/value head
    dims = tl.arange(0, BLOCK_D)
    dim_ok = dims < head_dim
    q_ptrs = q_ptr + batch * stride_qb + heads[:, None] * stride_qh + dims[None, :]
    q = tl.load(q_ptrs, mask=g_ok[:, None] & dim_ok[None, :], other=0.0).to(DOT_DTYPE)
    q_pos = tl.load(q_pos_ptr + g * 0)  # the one query position, broadcast over the heads
    running_max = tl.zeros((BLOCK_G,), dtype=tl.float32) + _EMPTY_MAX
    running_sum = tl.zeros((BLOCK_G,), dtype=tl.float32)
    acc = tl.zeros((BLOCK_G, BLOCK_D), dtype=tl.float32)
    k_base = k_ptr + batch * stride_kb + kv_head * stride_kh
    v_base = v_ptr + batch * stride_vb + kv_head * stride_vh
    split_start = split * keys_per_split
    for start in range(split_start, split_start + keys_per_split, BLOCK_N):
        cols = start + tl.arange(0, BLOCK_N)
        col_ok = cols < num_keys
        k_pos = tl.load(k_pos_ptr + cols, mask=col_ok, other=-1)
        visible = _visible(q_pos, k_pos, sliding_window)
        if tl.max(visible.to(tl.int32)) > 0:  # empty slots and keys outside the window cost one load
            running_max, running_sum, acc = _attend_key_block(
                q, k_base, v_base, cols, col_ok, dims, dim_ok, stride_ks, stride_vs, visible, scale_log2,
                running_max, running_sum, acc, DOT_DTYPE,
            )
    part = (batch * num_kv_heads * group + heads) * num_splits + split  # index into (B, heads, splits)
    tl.store(part_max_ptr + part, running_max, mask=g_ok)
    tl.store(part_sum_ptr + part, running_sum, mask=g_ok)
    tl.store(part_acc_ptr + part[:, None] * head_dim + dims[None, :], acc, mask=g_ok[:, None] & dim_ok[None, :])


@triton.jit
def _decode_combine_kernel(
    part_acc_ptr, part_max_ptr, part_sum_ptr, sinks_ptr, out_ptr, num_heads, head_dim, num_splits,
    BLOCK_S: tl.constexpr, BLOCK_D: tl.constexpr,
):
    pid = tl.program_id(0)  # batch * num_heads + head
    head = pid % num_heads
    splits = tl.arange(0, BLOCK_S)
    split_ok = splits < num_splits
    dims = tl.arange(0, BLOCK_D)
    dim_ok = dims < head_dim
    part_max = tl.load(part_max_ptr + pid * num_splits + splits, mask=split_ok, other=_EMPTY_MAX)
    part_sum = tl.load(part_sum_ptr + pid * num_splits + splits, mask=split_ok, other=0.0)
    acc_ptrs = part_acc_ptr + (pid * num_splits + splits[:, None]) * head_dim + dims[None, :]
    part_acc = tl.load(acc_ptrs, mask=split_ok[:, None] & dim_ok[None, :], other=0.0)
    sink = tl.load(sinks_ptr + head).to(tl.float32) * 1.4426950408889634
    overall = tl.maximum(tl.max(part_max, 0), sink)
    weight = tl.exp2(part_max - overall)
    denominator = tl.sum(weight * part_sum, 0) + tl.exp2(sink - overall)
    out = tl.sum(weight[:, None] * part_acc, 0) / denominator
    tl.store(out_ptr + pid * head_dim + dims, out.to(out_ptr.dtype.element_ty), mask=dim_ok)


def _check(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, q_positions: torch.Tensor,
           k_positions: torch.Tensor) -> None:
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_device(name, t)
    batch, num_queries, num_kv, _, head_dim = q.shape
    if k.shape != v.shape or k.shape[0] != batch or k.shape[2:] != (num_kv, head_dim):
        raise ValueError(f"k {tuple(k.shape)} and v {tuple(v.shape)} must be (B, S, KV, D) for q {tuple(q.shape)}")
    if q_positions.shape != (num_queries,) or k_positions.shape != (k.shape[1],):
        raise ValueError(
            f"q_positions {tuple(q_positions.shape)} / k_positions {tuple(k_positions.shape)} must be "
            f"({num_queries},) / ({k.shape[1]},)"
        )


def _last_dim_contiguous(t: torch.Tensor) -> torch.Tensor:
    return t if t.stride(-1) == 1 else t.contiguous()


def decode_splits(num_keys: int, programs_per_split: int, block_n: int) -> tuple[int, int]:
    """``(num_splits, keys_per_split)``: enough splits to give every GPU core a program or two."""
    target = 4 if INTERPRETED else 264
    most = triton.cdiv(num_keys, block_n)
    splits = max(1, min(most, triton.cdiv(target, programs_per_split)))
    keys_per_split = triton.cdiv(triton.cdiv(num_keys, splits), block_n) * block_n
    return triton.cdiv(num_keys, keys_per_split), keys_per_split


def attention_prefill(q, k, v, sinks, sm_scale, q_positions, k_positions, sliding_window=0) -> torch.Tensor:
    """Flash attention with sinks for any number of queries; returns ``(B, T, KV*G*D)``."""
    _check(q, k, v, q_positions, k_positions)
    batch, num_queries, num_kv, group, head_dim = q.shape
    num_heads = num_kv * group
    q = _last_dim_contiguous(q.reshape(batch, num_queries, num_heads, head_dim))
    k, v = _last_dim_contiguous(k), _last_dim_contiguous(v)
    out = torch.empty(batch, num_queries, num_heads * head_dim, device=q.device, dtype=q.dtype)
    block_m, block_n = (16, 64) if INTERPRETED else (64, 64)
    grid = (triton.cdiv(num_queries, block_m), batch * num_heads)
    _prefill_kernel[grid](
        q, k, v, sinks, q_positions.contiguous(), k_positions.contiguous(), out,
        num_queries, k.shape[1], num_heads, group, head_dim, int(sliding_window), sm_scale * LOG2E,
        q.stride(0), q.stride(1), q.stride(2), k.stride(0), k.stride(1), k.stride(2), v.stride(0), v.stride(1),
        v.stride(2),
        BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_D=triton.next_power_of_2(head_dim), DOT_DTYPE=dot_dtype_for(q.dtype),
    )
    return out


def attention_decode(q, k, v, sinks, sm_scale, q_positions, k_positions, sliding_window=0) -> torch.Tensor:
    """Attention of one query per sequence over a key/value cache, split along the keys."""
    _check(q, k, v, q_positions, k_positions)
    batch, num_queries, num_kv, group, head_dim = q.shape
    if num_queries != 1:
        raise ValueError(f"attention_decode takes one query per sequence, got q of shape {tuple(q.shape)}")
    num_heads = num_kv * group
    q = _last_dim_contiguous(q.reshape(batch, num_heads, head_dim))
    k, v = _last_dim_contiguous(k), _last_dim_contiguous(v)
    block_n = 64 if INTERPRETED else 32
    num_splits, keys_per_split = decode_splits(k.shape[1], batch * num_kv, block_n)
    part_acc = torch.empty(batch, num_heads, num_splits, head_dim, device=q.device, dtype=torch.float32)
    part_max = torch.empty(batch, num_heads, num_splits, device=q.device, dtype=torch.float32)
    part_sum = torch.empty_like(part_max)
    block_d = triton.next_power_of_2(head_dim)
    _decode_split_kernel[(batch * num_kv, num_splits)](
        q, k, v, q_positions.contiguous(), k_positions.contiguous(), part_acc, part_max, part_sum,
        k.shape[1], num_kv, group, head_dim, int(sliding_window), sm_scale * LOG2E, keys_per_split, num_splits,
        q.stride(0), q.stride(1), k.stride(0), k.stride(1), k.stride(2), v.stride(0), v.stride(1), v.stride(2),
        BLOCK_G=max(16, triton.next_power_of_2(group)), BLOCK_N=block_n, BLOCK_D=block_d,
        DOT_DTYPE=dot_dtype_for(q.dtype),
    )
    out = torch.empty(batch, 1, num_heads * head_dim, device=q.device, dtype=q.dtype)
    _decode_combine_kernel[(batch * num_heads,)](
        part_acc, part_max, part_sum, sinks, out, num_heads, head_dim, num_splits,
        BLOCK_S=triton.next_power_of_2(num_splits), BLOCK_D=block_d,
    )
    return out


def attention(q, k, v, sinks, sm_scale, q_positions, k_positions, sliding_window=0) -> torch.Tensor:
    """Drop-in Triton replacement for ``gptoss_edu.model.attention.attention_with_sinks``."""
    kernel = attention_decode if q.shape[1] == 1 else attention_prefill
    return kernel(q, k, v, sinks, sm_scale, q_positions, k_positions, sliding_window)


__all__ = ["attention", "attention_decode", "attention_prefill", "attention_reference", "decode_splits",
           "merge_partials"]
