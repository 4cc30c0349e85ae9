"""The one place that imports Triton, in the mode this machine can run.

Triton reads ``TRITON_INTERPRET`` when a function is *decorated* with ``@triton.jit``, so
this module sets it before any kernel module of ours defines its kernels: compiled kernels
where CUDA is present, the interpreter (numpy on the CPU, slow but exact) where it is not.

Triton's own library of ``@jit`` helpers (``tl.zeros``, ``tl.sum``, ``tl.sigmoid`` ...) is
decorated when Triton is first imported, and torch imports Triton early (``torch._dynamo``
probes it as soon as a model is built). When that happened before the variable was set,
``_interpret_triton_library`` re-wraps those helpers for the interpreter, so the kernels
work whichever came first. Kernels call them as ``tl.f(x)``, not as tensor methods
(``x.f()``), which keep the compiled-mode helper.
"""
from __future__ import annotations

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import triton  # noqa: E402
import triton.language as tl  # noqa: E402
import triton.language.standard  # noqa: E402
from triton.runtime.jit import JITFunction  # noqa: E402

INTERPRETED: bool = bool(triton.knobs.runtime.interpret)


def _interpret_triton_library() -> None:
    """Give ``tl`` interpreter versions of the helpers decorated while Triton was in compiled mode."""
    from triton.runtime.interpreter import InterpretedFunction

    for name, helper in list(vars(triton.language.standard).items()):
        if isinstance(helper, JITFunction):
            interpreted = InterpretedFunction(helper.fn)
            setattr(triton.language.standard, name, interpreted)
            if getattr(tl, name, None) is helper:
                setattr(tl, name, interpreted)


if INTERPRETED:
    _interpret_triton_library()


def check_device(name: str, tensor: torch.Tensor) -> None:
    """Compiled kernels need CUDA tensors (the interpreter takes tensors anywhere)."""
    if not INTERPRETED and tensor.device.type != "cuda":
        raise ValueError(f"{name} is on {tensor.device}; compiled Triton kernels need CUDA tensors")


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
