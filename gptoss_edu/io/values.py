"""Checking a checkpoint's numbers: non-finite floats, and MXFP4 scale bytes that cannot decode.

An E8M0 scale byte ``b`` means ``2**(b - 127)``. The OCP Microscaling spec reserves 255 for
NaN. OpenAI's reference and transformers do not check: they compute ``ldexp(value, b - 127)``,
so 255 gives ``2**128`` (infinite in bfloat16 and float32), and 253 and 254 overflow those
types for the largest codes (6 * 2**126 > 3.4e38). So a byte above ``MAX_SCALE_BYTE`` (252)
can only put infinities or NaN into the model: ``load_model`` refuses it. ``verify`` applies
a stricter plausibility range on top (``weights_tools.verify.PLAUSIBLE_SCALE_BYTES``).

The finite test is one ``aminmax`` pass (NaN and infinities propagate into the minimum or
maximum), about a nanosecond a value on one CPU thread, without a temporary the size of the
tensor; the slower exact count runs only once something is found, to word the error.
"""
from __future__ import annotations

import torch

MAX_SCALE_BYTE = 252  # 6 * 2**(252 - 127) = 2.6e38 still fits bfloat16 and float32
# NaN and Inf are the values whose exponent bits are all ones; testing the bits on an integer
# view needs no floating-point temporaries.
_EXPONENT_BITS = {
    torch.bfloat16: (torch.int16, 0x7F80), torch.float16: (torch.int16, 0x7C00), torch.float32: (torch.int32, 0x7F800000),
}


def all_finite(values: torch.Tensor) -> bool:
    """True when a floating tensor holds no NaN and no infinity (one reduction pass)."""
    if values.numel() == 0:
        return True
    low, high = torch.aminmax(values)
    return bool(torch.isfinite(low) & torch.isfinite(high))


def count_nonfinite(values: torch.Tensor) -> int:
    """How many NaN or Inf values a floating tensor holds."""
    if all_finite(values):
        return 0
    if values.dtype not in _EXPONENT_BITS:
        return int((~torch.isfinite(values)).sum())
    view, mask = _EXPONENT_BITS[values.dtype]
    return int(((values.view(view) & mask) == mask).sum())


def count_invalid_scales(scales: torch.Tensor) -> int:
    """How many uint8 scale bytes are above ``MAX_SCALE_BYTE`` (NaN, or an overflow once decoded)."""
    if scales.numel() == 0 or int(scales.max()) <= MAX_SCALE_BYTE:
        return 0
    return int((scales > MAX_SCALE_BYTE).sum())


def value_problem(name: str, values: torch.Tensor) -> str | None:
    """What is wrong with the numbers of checkpoint tensor ``name``, or ``None`` when they can be loaded."""
    if values.dtype.is_floating_point:
        bad = count_nonfinite(values)
        return f"tensor {name!r} holds {bad} NaN/Inf value(s) of {values.numel()}" if bad else None
    if name.endswith("scales"):
        bad = count_invalid_scales(values)
        if bad:
            return (f"tensor {name!r} holds {bad} MXFP4 scale byte(s) above {MAX_SCALE_BYTE} "
                    f"(255 is E8M0's NaN; 253 and 254 decode to infinities)")
    return None
