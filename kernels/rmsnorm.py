"""Fused RMSNorm: one program per row, the whole row in registers, float32 math.

``y = x * rsqrt(mean(x^2) + eps) * scale`` with the result cast back to ``x.dtype``; one read
and one write of the activations instead of the handful of passes the torch version makes.
``rms_norm_reference`` is the same function in plain torch: the library's own
``gptoss_edu.model.norm.rms_norm``.
"""
from __future__ import annotations

import torch

from gptoss_edu.model.norm import rms_norm as rms_norm_reference

from ._triton import check_device, tl, triton


@triton.jit
def _rms_norm_kernel(x_ptr, scale_ptr, out_ptr, num_features, eps, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    ok = cols < num_features
    x = tl.load(x_ptr + row * num_features + cols, mask=ok, other=0.0).to(tl.float32)
    inverse_rms = 1.0 / tl.sqrt(tl.sum(x * x, 0) / num_features + eps)
    scale = tl.load(scale_ptr + cols, mask=ok, other=0.0).to(tl.float32)
    tl.store(out_ptr + row * num_features + cols, (x * inverse_rms * scale).to(out_ptr.dtype.element_ty), mask=ok)


def rms_norm(x: torch.Tensor, scale: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """RMSNorm over the last dimension of ``x`` (any leading shape); returns ``x.dtype``."""
    check_device("x", x)
    if scale.shape != (x.shape[-1],):
        raise ValueError(f"scale has shape {tuple(scale.shape)}, expected ({x.shape[-1]},) for x {tuple(x.shape)}")
    rows = x.reshape(-1, x.shape[-1]).contiguous()  # (N, H)
    out = torch.empty_like(rows)
    if rows.shape[0]:
        _rms_norm_kernel[(rows.shape[0],)](rows, scale, out, rows.shape[1], eps,
                                           BLOCK=triton.next_power_of_2(rows.shape[1]))
    return out.reshape(x.shape)


__all__ = ["rms_norm", "rms_norm_reference"]
