"""RMSNorm fused into the projection that follows it: one launch where the torch path makes seven to nine.

Each pre-norm of gpt-oss feeds exactly one matmul: the attention block's ``qkv`` and the MoE
block's router. The torch path runs the norm as six elementwise/reduction launches, writes
the normed activations out, reads them back for the matmul, and for the router adds a top-k
and a softmax launch. Here one kernel does the lot for a tile of rows:

- pass 1 over the row: the sum of squares, in float32;
- pass 2: each chunk of the row is normed, rounded to the activation dtype (where the torch
  path rounds when it writes ``rms_norm``'s output) and multiplied into the weight tile.

``norm_linear`` is ``linear(rms_norm(x))`` (the attention ``norm_linear_core``);
``norm_and_route`` also stores the normed rows (the experts read them), rounds the router
logits to the activation dtype like ``F.linear`` does, takes the top ``k`` with an argmax
loop and softmaxes the kept logits, all in registers: the ``(N, E)`` logits never reach memory.

Top-k order and ties: the experts come out by decreasing logit, as ``torch.topk(sorted=True)``
gives them; for distinct logits the two agree exactly. Among *equal* logits the kernel takes the
lowest expert index first (torch does not promise an order for ties). A NaN logit is never
chosen here (torch would rank it first).

The references are Triton-free library functions: ``gptoss_edu.model.norm.norm_linear`` and
``gptoss_edu.model.moe.norm_and_route``, the model's default cores.
"""
from __future__ import annotations

import torch

from gptoss_edu.model.moe import norm_and_route as norm_and_route_reference
from gptoss_edu.model.norm import norm_linear as norm_linear_reference

from ._triton import INTERPRETED, check_device, dot_dtype_for, tl, triton

# The chunk of the hidden dimension each pass reads, and the outputs per ``norm_linear`` program.
# On a GPU these tiles compile for sm_90 without spilling (``python -m gptoss_edu.kernels.sass`` checks);
# the interpreter pays per program and per loop step, not per element: it gets large tiles.
BLOCK_K, BLOCK_N = (256, 512) if INTERPRETED else (32, 64)


@triton.jit
def _inverse_rms(x_ptr, features, eps, m, m_ok, BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr):
    """Pass 1: ``1 / sqrt(mean(x^2) + eps)`` for the ``BLOCK_M`` rows ``m``, in float32."""
    squares = tl.zeros((BLOCK_M,), tl.float32)
    for k0 in range(0, features, BLOCK_K):
        cols = k0 + tl.arange(0, BLOCK_K)
        x = tl.load(x_ptr + m[:, None] * features + cols[None, :],
                    mask=m_ok[:, None] & (cols < features)[None, :], other=0.0).to(tl.float32)
        squares += tl.sum(x * x, 1)
    return 1.0 / tl.sqrt(squares / features + eps)


@triton.jit
def _normed_chunk(x_ptr, scale_ptr, features, m, m_ok, inverse_rms, k0, OUT_DTYPE: tl.constexpr,
                  BLOCK_K: tl.constexpr):
    """Pass 2, one chunk: ``x * inverse_rms * scale`` rounded to the activation dtype, and its mask."""
    cols = k0 + tl.arange(0, BLOCK_K)
    ok = m_ok[:, None] & (cols < features)[None, :]
    x = tl.load(x_ptr + m[:, None] * features + cols[None, :], mask=ok, other=0.0).to(tl.float32)
    scale = tl.load(scale_ptr + cols, mask=cols < features, other=0.0).to(tl.float32)
    return (x * inverse_rms[:, None] * scale[None, :]).to(OUT_DTYPE), cols, ok


@triton.jit
def _norm_linear_kernel(x_ptr, scale_ptr, w_ptr, b_ptr, out_ptr, rows, features, outputs, eps,
                        HAS_BIAS: tl.constexpr, DOT_DTYPE: tl.constexpr,
                        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    n = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    m_ok, n_ok = m < rows, n < outputs
    m = m.to(tl.int64)
    inverse_rms = _inverse_rms(x_ptr, features, eps, m, m_ok, BLOCK_M, BLOCK_K)
    acc = tl.zeros((BLOCK_M, BLOCK_N), tl.float32)
    for k0 in range(0, features, BLOCK_K):
        normed, cols, _ = _normed_chunk(x_ptr, scale_ptr, features, m, m_ok, inverse_rms, k0,
                                        out_ptr.dtype.element_ty, BLOCK_K)
        w = tl.load(w_ptr + n.to(tl.int64)[:, None] * features + cols[None, :],
                    mask=n_ok[:, None] & (cols < features)[None, :], other=0.0)
        acc += tl.dot(normed.to(DOT_DTYPE), tl.trans(w.to(DOT_DTYPE)), input_precision="ieee")
    if HAS_BIAS:
        acc += tl.load(b_ptr + n, mask=n_ok, other=0.0).to(tl.float32)[None, :]
    tl.store(out_ptr + m[:, None] * outputs + n[None, :], acc.to(out_ptr.dtype.element_ty),
             mask=m_ok[:, None] & n_ok[None, :])


@triton.jit
def _norm_route_kernel(x_ptr, scale_ptr, w_ptr, b_ptr, normed_ptr, weights_ptr, indices_ptr,
                       rows, features, experts, eps,
                       K: tl.constexpr, DOT_DTYPE: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_E: tl.constexpr,
                       BLOCK_TOP: tl.constexpr, BLOCK_K: tl.constexpr):
    m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    m_ok = m < rows
    m = m.to(tl.int64)
    e = tl.arange(0, BLOCK_E)
    e_ok = e < experts
    act = normed_ptr.dtype.element_ty
    inverse_rms = _inverse_rms(x_ptr, features, eps, m, m_ok, BLOCK_M, BLOCK_K)
    logits = tl.zeros((BLOCK_M, BLOCK_E), tl.float32)
    for k0 in range(0, features, BLOCK_K):
        normed, cols, ok = _normed_chunk(x_ptr, scale_ptr, features, m, m_ok, inverse_rms, k0, act, BLOCK_K)
        tl.store(normed_ptr + m[:, None] * features + cols[None, :], normed, mask=ok)
        w = tl.load(w_ptr + e[:, None] * features + cols[None, :],
                    mask=e_ok[:, None] & (cols < features)[None, :], other=0.0)
        logits += tl.dot(normed.to(DOT_DTYPE), tl.trans(w.to(DOT_DTYPE)), input_precision="ieee")
    logits += tl.load(b_ptr + e, mask=e_ok, other=0.0).to(tl.float32)[None, :]
    logits = logits.to(act).to(tl.float32)  # the torch router's logits are in the activation dtype
    logits = tl.where(e_ok[None, :], logits, float("-inf"))
    # top-k by repeated argmax: the largest logit, the lowest index among equals, then knock it out
    slots = tl.arange(0, BLOCK_TOP)
    top_values = tl.full((BLOCK_M, BLOCK_TOP), float("-inf"), tl.float32)
    top_indices = tl.zeros((BLOCK_M, BLOCK_TOP), tl.int32)
    for j in tl.static_range(K):
        best = tl.max(logits, 1)
        choice = tl.min(tl.where(logits == best[:, None], e[None, :], BLOCK_E), 1)
        top_values = tl.where(slots[None, :] == j, best[:, None], top_values)
        top_indices = tl.where(slots[None, :] == j, choice[:, None], top_indices)
        logits = tl.where(e[None, :] == choice[:, None], float("-inf"), logits)
    # softmax over the kept logits; slot 0 holds the largest, the unused slots are -inf (weight 0)
    p = tl.exp(top_values - tl.max(top_values, 1)[:, None])
    weights = p / tl.sum(p, 1)[:, None]
    out = m[:, None] * K + slots[None, :]
    ok = m_ok[:, None] & (slots < K)[None, :]
    tl.store(weights_ptr + out, weights.to(weights_ptr.dtype.element_ty), mask=ok)
    tl.store(indices_ptr + out, top_indices.to(tl.int64), mask=ok)


def _rows(name: str, x: torch.Tensor, scale: torch.Tensor, weight: torch.Tensor,
          bias: torch.Tensor | None) -> torch.Tensor:
    """Check the operands and return ``x`` as contiguous ``(N, H)`` rows."""
    for tensor_name, t in (("x", x), ("scale", scale), (f"{name} weight", weight)):
        check_device(tensor_name, t)
    features = x.shape[-1]
    if scale.shape != (features,):
        raise ValueError(f"norm scale has shape {tuple(scale.shape)}, expected ({features},) for x {tuple(x.shape)}")
    if weight.dim() != 2 or weight.shape[1] != features:
        raise ValueError(f"{name} weight has shape {tuple(weight.shape)}, expected (outputs, {features})")
    if weight.dtype != x.dtype or (bias is not None and bias.dtype != x.dtype):
        raise TypeError(f"{name} weight/bias must have x's dtype {x.dtype}, got {weight.dtype}"
                        f"{'' if bias is None else f'/{bias.dtype}'}")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"{name} bias has shape {tuple(bias.shape)}, expected ({weight.shape[0]},)")
    dot_dtype_for(x.dtype)  # rejects dtypes the kernels do not take
    return x.reshape(-1, features).contiguous()  # (N, H)


def norm_linear_tile(rows: int) -> tuple[int, int, int]:
    """``(BLOCK_M, BLOCK_N, BLOCK_K)`` of ``norm_linear`` for ``rows`` tokens: 16 rows (the smallest
    ``tl.dot`` tile) per program for decode, up to 64 for prefill."""
    return min(64, max(16, triton.next_power_of_2(rows))), BLOCK_N, BLOCK_K


def router_tile(rows: int, experts: int) -> tuple[int, int, int]:
    """``(BLOCK_M, BLOCK_E, BLOCK_K)`` of ``norm_and_route``: all experts' logits of up to 64 rows
    (32 with 128 experts, whose logits take four times the registers) in one program."""
    block_e = max(16, triton.next_power_of_2(experts))
    return min(64 if block_e <= 32 else 32, max(16, triton.next_power_of_2(rows))), block_e, BLOCK_K


def norm_linear(x: torch.Tensor, scale: torch.Tensor, eps: float, weight: torch.Tensor,
                bias: torch.Tensor | None) -> torch.Tensor:
    """``linear(rms_norm(x, scale, eps), weight, bias)`` in one launch: ``x (..., H)`` -> ``(..., out)``."""
    rows = _rows("projection", x, scale, weight, bias)
    outputs = weight.shape[0]
    out = torch.empty(rows.shape[0], outputs, dtype=x.dtype, device=x.device)  # (N, out)
    if rows.shape[0]:
        block_m, block_n, block_k = norm_linear_tile(rows.shape[0])
        grid = (triton.cdiv(rows.shape[0], block_m), triton.cdiv(outputs, block_n))
        _norm_linear_kernel[grid](rows, scale, weight.contiguous(), bias if bias is not None else weight, out,
                                  rows.shape[0], rows.shape[1], outputs, eps,
                                  HAS_BIAS=bias is not None, DOT_DTYPE=dot_dtype_for(x.dtype),
                                  BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k)
    return out.reshape(*x.shape[:-1], outputs)


def norm_and_route(x: torch.Tensor, scale: torch.Tensor, eps: float, gate_weight: torch.Tensor,
                   gate_bias: torch.Tensor, experts_per_token: int
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """RMSNorm, router matmul, top-k and softmax in one launch, for ``x (N, H)``.

    Returns ``(normed (N, H), weights (N, k), indices (N, k))`` like the reference
    ``gptoss_edu.model.moe.norm_and_route``; the router logits stay in registers.
    """
    rows = _rows("router", x, scale, gate_weight, gate_bias)
    experts = gate_weight.shape[0]
    if not 0 < experts_per_token <= experts:
        raise ValueError(f"experts_per_token={experts_per_token} must be between 1 and the {experts} experts")
    n = rows.shape[0]
    normed = torch.empty_like(rows)  # (N, H)
    weights = torch.empty(n, experts_per_token, dtype=x.dtype, device=x.device)
    indices = torch.empty(n, experts_per_token, dtype=torch.int64, device=x.device)
    if n:
        block_m, block_e, block_k = router_tile(n, experts)
        _norm_route_kernel[(triton.cdiv(n, block_m),)](
            rows, scale, gate_weight.contiguous(), gate_bias, normed, weights, indices, n, rows.shape[1], experts, eps,
            K=experts_per_token, DOT_DTYPE=dot_dtype_for(x.dtype), BLOCK_M=block_m, BLOCK_E=block_e,
            BLOCK_TOP=triton.next_power_of_2(experts_per_token), BLOCK_K=block_k)
    return normed, weights, indices


__all__ = ["norm_and_route", "norm_and_route_reference", "norm_linear", "norm_linear_reference"]
