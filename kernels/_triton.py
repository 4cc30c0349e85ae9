"""The one place that imports Triton for the kernel modules, in the mode the caller chose.

Triton reads ``TRITON_INTERPRET`` when a function is *decorated* with ``@triton.jit``, so the
mode is fixed when the first kernel module is imported: compiled unless the caller chose the
interpreter beforehand (``gptoss_edu.kernels.use_interpreter()`` or ``TRITON_INTERPRET=1`` at
start-up). This module only reads that choice; it sets nothing.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl
import triton.language.standard
from triton.runtime.jit import JITFunction

INTERPRETED: bool = bool(triton.knobs.runtime.interpret)

if INTERPRETED and isinstance(getattr(tl, "sum", None), JITFunction):
    raise RuntimeError("TRITON_INTERPRET was set after Triton was imported; call "
                       "gptoss_edu.kernels.use_interpreter() instead, before importing a kernel module")


def check_device(name: str, tensor: torch.Tensor) -> None:
    """Compiled kernels need CUDA tensors (the interpreter takes tensors anywhere)."""
    if not INTERPRETED and tensor.device.type != "cuda":
        raise ValueError(f"{name} is on {tensor.device}; compiled Triton kernels need CUDA tensors "
                         "(or choose the interpreter: gptoss_edu.kernels.use_interpreter())")


_TL_DTYPES = {torch.float32: tl.float32, torch.bfloat16: tl.bfloat16, torch.float16: tl.float16}


def dot_dtype_for(dtype: torch.dtype) -> tl.dtype:
    """The operand dtype of ``tl.dot`` for activations of ``dtype``.

    On the GPU bf16/fp16 tensor cores (float32 stays float32, multiplied exactly rather
    than in TF32). The interpreter stores bf16 as raw 16-bit integers and can only convert
    it, so there every operand is widened to float32 first: exact, since a bf16 product
    fits in float32, and accumulated in float32 either way.
    """
    if dtype not in _TL_DTYPES:
        raise TypeError(f"kernels take float32, bfloat16 or float16 activations, got {dtype}")
    return tl.float32 if INTERPRETED else _TL_DTYPES[dtype]


__all__ = ["INTERPRETED", "check_device", "dot_dtype_for", "tl", "triton"]
