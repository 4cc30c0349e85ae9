"""RMSNorm: scale each vector to unit root-mean-square, then by a learned per-channel gain.

gpt-oss normalises in float32 whatever the activation dtype, ``x * rsqrt(mean(x^2) + eps) * scale``,
and casts the result back. There is no mean subtraction and no bias (unlike LayerNorm).

``norm_linear`` is a pre-norm followed by its projection (the attention block's ``qkv``): the
default of the model's swappable ``norm_linear_core``, which a fused kernel may replace.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def rms_norm(x: torch.Tensor, scale: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """RMSNorm over the last dimension of ``x``, computed in float32, returned in ``x.dtype``."""
    t = x.float()
    t = t * torch.rsqrt(torch.mean(t * t, dim=-1, keepdim=True) + eps)
    return (t * scale.float()).to(x.dtype)


def norm_linear(x: torch.Tensor, scale: torch.Tensor, eps: float, weight: torch.Tensor,
                bias: torch.Tensor | None) -> torch.Tensor:
    """``linear(rms_norm(x))``: ``x (..., H)``, ``weight (out, H)``, ``bias (out,)`` -> ``(..., out)`` in ``x.dtype``.

    The normed activations are rounded to ``x.dtype`` before the product, as two separate
    layers would; a fused kernel rounds at the same place.
    """
    if x.shape[-1] != scale.shape[0]:
        raise ValueError(f"RMSNorm expects last dimension {scale.shape[0]}, got input of shape {tuple(x.shape)}")
    return F.linear(rms_norm(x, scale, eps), weight, bias)


class RMSNorm(torch.nn.Module):
    """RMSNorm with a float32 ``scale`` of shape ``(num_features,)`` (checkpoint name ``*.norm.scale``)."""

    def __init__(self, num_features: int, eps: float = 1e-5, device: torch.device | str | None = None):
        super().__init__()
        self.eps = eps
        self.scale = torch.nn.Parameter(torch.ones(num_features, device=device, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.scale.shape[0]:
            raise ValueError(f"RMSNorm expects last dimension {self.scale.shape[0]}, got input of shape {tuple(x.shape)}")
        return rms_norm(x, self.scale, self.eps)
