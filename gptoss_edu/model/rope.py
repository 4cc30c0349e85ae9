"""Rotary position embedding (RoPE) with YaRN scaling, as gpt-oss uses it.

RoPE turns each (first-half, second-half) pair of a head's channels into a 2-D vector and
rotates it by ``position * inv_freq[i]``: the "half-split" layout, not interleaved pairs.

YaRN stretches a model trained on ``initial_context_length`` tokens to ``factor`` times
that. Each frequency is a blend of *extrapolation* (the original ``1/theta**(2i/d)``) and
*interpolation* (the same divided by ``factor``). "NTK-by-parts" picks the blend with a
linear ramp over the channel index ``i``: channels whose wavelength is short compared with
the training context (``i < low``) keep extrapolation, long ones (``i > high``)
interpolate, with ``low``/``high`` the channels that complete ``beta_fast``/``beta_slow``
turns over the original context. Finally cos and sin are multiplied by the "concentration"
``0.1 * ln(factor) + 1``, which sharpens attention logits (it multiplies both q and k).

The cos/sin tables are computed in float32, cached per device and grown on demand; they are
not module buffers, so they never appear in a state dict.
"""
from __future__ import annotations

import math

import torch

from gptoss_edu.config import ModelConfig


def yarn_concentration_and_inv_freq(
    head_dim: int,
    theta: float,
    scaling_factor: float = 1.0,
    initial_context_length: int = 4096,
    ntk_alpha: float = 1.0,
    ntk_beta: float = 32.0,
    device: torch.device | str | None = None,
) -> tuple[float, torch.Tensor]:
    """The concentration (a float) and the ``(head_dim/2,)`` float32 inverse frequencies.

    ``ntk_beta`` is YaRN's beta_fast and ``ntk_alpha`` its beta_slow. Without scaling
    (``scaling_factor <= 1``) this is plain RoPE: concentration 1, ``inv_freq = 1/theta**(2i/d)``.
    """
    freq = theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device=device) / head_dim)
    if scaling_factor <= 1.0:
        return 1.0, 1.0 / freq
    concentration = 0.1 * math.log(scaling_factor) + 1.0
    d_half = head_dim / 2
    low = d_half * math.log(initial_context_length / (ntk_beta * 2 * math.pi)) / math.log(theta)
    high = d_half * math.log(initial_context_length / (ntk_alpha * 2 * math.pi)) / math.log(theta)
    if not 0 < low < high < d_half - 1:
        raise ValueError(f"YaRN ramp bounds low={low:.3f}, high={high:.3f} must satisfy 0 < low < high < {d_half - 1}")
    interpolation = 1.0 / (scaling_factor * freq)
    extrapolation = 1.0 / freq
    ramp = (torch.arange(d_half, dtype=torch.float32, device=device) - low) / (high - low)
    keep_original = 1 - ramp.clamp(0, 1)  # 1 for fast channels, 0 for slow ones
    return concentration, interpolation * (1 - keep_original) + extrapolation * keep_original


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x (..., T, heads, head_dim)`` by ``cos``/``sin`` of shape ``(T, head_dim/2)``.

    The first half of the head channels pairs with the second half (half-split layout).
    The tables are cast to ``x.dtype`` first, as the reference does.
    """
    cos = cos.unsqueeze(-2).to(x.dtype)  # (T, 1, d/2): broadcast over heads
    sin = sin.unsqueeze(-2).to(x.dtype)
    x1, x2 = torch.chunk(x, 2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)


def rope_and_cache(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                   position: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                   slot_positions: torch.Tensor) -> torch.Tensor:
    """One decode token: rotate ``q (B, 1, Hq, D)``, ``k (B, 1, KV, D)`` at ``position (1,)``, store k and v; return q.

    ``cos``/``sin`` are the float32 ``(L, D/2)`` tables; ``keys``/``values`` ``(B, slots, KV, D)``
    and ``slot_positions (slots,)`` one ``LayerCache``'s tensors; the slot is ``position % slots``
    (the position itself on a full-attention layer with room, the ring slot on a sliding one).
    This is the plain-torch reference of the fused kernel ``gptoss_edu.kernels.rope.rope_and_cache``.
    """
    cos, sin = cos.index_select(0, position), sin.index_select(0, position)  # (1, D/2)
    slot = position % keys.shape[1]
    keys.index_copy_(1, slot, apply_rotary(k, cos, sin))
    values.index_copy_(1, slot, v)
    slot_positions.index_copy_(0, slot, position)
    return apply_rotary(q, cos, sin)


class RotaryEmbedding(torch.nn.Module):
    """Applies YaRN RoPE at given positions; holds only cos/sin tables cached per device."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self._tables: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def cos_sin(self, length: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """float32 ``cos``/``sin`` tables of at least ``length`` positions on ``device``.

        Tables grow to the next power of two (at least 256) so decoding recomputes rarely;
        a position's row does not depend on the table length.
        """
        device = torch.device(device)
        cached = self._tables.get(device)
        if cached is None or cached[0].shape[0] < length:
            cached = self._compute(max(256, 1 << (length - 1).bit_length()), device)
            self._tables[device] = cached
        return cached

    def _compute(self, length: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        # Outside inference mode even when generating: the cached tables must also serve a later
        # training step (sample, then learn, as RL does), and autograd refuses inference tensors.
        with torch.inference_mode(False):
            concentration, inv_freq = yarn_concentration_and_inv_freq(
                c.head_dim, c.rope_theta, c.rope_scaling_factor, c.initial_context_length,
                c.rope_ntk_alpha, c.rope_ntk_beta, device=device,
            )
            positions = torch.arange(length, dtype=torch.float32, device=device)
            angles = torch.outer(positions, inv_freq)  # (length, head_dim/2)
            return angles.cos() * concentration, angles.sin() * concentration

    def forward(self, q: torch.Tensor, k: torch.Tensor, start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotate ``q``/``k`` of shape ``(..., T, heads, head_dim)`` for positions ``start .. start+T-1``."""
        num_tokens = q.shape[-3]
        cos, sin = self.cos_sin(start + num_tokens, q.device)
        cos, sin = cos[start:start + num_tokens], sin[start:start + num_tokens]
        return apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
