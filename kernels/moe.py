"""Mixture-of-experts matmuls that read MXFP4 expert weights directly.

The experts stay packed on the GPU (half a byte per weight plus one scale byte per 32), and
the kernels decode them in registers, so a decode step reads 4x fewer expert bytes than a
bf16 copy would. The work is grouped by expert: the (token, slot) assignments of the router
are sorted by expert, and each program multiplies a tile of one expert's rows.

* ``_mlp1_swiglu_kernel``: ``h = swiglu(x @ W1^T + b1)``; mlp1's rows are interleaved
  (even row = gate, odd row = linear), so each program accumulates a gate tile and its
  linear tile side by side and applies the clamped SwiGLU in its epilogue.
* ``_mlp2_weighted_kernel``: ``y = w * (h @ W2^T + b2)`` with the router weight ``w``
  applied in the epilogue and ``y`` stored back at the assignment's own row, so that the
  combine right after is a plain sum over each token's ``experts_per_token`` rows.

``moe_experts`` runs both; ``moe_experts_reference`` is the same function in plain torch.
Everything is on device and sized from the input shapes (no host synchronisation), so a
decode step that calls it can be captured in a CUDA graph.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from gptoss_edu.config import MXFP4_BLOCK
from gptoss_edu.model.moe import swiglu
from gptoss_edu.model.mxfp4 import dequantize

from ._triton import INTERPRETED, check_device, dot_dtype_for, tl, triton

_VALUES_PER_SCALE = tl.constexpr(MXFP4_BLOCK)


class ExpertTiles(NamedTuple):
    """Assignments sorted by expert and cut into tiles of ``block_m`` rows of one expert.

    ``order[r]`` is the flat assignment id (``token * experts_per_token + slot``) of sorted
    row ``r``; tile ``t`` covers sorted rows ``row_start[t] .. row_end[t] - 1`` of expert
    ``expert[t]``. Unused tiles (the grid is sized for the worst case) have expert == E.
    """

    order: torch.Tensor
    expert: torch.Tensor
    row_start: torch.Tensor
    row_end: torch.Tensor
    block_m: int


def group_by_expert(expert_indices: torch.Tensor, num_experts: int, block_m: int) -> ExpertTiles:
    """Sort the router's ``(tokens, experts_per_token)`` choices by expert and tile them."""
    flat = expert_indices.reshape(-1).to(torch.int64)  # (N*K,)
    order = torch.argsort(flat, stable=True)
    counts = torch.zeros(num_experts, dtype=torch.int64, device=flat.device)
    counts.scatter_add_(0, flat, torch.ones_like(flat))  # bincount would synchronise with the host
    first_row = torch.cumsum(counts, 0) - counts
    tiles = (counts + block_m - 1) // block_m
    tile_end = torch.cumsum(tiles, 0)
    # Each expert wastes at most one partial tile, so this many tiles always suffice.
    max_tiles = flat.numel() // block_m + min(num_experts, flat.numel())
    tile_ids = torch.arange(max_tiles, device=flat.device)
    expert = torch.searchsorted(tile_end, tile_ids, right=True)  # num_experts past the last used tile
    e = expert.clamp(max=num_experts - 1)
    row_start = first_row[e] + (tile_ids - (tile_end[e] - tiles[e])) * block_m
    row_end = first_row[e] + counts[e]
    as_int32 = [t.to(torch.int32) for t in (order, expert, row_start, row_end)]
    return ExpertTiles(*as_int32, block_m=block_m)


def one_tile_per_assignment(expert_indices: torch.Tensor, block_m: int) -> ExpertTiles:
    """Each (token, slot) assignment its own tile, in router order: no sort at all.

    For a handful of tokens (batch-1 decode) the assignments rarely share an expert, so
    grouping saves no weight reads, while its sort and scans are a dozen small launches.
    """
    count = expert_indices.numel()
    ids = torch.arange(count, dtype=torch.int32, device=expert_indices.device)
    return ExpertTiles(ids, expert_indices.reshape(-1).to(torch.int32), ids, ids + 1, block_m=block_m)


@triton.jit
def _mxfp4_pair_tiles(blocks_ptr, scales_ptr, expert, rows, row_ok, k0, n_rows, n_cols,
                      ROWS: tl.constexpr, BLOCK_K: tl.constexpr, dtype: tl.constexpr):
    """Decode weight rows ``rows`` (``ROWS`` of them) of ``expert`` at value columns ``k0 .. k0 + BLOCK_K``.

    Returns the even-column and odd-column values (low and high nibbles of each byte), each
    ``(ROWS, BLOCK_K // 2)`` in ``dtype``: an E2M1 code times its block's E8M0 scale.
    """
    row = expert.to(tl.int64) * n_rows + rows  # row of the flattened (E * n_rows, ...) weight
    pairs = k0 // 2 + tl.arange(0, BLOCK_K // 2)  # byte columns
    groups = k0 // _VALUES_PER_SCALE + tl.arange(0, BLOCK_K // _VALUES_PER_SCALE)  # scale columns
    mask = row_ok[:, None] & (pairs < n_cols // 2)[None, :]
    packed = tl.load(blocks_ptr + row[:, None] * (n_cols // 2) + pairs[None, :], mask=mask, other=0).to(tl.int32)
    group_mask = row_ok[:, None] & (groups < n_cols // _VALUES_PER_SCALE)[None, :]
    scale_byte = tl.load(scales_ptr + row[:, None] * (n_cols // _VALUES_PER_SCALE) + groups[None, :],
                         mask=group_mask, other=127).to(tl.int32)
    # E8M0: 2^(byte - 127) is a float32 with that exponent field and no mantissa (byte 0 flushes to zero).
    half_scale = (scale_byte << 23).to(tl.float32, bitcast=True) * 0.5  # (ROWS, groups)
    # One scale per 16 bytes: broadcast in registers rather than loading each scale 16 times.
    half_scale = tl.reshape(tl.broadcast_to(half_scale[:, :, None], (ROWS, BLOCK_K // _VALUES_PER_SCALE,
                                                                     _VALUES_PER_SCALE // 2)), (ROWS, BLOCK_K // 2))
    even = _e2m1_times_two(packed & 15).to(tl.float32) * half_scale
    odd = _e2m1_times_two(packed >> 4).to(tl.float32) * half_scale
    return even.to(dtype), odd.to(dtype)


@triton.jit
def _e2m1_times_two(code):
    """Twice the E2M1 value of 4-bit codes, as integers: 0, 1, 2, 3, 4, 6, 8, 12 and negatives."""
    exponent = (code >> 1) & 3
    mantissa = code & 1
    magnitude = tl.where(exponent == 0, mantissa, (2 + mantissa) << tl.maximum(exponent - 1, 0))
    return tl.where(code >= 8, -magnitude, magnitude)


@triton.jit
def _tile_rows(tile_expert_ptr, tile_start_ptr, tile_end_ptr, order_ptr, pid_m, BLOCK_M: tl.constexpr):
    """The expert of tile ``pid_m``, its sorted rows, which are real, and their assignment ids."""
    expert = tl.load(tile_expert_ptr + pid_m)
    rows = tl.load(tile_start_ptr + pid_m) + tl.arange(0, BLOCK_M)
    row_ok = rows < tl.load(tile_end_ptr + pid_m)
    assignment = tl.load(order_ptr + rows, mask=row_ok, other=0)
    return expert, rows, row_ok, assignment


@triton.jit
def _swiglu_epilogue(gate, linear, bias_ptr, h_ptr, expert, units, unit_ok, rows, row_ok, intermediate, alpha, limit):
    """mlp1's end: add the interleaved biases (gate ``2u``, linear ``2u+1``), clamped SwiGLU, store ``h`` rows."""
    bias_row = bias_ptr + expert.to(tl.int64) * 2 * intermediate
    gate += tl.load(bias_row + 2 * units, mask=unit_ok, other=0.0).to(tl.float32)[None, :]
    linear += tl.load(bias_row + 2 * units + 1, mask=unit_ok, other=0.0).to(tl.float32)[None, :]
    gate = tl.minimum(gate, limit)
    linear = tl.minimum(tl.maximum(linear, -limit), limit)
    h = gate * tl.sigmoid(alpha * gate) * (linear + 1.0)
    out = h_ptr + rows.to(tl.int64)[:, None] * intermediate + units[None, :]
    tl.store(out, h.to(h_ptr.dtype.element_ty), mask=row_ok[:, None] & unit_ok[None, :])


@triton.jit
def _weighted_epilogue(acc, bias_ptr, routing_weight_ptr, y_ptr, expert, outs, out_ok, assignment, row_ok, hidden):
    """mlp2's end: add the bias, scale by the router weight, store at the assignment's own row."""
    acc += tl.load(bias_ptr + expert.to(tl.int64) * hidden + outs, mask=out_ok, other=0.0).to(tl.float32)[None, :]
    acc *= tl.load(routing_weight_ptr + assignment, mask=row_ok, other=0.0).to(tl.float32)[:, None]
    out = y_ptr + assignment.to(tl.int64)[:, None] * hidden + outs[None, :]
    tl.store(out, acc, mask=row_ok[:, None] & out_ok[None, :])


@triton.jit
def _mlp1_swiglu_kernel(
    x_ptr, order_ptr, tile_expert_ptr, tile_start_ptr, tile_end_ptr,
    blocks_ptr, scales_ptr, bias_ptr, h_ptr,
    hidden, intermediate, num_experts, experts_per_token, alpha, limit,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, DOT_DTYPE: tl.constexpr,
):
    pid_m, pid_n = tl.program_id(0), tl.program_id(1)
    expert, rows, row_ok, assignment = _tile_rows(tile_expert_ptr, tile_start_ptr, tile_end_ptr, order_ptr, pid_m,
                                                  BLOCK_M)
    if expert < num_experts:
        token = (assignment // experts_per_token).to(tl.int64)
        units = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)  # intermediate units: mlp1 rows 2u (gate), 2u+1 (linear)
        unit_ok = units < intermediate
        gate = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        linear = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        for k0 in range(0, hidden, BLOCK_K):
            pairs = k0 // 2 + tl.arange(0, BLOCK_K // 2)  # byte columns; value columns 2p and 2p+1
            pair_ok = pairs < hidden // 2
            x_mask = row_ok[:, None] & pair_ok[None, :]
            x_even = tl.load(x_ptr + token[:, None] * hidden + 2 * pairs[None, :], mask=x_mask, other=0.0).to(DOT_DTYPE)
            x_odd = tl.load(x_ptr + token[:, None] * hidden + 2 * pairs[None, :] + 1, mask=x_mask, other=0.0).to(DOT_DTYPE)
            w_even, w_odd = _mxfp4_pair_tiles(blocks_ptr, scales_ptr, expert, 2 * units, unit_ok, k0,
                                              2 * intermediate, hidden, BLOCK_N, BLOCK_K, DOT_DTYPE)
            gate += tl.dot(x_even, tl.trans(w_even), input_precision="ieee")
            gate += tl.dot(x_odd, tl.trans(w_odd), input_precision="ieee")
            w_even, w_odd = _mxfp4_pair_tiles(blocks_ptr, scales_ptr, expert, 2 * units + 1, unit_ok, k0,
                                              2 * intermediate, hidden, BLOCK_N, BLOCK_K, DOT_DTYPE)
            linear += tl.dot(x_even, tl.trans(w_even), input_precision="ieee")
            linear += tl.dot(x_odd, tl.trans(w_odd), input_precision="ieee")
        _swiglu_epilogue(gate, linear, bias_ptr, h_ptr, expert, units, unit_ok, rows, row_ok, intermediate,
                         alpha, limit)


@triton.jit
def _mlp2_weighted_kernel(
    h_ptr, order_ptr, tile_expert_ptr, tile_start_ptr, tile_end_ptr,
    blocks_ptr, scales_ptr, bias_ptr, routing_weight_ptr, y_ptr,
    hidden, intermediate, num_experts,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, DOT_DTYPE: tl.constexpr,
):
    pid_m, pid_n = tl.program_id(0), tl.program_id(1)
    expert, rows, row_ok, assignment = _tile_rows(tile_expert_ptr, tile_start_ptr, tile_end_ptr, order_ptr, pid_m,
                                                  BLOCK_M)
    if expert < num_experts:
        outs = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        out_ok = outs < hidden
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        h_rows = h_ptr + rows.to(tl.int64)[:, None] * intermediate
        for k0 in range(0, intermediate, BLOCK_K):
            pairs = k0 // 2 + tl.arange(0, BLOCK_K // 2)
            pair_ok = pairs < intermediate // 2
            h_mask = row_ok[:, None] & pair_ok[None, :]
            h_even = tl.load(h_rows + 2 * pairs[None, :], mask=h_mask, other=0.0).to(DOT_DTYPE)
            h_odd = tl.load(h_rows + 2 * pairs[None, :] + 1, mask=h_mask, other=0.0).to(DOT_DTYPE)
            w_even, w_odd = _mxfp4_pair_tiles(blocks_ptr, scales_ptr, expert, outs, out_ok, k0,
                                              hidden, intermediate, BLOCK_N, BLOCK_K, DOT_DTYPE)
            acc += tl.dot(h_even, tl.trans(w_even), input_precision="ieee")
            acc += tl.dot(h_odd, tl.trans(w_odd), input_precision="ieee")
        _weighted_epilogue(acc, bias_ptr, routing_weight_ptr, y_ptr, expert, outs, out_ok, assignment, row_ok, hidden)


def _tile_sizes(num_assignments: int, num_experts: int) -> tuple[int, int, int]:
    """(BLOCK_M, BLOCK_N, BLOCK_K). Few rows per expert (decode): small M tiles and narrow N
    tiles so that many programs stream the weights; many rows (prefill): larger tiles. The
    interpreter pays per operation, not per element, so it gets few, wide tiles."""
    if INTERPRETED:
        return 16, 128, 256
    rows_per_expert = num_assignments / num_experts
    if rows_per_expert <= 16:
        return 16, 32, 256
    if rows_per_expert <= 64:
        return 64, 64, 128
    return 128, 64, 128


def _check_inputs(x, expert_indices, expert_weights, mlp1_blocks, mlp1_scales, mlp2_blocks, mlp2_scales) -> None:
    for name, t in (("x", x), ("mlp1_blocks", mlp1_blocks), ("mlp2_blocks", mlp2_blocks)):
        check_device(name, t)
    tokens, hidden = x.shape
    num_experts, two_intermediate = mlp1_blocks.shape[:2]
    expected = {
        "expert_weights": (expert_weights.shape, expert_indices.shape),
        "mlp1_blocks": (mlp1_blocks.shape, (num_experts, two_intermediate, hidden // MXFP4_BLOCK, 16)),
        "mlp1_scales": (mlp1_scales.shape, (num_experts, two_intermediate, hidden // MXFP4_BLOCK)),
        "mlp2_blocks": (mlp2_blocks.shape, (num_experts, hidden, two_intermediate // 2 // MXFP4_BLOCK, 16)),
        "mlp2_scales": (mlp2_scales.shape, (num_experts, hidden, two_intermediate // 2 // MXFP4_BLOCK)),
    }
    for name, (got, want) in expected.items():
        if tuple(got) != tuple(want):
            raise ValueError(f"{name} has shape {tuple(got)}, expected {tuple(want)} for x of shape {tuple(x.shape)}")
    if expert_indices.shape[0] != tokens:
        raise ValueError(f"expert_indices has {expert_indices.shape[0]} rows for {tokens} tokens")


def moe_experts(
    x: torch.Tensor, expert_indices: torch.Tensor, expert_weights: torch.Tensor,
    mlp1_blocks: torch.Tensor, mlp1_scales: torch.Tensor, mlp1_bias: torch.Tensor,
    mlp2_blocks: torch.Tensor, mlp2_scales: torch.Tensor, mlp2_bias: torch.Tensor,
    swiglu_alpha: float = 1.702, swiglu_limit: float = 7.0,
) -> torch.Tensor:
    """The routed experts' weighted sum for each token, from packed MXFP4 weights (Triton).

    ``x`` (N, H) is the normed hidden state; ``expert_indices``/``expert_weights`` (N, K) the
    router's choices and softmaxed weights; weights in the checkpoint layout
    (``mlp1_blocks`` (E, 2I, H/32, 16) uint8, ``mlp1_scales`` (E, 2I, H/32), ``mlp1_bias``
    (E, 2I); ``mlp2_*`` likewise with (E, H, I/32, ...)). Returns (N, H) in ``x.dtype``.
    """
    _check_inputs(x, expert_indices, expert_weights, mlp1_blocks, mlp1_scales, mlp2_blocks, mlp2_scales)
    tokens, hidden = x.shape
    experts_per_token = expert_indices.shape[1]
    num_experts, intermediate = mlp1_blocks.shape[0], mlp1_blocks.shape[1] // 2
    block_m, block_n, block_k = _tile_sizes(tokens * experts_per_token, num_experts)
    if 4 * tokens * experts_per_token <= num_experts:  # few assignments: sharing an expert is rare
        tiles = one_tile_per_assignment(expert_indices, block_m)
    else:
        tiles = group_by_expert(expert_indices, num_experts, block_m)
    x = x.contiguous()
    dot_dtype = dot_dtype_for(x.dtype)
    h = torch.empty(tokens * experts_per_token, intermediate, device=x.device, dtype=x.dtype)  # sorted rows
    grid = (tiles.expert.numel(), triton.cdiv(intermediate, block_n))
    _mlp1_swiglu_kernel[grid](
        x, tiles.order, tiles.expert, tiles.row_start, tiles.row_end,
        mlp1_blocks.contiguous(), mlp1_scales.contiguous(), mlp1_bias.contiguous(), h,
        hidden, intermediate, num_experts, experts_per_token, float(swiglu_alpha), float(swiglu_limit),
        BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k, DOT_DTYPE=dot_dtype,
    )
    y = torch.empty(tokens * experts_per_token, hidden, device=x.device, dtype=torch.float32)  # assignment rows
    grid = (tiles.expert.numel(), triton.cdiv(hidden, block_n))
    _mlp2_weighted_kernel[grid](
        h, tiles.order, tiles.expert, tiles.row_start, tiles.row_end,
        mlp2_blocks.contiguous(), mlp2_scales.contiguous(), mlp2_bias.contiguous(), expert_weights.contiguous(), y,
        hidden, intermediate, num_experts,
        BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k, DOT_DTYPE=dot_dtype,
    )
    return y.view(tokens, experts_per_token, hidden).sum(1).to(x.dtype)  # (N, K, H) -> (N, H)


def moe_experts_reference(
    x: torch.Tensor, expert_indices: torch.Tensor, expert_weights: torch.Tensor,
    mlp1_blocks: torch.Tensor, mlp1_scales: torch.Tensor, mlp1_bias: torch.Tensor,
    mlp2_blocks: torch.Tensor, mlp2_scales: torch.Tensor, mlp2_bias: torch.Tensor,
    swiglu_alpha: float = 1.702, swiglu_limit: float = 7.0,
) -> torch.Tensor:
    """``moe_experts`` in plain torch: one expert at a time, weights dequantized to float32.

    Like the kernel, it keeps the SwiGLU output in ``x.dtype`` and accumulates in float32.
    """
    out = torch.zeros(x.shape, dtype=torch.float32, device=x.device)
    for expert in expert_indices.unique().tolist():
        token, slot = (expert_indices == expert).nonzero(as_tuple=True)
        w1 = dequantize(mlp1_blocks[expert], mlp1_scales[expert], dtype=torch.float32)  # (2I, H)
        t = x[token].float() @ w1.T + mlp1_bias[expert].float()
        h = swiglu(t, swiglu_alpha, swiglu_limit).to(x.dtype).float()
        w2 = dequantize(mlp2_blocks[expert], mlp2_scales[expert], dtype=torch.float32)  # (H, I)
        y = h @ w2.T + mlp2_bias[expert].float()
        out.index_put_((token,), y * expert_weights[token, slot].float()[:, None], accumulate=True)
    return out.to(x.dtype)
