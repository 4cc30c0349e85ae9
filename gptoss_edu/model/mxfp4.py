"""MXFP4: the 4.25-bit format gpt-oss stores its expert weights in.

A tensor is cut along its last (input) dimension into blocks of 32 values. Each block
keeps one shared scale byte (E8M0: the value ``2**(byte - 127)``) and 32 four-bit E2M1
codes, two per byte, the low nibble holding the even element. Code ``c`` means
``FP4_VALUES[c]``: ``[0, .5, 1, 1.5, 2, 3, 4, 6]`` for ``c < 8`` and the same values
negated for ``c >= 8`` (code 8 is -0).

On disk (and in the model's packed mode) a weight of shape ``(..., K)`` becomes
``blocks (..., K/32, 16) uint8`` and ``scales (..., K/32) uint8``.

``dequantize`` reproduces OpenAI's reference decode bit for bit; ``quantize`` is the
inverse for the values this format can hold, using the OCP Microscaling rule for the scale
(see ``shared_exponent``) and round-to-nearest-even onto the E2M1 grid.
"""
from __future__ import annotations

import functools

import torch

from gptoss_edu.config import MXFP4_BLOCK

BLOCK_SIZE = MXFP4_BLOCK  # values sharing one scale byte (defined once, in gptoss_edu.config)
BYTES_PER_BLOCK = BLOCK_SIZE // 2  # two 4-bit codes per byte
SCALE_BIAS = 127  # E8M0 exponent bias: scale byte b means 2**(b - 127)
E2M1_EMAX = 2  # exponent of the largest E2M1 magnitude, 6 = 1.5 * 2**2

FP4_VALUES: tuple[float, ...] = (
    +0.0, +0.5, +1.0, +1.5, +2.0, +3.0, +4.0, +6.0,
    -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0,
)
# Midpoints between consecutive non-negative E2M1 magnitudes: the rounding thresholds.
_MIDPOINTS = (0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0)
_SIGN_BIT = 8


def _decode_dtype(dtype: torch.dtype) -> torch.dtype:
    """A dtype in which ``code value * 2**e`` is exact for every scale byte.

    bfloat16, float32 and float64 cover float32's exponent range, so the product of an
    E2M1 value (two significant bits) and a power of two is exact in them; narrower types
    (float16) decode in float32 first and round once when cast, as the reference does.
    """
    return dtype if dtype in (torch.bfloat16, torch.float32, torch.float64) else torch.float32


@functools.lru_cache(maxsize=16)
def _pair_table(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(256,) table: each byte's two values (low nibble first) as one 2-element row.

    For 2-byte dtypes the pair is viewed as one int32, so decoding is a single
    ``index_select`` of 4-byte words (much faster on CPU than gathering pairs).
    """
    values = torch.tensor(FP4_VALUES, dtype=dtype, device=device)
    byte = torch.arange(256, device=device)
    pairs = torch.stack((values[byte & 0x0F], values[byte >> 4]), dim=-1)  # (256, 2)
    return pairs.view(torch.int32).reshape(256) if dtype.itemsize == 2 else pairs


@functools.lru_cache(maxsize=16)
def _scale_table(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(256,) table: ``2**(byte - 127)`` for each scale byte, computed in float32."""
    exponents = torch.arange(256, dtype=torch.int32, device=device) - SCALE_BIAS
    return torch.ldexp(torch.ones(256, device=device), exponents).to(dtype)


def dequantize(blocks: torch.Tensor, scales: torch.Tensor, dtype: torch.dtype = torch.bfloat16) -> torch.Tensor:
    """Decode MXFP4 ``blocks (..., G, 16)`` and ``scales (..., G)`` into ``(..., G * 32)`` values.

    Bit-identical to OpenAI's ``Checkpoint._get_mxfp4_tensor``: each byte gives two
    values (low nibble first), each block is multiplied by ``2**(scale - 127)``.
    """
    if blocks.dtype != torch.uint8 or scales.dtype != torch.uint8:
        raise TypeError(f"MXFP4 blocks and scales must be uint8, got {blocks.dtype} and {scales.dtype}")
    if blocks.shape[-1] != BYTES_PER_BLOCK or blocks.shape[:-1] != scales.shape:
        raise ValueError(
            f"MXFP4 blocks {tuple(blocks.shape)} must be scales {tuple(scales.shape)} + ({BYTES_PER_BLOCK},)"
        )
    work = _decode_dtype(dtype)
    pairs = torch.index_select(_pair_table(work, blocks.device), 0, blocks.reshape(-1).int())
    values = pairs.view(work).reshape(*scales.shape, BLOCK_SIZE)  # (..., G, 32): even element from the low nibble
    scale = torch.index_select(_scale_table(work, blocks.device), 0, scales.reshape(-1).int())
    values.mul_(scale.reshape(*scales.shape, 1))  # exact: times a power of two
    return values.flatten(-2).to(dtype)  # (..., G * 32)


def shared_exponent(amax: torch.Tensor) -> torch.Tensor:
    """The OCP MX scale choice: ``floor(log2(amax)) - 2``, clamped to E8M0's range.

    It puts the block's largest magnitude into ``[4, 8)`` on the E2M1 grid (whose largest
    exponent is 2), so the biggest value lands on 4 or 6, or saturates to 6 when it is in
    ``(6, 8)``. An all-zero block gets the smallest scale (byte 0).
    """
    exponent = torch.floor(torch.log2(amax.float())) - E2M1_EMAX
    return exponent.clamp(-SCALE_BIAS, SCALE_BIAS).to(torch.int32)  # byte 255 is NaN in E8M0


def round_to_e2m1(magnitude: torch.Tensor) -> torch.Tensor:
    """Codes 0..7 of the nearest E2M1 magnitude; ties go to the even code; above 6 saturates."""
    midpoints = torch.tensor(_MIDPOINTS, dtype=magnitude.dtype, device=magnitude.device)
    below = torch.bucketize(magnitude, midpoints, right=False)  # a tie rounds down here
    above = torch.bucketize(magnitude, midpoints, right=True)  # and up here
    return torch.where(below % 2 == 0, below, above).to(torch.uint8)


def quantize(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode ``x (..., K)`` (K a multiple of 32) as MXFP4 ``(blocks (..., K/32, 16), scales (..., K/32))``.

    Scale per block from ``shared_exponent``; each value divided by it and rounded to the
    nearest E2M1 value; the sign (also of -0.0) kept in the code's top bit. For blocks
    produced by ``dequantize`` whose largest code is 4 or 6 in magnitude (the canonical
    encoding), ``quantize(dequantize(b, s)) == (b, s)`` byte for byte.
    """
    if x.shape[-1] % BLOCK_SIZE:
        raise ValueError(f"last dimension {x.shape[-1]} of the tensor to quantize is not a multiple of {BLOCK_SIZE}")
    grouped = x.float().unflatten(-1, (-1, BLOCK_SIZE))  # (..., G, 32)
    exponent = shared_exponent(grouped.abs().amax(dim=-1))  # (..., G)
    scaled = torch.ldexp(grouped, -exponent.unsqueeze(-1))  # exact: a power-of-two division
    codes = round_to_e2m1(scaled.abs()) | (torch.signbit(scaled).to(torch.uint8) * _SIGN_BIT)
    blocks = codes[..., 0::2] | (codes[..., 1::2] << 4)  # (..., G, 16): low nibble = even element
    return blocks, (exponent + SCALE_BIAS).to(torch.uint8)


def dequantize_state_dict(state_dict: dict[str, torch.Tensor], dtype: torch.dtype = torch.bfloat16
                          ) -> dict[str, torch.Tensor]:
    """Replace each ``X.blocks``/``X.scales`` pair by one decoded tensor ``X``; keep other entries.

    Turns an original-layout checkpoint into the names and shapes of OpenAI's reference
    model and of ``Transformer(..., experts="dequantized")``.
    """
    out = {}
    for name, tensor in state_dict.items():
        if name.endswith(".scales"):
            continue
        if name.endswith(".blocks"):
            base = name[: -len(".blocks")]
            if base + ".scales" not in state_dict:
                raise KeyError(f"{name} has no matching {base}.scales in the state dict")
            out[base] = dequantize(tensor, state_dict[base + ".scales"], dtype=dtype)
        else:
            out[name] = tensor
    return out
