"""The mixture-of-experts core on CPU, straight from the packed MXFP4 bytes.

At batch 1 a decode step multiplies one token by 4 experts per layer. The plain core
(``gptoss_edu.model.moe.grouped_experts``) first decodes each chosen expert into a dense
copy (``dequantize``), writes it to memory and reads it back for the matrix product: per
value 16 bits written and 16 read again, for 4.25 bits stored. ``fused_experts`` instead hands the packed
blocks and scales to ``gptoss_edu.fast.cpu_kernel.mxfp4_matvec``, which decodes 16 values
at a time in registers and multiplies them at once, so each expert's bytes are read once
and nothing is written.

With many tokens per expert (a long prefill) decoding once and running one big matrix
product wins again, so experts that received more than ``FUSED_MAX_TOKENS`` tokens take the
plain path; the choice is made per expert and call (``benchmarks/cpu_decode.py`` measures
the crossover).

``use_fused_cpu_experts(model)`` swaps the core into a CPU model with packed experts.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from gptoss_edu.fast.cpu_kernel import kernel_problem, load_kernel, mxfp4_matvec
from gptoss_edu.model.moe import ExpertWeight, expert_matrix, grouped_experts, swiglu

# Above this many tokens on one expert, decoding it once and calling one matrix product is
# faster than the fused kernel, which decodes a block again for every 8 tokens.
FUSED_MAX_TOKENS = 32


def _packed_cpu(weight: ExpertWeight) -> bool:
    return isinstance(weight, tuple) and weight[0].device.type == "cpu"


def _fused_expert(x: torch.Tensor, expert: int, mlp1: tuple[torch.Tensor, torch.Tensor], mlp1_bias: torch.Tensor,
                  mlp2: tuple[torch.Tensor, torch.Tensor], mlp2_bias: torch.Tensor,
                  alpha: float, limit: float) -> torch.Tensor:
    """Expert ``expert`` on ``x (n, H)`` from its packed bytes, in float32: ``(n, H)``."""
    h = mxfp4_matvec(mlp1[0][expert], mlp1[1][expert], x) + mlp1_bias[expert].float()  # (n, 2I)
    return mxfp4_matvec(mlp2[0][expert], mlp2[1][expert], swiglu(h, alpha, limit)) + mlp2_bias[expert].float()


def _plain_expert(x: torch.Tensor, expert: int, mlp1: ExpertWeight, mlp1_bias: torch.Tensor,
                  mlp2: ExpertWeight, mlp2_bias: torch.Tensor, alpha: float, limit: float) -> torch.Tensor:
    """Expert ``expert`` on ``x (n, H)`` through a decoded copy, as ``grouped_experts`` does: ``(n, H)``."""
    h = F.linear(x, expert_matrix(mlp1, expert, x.dtype), mlp1_bias[expert])
    return F.linear(swiglu(h, alpha, limit), expert_matrix(mlp2, expert, x.dtype), mlp2_bias[expert])


def fused_experts(
    x: torch.Tensor,
    expert_indices: torch.Tensor,
    expert_weights: torch.Tensor,
    mlp1_weight: ExpertWeight,
    mlp1_bias: torch.Tensor,
    mlp2_weight: ExpertWeight,
    mlp2_bias: torch.Tensor,
    alpha: float = 1.702,
    limit: float = 7.0,
) -> torch.Tensor:
    """``grouped_experts`` with the fused MXFP4 kernel: same arguments, same result up to float32 rounding.

    ``x (N, H)``; ``expert_indices``/``expert_weights`` ``(N, k)``. Dense weights, other
    devices, an unavailable kernel, or inputs that need gradients (the kernel has no backward
    pass) go to ``grouped_experts`` unchanged.
    """
    needs_grad = torch.is_grad_enabled() and x.requires_grad
    if needs_grad or not (_packed_cpu(mlp1_weight) and _packed_cpu(mlp2_weight)) or load_kernel() is None:
        return grouped_experts(x, expert_indices, expert_weights, mlp1_weight, mlp1_bias,
                               mlp2_weight, mlp2_bias, alpha, limit)
    num_tokens, k = expert_indices.shape
    flat_experts = expert_indices.reshape(-1)  # (N*k,) one entry per (token, slot)
    order = torch.argsort(flat_experts, stable=True)  # assignments grouped by expert
    counts = torch.bincount(flat_experts, minlength=mlp1_bias.shape[0]).tolist()
    flat_weights = expert_weights.reshape(-1)
    out = torch.zeros(num_tokens, x.shape[-1], dtype=torch.float32)
    start = 0
    for expert, count in enumerate(counts):
        if count == 0:
            continue
        assignments = order[start:start + count]
        start += count
        tokens = assignments // k
        run = _fused_expert if count <= FUSED_MAX_TOKENS else _plain_expert
        h = run(x[tokens], expert, mlp1_weight, mlp1_bias, mlp2_weight, mlp2_bias, alpha, limit)
        out[tokens] += h.float() * flat_weights[assignments, None].float()  # a token picks an expert at most once
    return out.to(x.dtype)


def use_fused_cpu_experts(model: torch.nn.Module, notice: Callable[[str], object] = print) -> bool:
    """Swap ``fused_experts`` into every layer of ``model`` if it is on CPU with packed experts.

    Returns whether it did. Where the kernel cannot be built (no C compiler), says so in one
    line through ``notice`` and leaves the plain core in place.
    """
    if model.device.type != "cpu" or getattr(model, "experts", None) != "packed":
        return False
    if load_kernel() is None:
        notice(f"fused MXFP4 CPU kernel unavailable ({kernel_problem()}); using the plain torch experts")
        return False
    model.set_experts_core(fused_experts)
    return True
