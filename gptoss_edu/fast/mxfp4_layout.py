"""The GPU layout of MXFP4 expert weights: 8 codes per 32-bit word, decoded with shifts and masks.

The checkpoint stores a weight ``(E, R, K)`` as ``blocks (E, R, K/32, 16) uint8`` (two E2M1
codes per byte, value order) and ``scales (E, R, K/32) uint8`` (E8M0). The fast MoE kernel
(``gptoss_edu.kernels.moe_fast``) reads a copy prepared once at load time (the checkpoint on
disk is unchanged):

- ``words (E, R, K/8) int32``: the 8 codes of values ``8j .. 8j+7`` of a row in word ``j``, with
  nibble ``n`` (bits ``4n .. 4n+3``) holding value ``8j + NIBBLE_VALUES[n]``. The order is the
  one the kernel's decode produces: it turns nibbles ``c`` and ``c + 4`` into the two bfloat16
  halves of one 32-bit register with one shift and two masks (``e2m1_bits``), and its joins
  put those 16 values (8 per word, 2 per register) into the dot's order;
- ``scales``: the checkpoint's scale bytes, unchanged (a tile of ``BLOCK_N`` rows reads
  ``BLOCK_K/32`` consecutive bytes per row);
- ``gate_linear_split``: mlp1's rows are interleaved in the checkpoint (row ``2u`` gate, ``2u+1``
  linear); prepared, the ``I`` gate rows come first and the ``I`` linear rows after them, so a
  tile of units reads two contiguous blocks of rows.

Why the bit trick works: an E2M1 code ``s e1 e0 m`` placed into a 16-bit float as sign bit 15,
exponent bits 8..7 = ``e1 e0`` and mantissa bit 6 = ``m`` is the bfloat16 (or, in the upper 16
bits, the float32) number ``value * 2**-126``, subnormal codes included (``0 01 0`` -> 0.5:
exponent 0, mantissa .1 is ``2**-127``). Multiplying by ``2**(scale - 1)`` gives
``value * 2**(scale - 127)``, exactly ``dequantize``. ``2**(scale - 1)`` is a normal float for
scale bytes 0..128 only, so ``prepare`` accepts those (weights up to 12 in magnitude; real
checkpoints use about 100..127) and refuses larger bytes, naming the tensor.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from gptoss_edu.model.mxfp4 import BYTES_PER_BLOCK, dequantize

WORD_VALUES = 8  # E2M1 codes per 32-bit word
NIBBLE_VALUES = (1, 5, 3, 7, 0, 4, 2, 6)  # nibble n of word j holds value 8j + NIBBLE_VALUES[n]
MAX_SCALE_BYTE = 128  # 2**(byte - 1) must be a normal float for the decode's single multiply
_SIGN_AND_EXPONENT = -2147450880  # 0x80008000 as int32: bit 15 of each 16-bit half
_EXPONENT_MANTISSA = 0x01C001C0  # bits 8..6 of each half


@dataclass(frozen=True)
class PreparedMXFP4:
    """One expert weight stack in the GPU layout: ``words (E, R, K/8) int32``, ``scales (E, R, K/32) uint8``."""

    words: torch.Tensor
    scales: torch.Tensor
    gate_linear_split: bool = False

    @property
    def columns(self) -> int:
        """K, the input width of the weight."""
        return self.words.shape[-1] * WORD_VALUES


def _check_scales(scales: torch.Tensor, name: str) -> None:
    largest = int(scales.max()) if scales.numel() else 0
    if largest > MAX_SCALE_BYTE:
        raise ValueError(f"{name} holds scale byte {largest}; the fast MXFP4 layout decodes bytes "
                         f"0..{MAX_SCALE_BYTE} exactly (weights up to 12 in magnitude)")


def _split_rows(t: torch.Tensor) -> torch.Tensor:
    """Interleaved rows (gate, linear, gate, ...) -> all gate rows, then all linear rows (dim 1)."""
    return torch.cat((t[:, 0::2], t[:, 1::2]), dim=1)


def _interleave_rows(t: torch.Tensor) -> torch.Tensor:
    """Inverse of ``_split_rows``."""
    half = t.shape[1] // 2
    return torch.stack((t[:, :half], t[:, half:]), dim=2).flatten(1, 2)  # (E, I, 2, ...) -> (E, 2I, ...)


def prepare(blocks: torch.Tensor, scales: torch.Tensor, gate_linear_split: bool = False,
            name: str = "weight") -> PreparedMXFP4:
    """The GPU layout of checkpoint ``blocks (E, R, G, 16)``/``scales (E, R, G)``, on their device.

    ``gate_linear_split`` for mlp1 (see the module docstring). Raises ``ValueError`` naming
    ``name`` for malformed tensors or scale bytes above ``MAX_SCALE_BYTE``.
    """
    if blocks.dtype != torch.uint8 or scales.dtype != torch.uint8:
        raise TypeError(f"{name}: MXFP4 blocks and scales must be uint8, got {blocks.dtype} and {scales.dtype}")
    if blocks.dim() != 4 or blocks.shape[-1] != BYTES_PER_BLOCK or blocks.shape[:-1] != scales.shape:
        raise ValueError(f"{name}: blocks {tuple(blocks.shape)} must be (E, R, G, 16) with scales (E, R, G), "
                         f"got scales {tuple(scales.shape)}")
    if gate_linear_split and blocks.shape[1] % 2:
        raise ValueError(f"{name}: {blocks.shape[1]} rows cannot be split into gate and linear halves")
    _check_scales(scales, name)
    if gate_linear_split:
        blocks, scales = _split_rows(blocks), _split_rows(scales)
    experts, rows = blocks.shape[:2]
    # 4 little-endian bytes = one int32 whose nibble n holds value n of its 8; move each to its new nibble
    checkpoint_words = blocks.contiguous().view(torch.int32).reshape(experts, rows, -1)  # (E, R, K/8)
    words = torch.zeros_like(checkpoint_words)
    for nibble, value in enumerate(NIBBLE_VALUES):
        words |= ((checkpoint_words >> (4 * value)) & 15) << (4 * nibble)
    return PreparedMXFP4(words, scales.contiguous(), gate_linear_split)


def unprepare(prepared: PreparedMXFP4) -> tuple[torch.Tensor, torch.Tensor]:
    """The exact inverse of ``prepare``: the checkpoint's ``(blocks, scales)``."""
    words = prepared.words
    checkpoint_words = torch.zeros_like(words)
    for nibble, value in enumerate(NIBBLE_VALUES):
        checkpoint_words |= ((words >> (4 * nibble)) & 15) << (4 * value)
    experts, rows = words.shape[:2]
    blocks = checkpoint_words.contiguous().view(torch.uint8).reshape(experts, rows, -1, BYTES_PER_BLOCK)
    scales = prepared.scales
    if prepared.gate_linear_split:
        blocks, scales = _interleave_rows(blocks), _interleave_rows(scales)
    return blocks.contiguous(), scales.contiguous()


def e2m1_bits(t: torch.Tensor) -> torch.Tensor:
    """The kernel's decode step on int32 words ``t``: the nibbles at bits 12..15 and 28..31 as the
    bit patterns of two bfloat16 numbers ``value * 2**-126`` (sign to bit 15, ``e1 e0 m`` to bits 8..6)."""
    return (t & _SIGN_AND_EXPONENT) | ((t >> 6) & _EXPONENT_MANTISSA)


def dequantize_prepared(prepared: PreparedMXFP4, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Decode the prepared layout with the kernel's arithmetic, in plain torch: ``(E, R, K)`` in the
    checkpoint's row order, equal to ``dequantize(*unprepare(prepared))``.

    Each word gives four registers (shifted so nibbles ``c`` and ``c + 4`` sit at bits 12..15
    and 28..31), each register two bfloat16 patterns, widened here to float32 (the upper 16
    bits) and multiplied by ``2**(scale - 1)``.
    """
    words = prepared.words
    values = torch.empty(*words.shape, WORD_VALUES, dtype=torch.float32, device=words.device)  # by value
    for c in range(4):
        bits = e2m1_bits(words << (12 - 4 * c))
        low = (bits << 16).view(torch.float32)  # nibble c
        high = (bits & -65536).view(torch.float32)  # nibble c + 4 (0xFFFF0000)
        values[..., NIBBLE_VALUES[c]] = low
        values[..., NIBBLE_VALUES[c + 4]] = high
    experts, rows = words.shape[:2]
    multiplier = ((prepared.scales.to(torch.int32) + 126) << 23).view(torch.float32)  # 2**(scale - 1)
    values = values.reshape(experts, rows, -1, 32) * multiplier[..., None]  # (E, R, G, 32)
    values = values.reshape(experts, rows, -1)
    if prepared.gate_linear_split:
        values = _interleave_rows(values)
    return values.to(dtype)


def dequantize_checkpoint_layout(prepared: PreparedMXFP4, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``dequantize`` of the checkpoint layout recovered by ``unprepare``: the reference for the fast decode."""
    return dequantize(*unprepare(prepared), dtype=dtype)
