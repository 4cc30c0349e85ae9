"""The MoE matmuls on the GPU layout: 8 weights per 32-bit word, a few integer ops each.

Same contract as ``kernels.moe.moe_experts`` (same routing inputs, same grouping of the
assignments by expert, same outputs), but the expert weights come prepared once at load time
by ``gptoss_edu.fast.mxfp4_layout.prepare``. ``kernels/moe.py`` stays the readable version;
this one is shaped for the memory bus:

- **Decode.** Each 32-bit word holds 8 codes. For step ``c`` (0..3) the word shifted left by
  ``12 - 4c`` and masked with 0x80008000 gives the signs of nibbles ``c`` and ``c + 4`` (bits 15
  and 31), shifted by ``6 - 4c`` and masked with 0x01C001C0 their ``e1 e0 m`` (bits 8..6 and
  24..22): two bfloat16 weights ``value * 2**-126`` in one register, ``mxfp4_layout.e2m1_bits``
  in torch. One packed bf16x2 multiply by ``2**(scale - 1)`` (computed once per 32 weights from
  the scale byte) finishes both. The joins put the 8 values of a word in the dot's order; the nibble
  order of the prepared layout (``NIBBLE_VALUES``) is chosen so that this order is the values'.
- **Shapes fixed at compile time.** ``hidden`` and ``intermediate`` are ``tl.constexpr``: the K
  loop has no masks (a main loop of ``BLOCK_K`` and a tail of ``TAIL_K`` columns) and every
  address is provably aligned, so loads are 16-byte vectors. Rows past the edge are clamped
  to a real row (read, never stored) rather than masked.
- **Tiles** from a small table per GPU (``CONFIGS``, by compute capability): the decode tile
  for a handful of rows per expert (batch 1-8) and a grouped tile for prefill; on a GPU the
  first call for a new GPU and problem times a few candidates and keeps the fastest
  (``gptoss_edu.fast.moe_tuning``, remembered in a small file).

Under the interpreter (which has no bfloat16 arithmetic) the same integer decode runs and the
multiply happens in float32, where it is exact as well.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from gptoss_edu.fast.mxfp4_layout import WORD_VALUES, PreparedMXFP4

from ._triton import INTERPRETED, check_device, dot_dtype_for, tl, triton
from .moe import _swiglu_epilogue, _tile_rows, _weighted_epilogue, group_by_expert, one_tile_per_assignment

# compute capability -> {"decode" | "grouped": (BLOCK_M, BLOCK_N, BLOCK_K, num_warps)}
CONFIGS: dict[tuple[int, int] | str, dict[str, tuple[int, int, int, int]]] = {
    (9, 0): {"decode": (16, 64, 256, 4), "grouped": (64, 128, 64, 4)},
    "default": {"decode": (16, 64, 256, 4), "grouped": (64, 64, 128, 4)},
}
INTERPRETER_CONFIG = {"decode": (16, 1024, 512, 4), "grouped": (64, 1024, 512, 4)}  # few, wide programs
GROUPED_FROM_ROWS_PER_EXPERT = 16  # above this many rows per expert (on average), the grouped tile


@triton.jit
def _weight_tile(words_ptr, scales_ptr, rows, k0, K: tl.constexpr, BLOCK_K: tl.constexpr,
                 BF16_MATH: tl.constexpr, DOT_DTYPE: tl.constexpr):
    """Weights of prepared rows ``rows`` (int64 rows of the flattened (E*R, K/8) words) at columns
    ``k0 .. k0 + BLOCK_K``, decoded: ``(len(rows), BLOCK_K)`` in ``DOT_DTYPE``."""
    N: tl.constexpr = rows.shape[0]
    words = tl.load(words_ptr + rows[:, None] * (K // 8) + (k0 // 8 + tl.arange(0, BLOCK_K // 8))[None, :])
    scale = tl.load(scales_ptr + rows[:, None] * (K // 32) + (k0 // 32 + tl.arange(0, BLOCK_K // 32))[None, :])
    # step c: shift nibbles c and c + 4 to bits 12..15 and 28..31, then move sign (mask 0x80008000) and
    # e1 e0 m (bits 8..6 after >> 6) into place: two bfloat16 patterns value * 2**-126 per int32
    bits0 = (words << 12 & -2147450880) | (words << 6 & 0x01C001C0)
    bits1 = (words << 8 & -2147450880) | (words << 2 & 0x01C001C0)
    bits2 = (words << 4 & -2147450880) | (words >> 2 & 0x01C001C0)
    bits3 = (words & -2147450880) | (words >> 6 & 0x01C001C0)
    low = tl.join(tl.join(bits0.to(tl.int16), bits1.to(tl.int16)), tl.join(bits2.to(tl.int16), bits3.to(tl.int16)))
    high = tl.join(tl.join((bits0 >> 16).to(tl.int16), (bits1 >> 16).to(tl.int16)),
                   tl.join((bits2 >> 16).to(tl.int16), (bits3 >> 16).to(tl.int16)))  # (N, W, 2, 2) each
    bits = tl.reshape(tl.join(high, low), (N, BLOCK_K // 32, 32))  # value order: see NIBBLE_VALUES
    if BF16_MATH:
        multiplier = ((scale.to(tl.int16) + 126) << 7).to(tl.bfloat16, bitcast=True)  # 2**(scale - 1)
        values = bits.to(tl.bfloat16, bitcast=True) * multiplier[:, :, None]
    else:
        multiplier = ((scale.to(tl.int32) + 126) << 23).to(tl.float32, bitcast=True)
        values = (bits.to(tl.int32) << 16).to(tl.float32, bitcast=True) * multiplier[:, :, None]
    return tl.reshape(values, (N, BLOCK_K)).to(DOT_DTYPE)


@triton.jit
def _mlp1_step(acc_gate, acc_linear, x_rows, words_ptr, scales_ptr, gate_rows, linear_rows, k0,
               K: tl.constexpr, BLOCK_K: tl.constexpr, BF16_MATH: tl.constexpr, DOT_DTYPE: tl.constexpr):
    x = tl.load(x_rows[:, None] + (k0 + tl.arange(0, BLOCK_K))[None, :]).to(DOT_DTYPE)
    gate = _weight_tile(words_ptr, scales_ptr, gate_rows, k0, K, BLOCK_K, BF16_MATH, DOT_DTYPE)
    acc_gate = tl.dot(x, tl.trans(gate), acc_gate, input_precision="ieee")
    linear = _weight_tile(words_ptr, scales_ptr, linear_rows, k0, K, BLOCK_K, BF16_MATH, DOT_DTYPE)
    acc_linear = tl.dot(x, tl.trans(linear), acc_linear, input_precision="ieee")
    return acc_gate, acc_linear


@triton.jit
def _mlp1_swiglu_fast_kernel(
    x_ptr, order_ptr, tile_expert_ptr, tile_start_ptr, tile_end_ptr,
    words_ptr, scales_ptr, bias_ptr, h_ptr,
    num_experts, experts_per_token, alpha, limit,
    HIDDEN: tl.constexpr, INTERMEDIATE: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, TAIL_K: tl.constexpr,
    BF16_MATH: tl.constexpr, DOT_DTYPE: tl.constexpr,
):
    pid_m, pid_n = tl.program_id(0), tl.program_id(1)
    expert, rows, row_ok, assignment = _tile_rows(tile_expert_ptr, tile_start_ptr, tile_end_ptr, order_ptr, pid_m,
                                                  BLOCK_M)
    if expert < num_experts:
        x_rows = x_ptr + (assignment // experts_per_token).to(tl.int64) * HIDDEN  # unused rows read token 0
        units = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        unit_ok = units < INTERMEDIATE
        gate_rows = expert.to(tl.int64) * 2 * INTERMEDIATE + tl.minimum(units, INTERMEDIATE - 1)  # gate rows first
        linear_rows = gate_rows + INTERMEDIATE
        gate = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        linear = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        MAIN_K: tl.constexpr = HIDDEN // BLOCK_K * BLOCK_K
        for k0 in range(0, MAIN_K, BLOCK_K):
            gate, linear = _mlp1_step(gate, linear, x_rows, words_ptr, scales_ptr, gate_rows, linear_rows, k0,
                                      HIDDEN, BLOCK_K, BF16_MATH, DOT_DTYPE)
        for k0 in range(MAIN_K, HIDDEN, TAIL_K):
            gate, linear = _mlp1_step(gate, linear, x_rows, words_ptr, scales_ptr, gate_rows, linear_rows, k0,
                                      HIDDEN, TAIL_K, BF16_MATH, DOT_DTYPE)
        _swiglu_epilogue(gate, linear, bias_ptr, h_ptr, expert, units, unit_ok, rows, row_ok, INTERMEDIATE,
                         alpha, limit)


@triton.jit
def _mlp2_step(acc, h_rows, words_ptr, scales_ptr, out_rows, k0,
               K: tl.constexpr, BLOCK_K: tl.constexpr, BF16_MATH: tl.constexpr, DOT_DTYPE: tl.constexpr):
    h = tl.load(h_rows[:, None] + (k0 + tl.arange(0, BLOCK_K))[None, :]).to(DOT_DTYPE)
    w = _weight_tile(words_ptr, scales_ptr, out_rows, k0, K, BLOCK_K, BF16_MATH, DOT_DTYPE)
    return tl.dot(h, tl.trans(w), acc, input_precision="ieee")


@triton.jit
def _mlp2_weighted_fast_kernel(
    h_ptr, order_ptr, tile_expert_ptr, tile_start_ptr, tile_end_ptr,
    words_ptr, scales_ptr, bias_ptr, routing_weight_ptr, y_ptr,
    num_experts,
    HIDDEN: tl.constexpr, INTERMEDIATE: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, TAIL_K: tl.constexpr,
    BF16_MATH: tl.constexpr, DOT_DTYPE: tl.constexpr,
):
    pid_m, pid_n = tl.program_id(0), tl.program_id(1)
    expert, rows, row_ok, assignment = _tile_rows(tile_expert_ptr, tile_start_ptr, tile_end_ptr, order_ptr, pid_m,
                                                  BLOCK_M)
    if expert < num_experts:
        outs = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        out_ok = outs < HIDDEN
        out_rows = expert.to(tl.int64) * HIDDEN + tl.minimum(outs, HIDDEN - 1)
        first_row = tl.load(tile_start_ptr + pid_m)
        h_rows = h_ptr + tl.where(row_ok, rows, first_row).to(tl.int64) * INTERMEDIATE  # unused rows read row 0
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        MAIN_K: tl.constexpr = INTERMEDIATE // BLOCK_K * BLOCK_K
        for k0 in range(0, MAIN_K, BLOCK_K):
            acc = _mlp2_step(acc, h_rows, words_ptr, scales_ptr, out_rows, k0, INTERMEDIATE, BLOCK_K, BF16_MATH,
                             DOT_DTYPE)
        for k0 in range(MAIN_K, INTERMEDIATE, TAIL_K):
            acc = _mlp2_step(acc, h_rows, words_ptr, scales_ptr, out_rows, k0, INTERMEDIATE, TAIL_K, BF16_MATH,
                             DOT_DTYPE)
        _weighted_epilogue(acc, bias_ptr, routing_weight_ptr, y_ptr, expert, outs, out_ok, assignment, row_ok, HIDDEN)


def k_blocks(columns: int, block_k: int) -> dict[str, int]:
    """``BLOCK_K`` (a power of two, at most ``columns``) and ``TAIL_K`` (the largest power of two up to
    it that divides ``columns``, a multiple of 32): the main loop's and the tail's steps along K."""
    main = min(block_k, 1 << (columns.bit_length() - 1))
    tail = main
    while columns % tail:
        tail //= 2
    return {"BLOCK_K": main, "TAIL_K": tail}


def tile_kind(num_assignments: int, num_experts: int) -> str:
    """``"decode"`` for a handful of rows per expert (batch 1-8), else ``"grouped"`` (prefill)."""
    return "grouped" if num_assignments > GROUPED_FROM_ROWS_PER_EXPERT * num_experts else "decode"


def table_tile(kind: str, device: torch.device) -> tuple[int, int, int, int]:
    """(BLOCK_M, BLOCK_N, BLOCK_K, num_warps) from ``CONFIGS`` for the device's compute capability."""
    if INTERPRETED:
        return INTERPRETER_CONFIG[kind]
    capability = torch.cuda.get_device_capability(device)
    return CONFIGS.get(capability, CONFIGS["default"])[kind]


def _tile(kind: str, x: torch.Tensor, intermediate: int, num_experts: int,
          run: Callable[[tuple[int, int, int, int]], object]) -> tuple[int, int, int, int]:
    """The table's tile under the interpreter; on a GPU the tile tuned for it (``gptoss_edu.fast.moe_tuning``)."""
    table = table_tile(kind, x.device)
    if INTERPRETED:
        return table
    from gptoss_edu.fast.moe_tuning import problem_key, tuned_tile

    key = problem_key(x.device, kind, x.shape[1], intermediate, num_experts)
    return tuned_tile(key, table, kind, run, capturing=torch.cuda.is_current_stream_capturing())


def _check_inputs(x: torch.Tensor, expert_indices: torch.Tensor, expert_weights: torch.Tensor,
                  mlp1: PreparedMXFP4, mlp2: PreparedMXFP4) -> None:
    for name, t in (("x", x), ("mlp1.words", mlp1.words), ("mlp2.words", mlp2.words)):
        check_device(name, t)
    tokens, hidden = x.shape
    num_experts, two_intermediate = mlp1.words.shape[:2]
    intermediate = two_intermediate // 2
    expected = {
        "expert_weights": (expert_weights.shape, expert_indices.shape),
        "mlp1.words": (mlp1.words.shape, (num_experts, 2 * intermediate, hidden // WORD_VALUES)),
        "mlp1.scales": (mlp1.scales.shape, (num_experts, 2 * intermediate, hidden // 32)),
        "mlp2.words": (mlp2.words.shape, (num_experts, hidden, intermediate // WORD_VALUES)),
        "mlp2.scales": (mlp2.scales.shape, (num_experts, hidden, intermediate // 32)),
    }
    for name, (got, want) in expected.items():
        if tuple(got) != tuple(want):
            raise ValueError(f"{name} has shape {tuple(got)}, expected {tuple(want)} for x of shape {tuple(x.shape)}")
    if not mlp1.gate_linear_split or mlp2.gate_linear_split:
        raise ValueError("mlp1 must be prepared with gate_linear_split=True and mlp2 without it")
    if expert_indices.shape[0] != tokens:
        raise ValueError(f"expert_indices has {expert_indices.shape[0]} rows for {tokens} tokens")


def moe_experts_fast(
    x: torch.Tensor, expert_indices: torch.Tensor, expert_weights: torch.Tensor,
    mlp1: PreparedMXFP4, mlp1_bias: torch.Tensor, mlp2: PreparedMXFP4, mlp2_bias: torch.Tensor,
    swiglu_alpha: float = 1.702, swiglu_limit: float = 7.0, tile: tuple[int, int, int, int] | None = None,
) -> torch.Tensor:
    """``moe_experts`` on prepared weights: ``x (N, H)``, router choices ``(N, K)``, biases as in the
    checkpoint (``mlp1_bias (E, 2I)`` interleaved, ``mlp2_bias (E, H)``). Returns ``(N, H)`` in ``x.dtype``.

    ``tile`` (BLOCK_M, BLOCK_N, BLOCK_K, num_warps) overrides the choice of the table and the tuner."""
    _check_inputs(x, expert_indices, expert_weights, mlp1, mlp2)
    tokens, hidden = x.shape
    experts_per_token = expert_indices.shape[1]
    num_experts, intermediate = mlp1.words.shape[0], mlp1.words.shape[1] // 2
    if tile is None:
        arguments = (x, expert_indices, expert_weights, mlp1, mlp1_bias, mlp2, mlp2_bias, swiglu_alpha, swiglu_limit)
        tile = _tile(tile_kind(tokens * experts_per_token, num_experts), x, intermediate, num_experts,
                     lambda candidate: moe_experts_fast(*arguments, tile=candidate))
    block_m, block_n, block_k, num_warps = tile
    if 4 * tokens * experts_per_token <= num_experts:  # few assignments: sharing an expert is rare
        tiles = one_tile_per_assignment(expert_indices, block_m)
    else:
        tiles = group_by_expert(expert_indices, num_experts, block_m)
    x = x.contiguous()
    dot_dtype = dot_dtype_for(x.dtype)
    shapes = {"HIDDEN": hidden, "INTERMEDIATE": intermediate, "BLOCK_M": block_m, "BLOCK_N": block_n,
              "BF16_MATH": dot_dtype == tl.bfloat16, "DOT_DTYPE": dot_dtype, "num_warps": num_warps}
    h = torch.empty(tokens * experts_per_token, intermediate, device=x.device, dtype=x.dtype)  # sorted rows
    grid = (tiles.expert.numel(), triton.cdiv(intermediate, block_n))
    _mlp1_swiglu_fast_kernel[grid](
        x, tiles.order, tiles.expert, tiles.row_start, tiles.row_end,
        mlp1.words, mlp1.scales, mlp1_bias.contiguous(), h,
        num_experts, experts_per_token, float(swiglu_alpha), float(swiglu_limit),
        **k_blocks(hidden, block_k), **shapes,
    )
    y = torch.empty(tokens * experts_per_token, hidden, device=x.device, dtype=torch.float32)  # assignment rows
    grid = (tiles.expert.numel(), triton.cdiv(hidden, block_n))
    _mlp2_weighted_fast_kernel[grid](
        h, tiles.order, tiles.expert, tiles.row_start, tiles.row_end,
        mlp2.words, mlp2.scales, mlp2_bias.contiguous(), expert_weights.contiguous(), y,
        num_experts,
        **k_blocks(intermediate, block_k), **shapes,
    )
    return y.view(tokens, experts_per_token, hidden).sum(1).to(x.dtype)  # (N, K, H) -> (N, H)
