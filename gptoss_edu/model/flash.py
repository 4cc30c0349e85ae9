"""Attention block by block with an online softmax: the Triton kernels' algorithm in plain torch.

Flash attention never holds a whole row of scores. It walks the keys in blocks and keeps,
per query, a *partial result* ``(m, l, acc)``: a reference logit ``m``, ``l = sum exp(s - m)``
and ``acc = sum exp(s - m) * v``. ``merge_partials`` folds two partial results over
disjoint keys into one; the output is ``acc / l``. gpt-oss's sink fits in as the first
partial result ``(sink, 1, 0)``: it joins the denominator and adds no value.

``attention_reference`` is that algorithm with the library's attention-core signature
(``gptoss_edu.model.attention.attention_with_sinks``); the kernels in ``gptoss_edu.kernels.attention``
are tested against it, and notebook 08's exercise checks a learner's ``merge_partials`` with it.
This module needs no Triton.
"""
from __future__ import annotations

import torch

from gptoss_edu.model.attention import attention_mask

EMPTY_MAX = -1.0e30  # running maximum of a block that saw no key: finite, so exp(x - max) never makes NaN


def merge_partials(
    max_a: torch.Tensor, sum_a: torch.Tensor, acc_a: torch.Tensor,
    max_b: torch.Tensor, sum_b: torch.Tensor, acc_b: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Merge two online-softmax partial results over disjoint sets of keys.

    A partial result is ``(m, l, acc)``: a reference logit ``m (...)``, ``l = sum exp(s - m)``
    and ``acc = sum exp(s - m) * v`` of shape ``(..., D)``. Rescaling both to the larger ``m``
    gives the partial result of the union; the final output is ``acc / l``. This is how
    flash attention folds in each key block and how split-key decoding combines its splits.
    """
    merged = torch.maximum(max_a, max_b)
    weight_a, weight_b = torch.exp(max_a - merged), torch.exp(max_b - merged)
    return merged, sum_a * weight_a + sum_b * weight_b, acc_a * weight_a[..., None] + acc_b * weight_b[..., None]


def attention_reference(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, sinks: torch.Tensor, sm_scale: float,
    q_positions: torch.Tensor, k_positions: torch.Tensor, sliding_window: int = 0, block_size: int = 16,
) -> torch.Tensor:
    """The kernels' algorithm in plain torch: keys in blocks of ``block_size``, online softmax from the sink.

    Same arguments and result as ``attention_with_sinks``; works in float32. The running
    result starts as the sink's own partial ``(sink, 1, 0)`` and each block is merged in.
    """
    batch, num_queries, num_kv, group, head_dim = q.shape
    queries = q.float().reshape(batch, num_queries, num_kv * group, head_dim)
    sink = sinks.float().expand(batch, num_queries, -1)  # (B, T, heads)
    running = (sink, torch.ones_like(sink), torch.zeros_like(queries))
    for start in range(0, k.shape[1], block_size):
        keys = k[:, start:start + block_size].float().repeat_interleave(group, dim=2)  # (B, n, heads, D)
        values = v[:, start:start + block_size].float().repeat_interleave(group, dim=2)
        scores = torch.einsum("bthd,bnhd->bthn", queries, keys) * sm_scale
        visible = attention_mask(q_positions, k_positions[start:start + block_size], sliding_window)  # (T, n)
        scores = scores.masked_fill(~visible[None, :, None, :], float("-inf"))
        block_max = scores.amax(-1).clamp(min=EMPTY_MAX)  # finite even when the block is all masked
        p = torch.exp(scores - block_max[..., None])
        running = merge_partials(*running, block_max, p.sum(-1), torch.einsum("bthn,bnhd->bthd", p, values))
    _, total, acc = running
    return (acc / total[..., None]).reshape(batch, num_queries, -1).to(q.dtype)
