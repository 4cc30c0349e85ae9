"""Triton kernels for gpt-oss, installed as ``gptoss_edu.kernels``.

Each module holds a Triton kernel and names the plain-torch reference it is tested against.
The references live in Triton-free library modules (``gptoss_edu.model.flash`` for attention,
``gptoss_edu.model.rope`` for the fused RoPE-and-cache step, ``gptoss_edu.model.norm`` for
RMSNorm), except ``moe.moe_experts_reference``, which mirrors the kernel's own rounding.

- ``attention``: flash-attention prefill and split-key decode, with sinks and the window;
- ``moe``: the experts' two matmuls reading MXFP4 weights directly;
- ``moe_fast``: the same two matmuls on the GPU layout of ``gptoss_edu.fast.mxfp4_layout``;
- ``rope``: one decode token's RoPE and KV-cache write, fused;
- ``norm_linear``: RMSNorm fused into the projection after it (``qkv``; the router with its
  top-k and softmax), references ``gptoss_edu.model.norm.norm_linear`` / ``gptoss_edu.model.moe.norm_and_route``;
- ``rmsnorm``: the smallest kernel, used as a smoke test of the GPU toolchain;
- ``sass`` (no kernel): their machine code compiled for a Hopper GPU and counted, without one.

Compiled or interpreted is the caller's choice, made before the first kernel module is
imported: compiled kernels need CUDA; Triton's interpreter (numpy on the CPU, exact but far
too slow for real use) runs them anywhere, for tests and for studying them without a GPU.
Choose it with ``use_interpreter()`` or by starting Python with ``TRITON_INTERPRET=1``.
Importing this package does not import Triton, and importing a kernel module changes no
process-wide state.
"""
from __future__ import annotations

import os
import sys

KERNEL_MODULES = ("attention", "moe", "moe_fast", "norm_linear", "rmsnorm", "rope")


def interpreter_enabled() -> bool:
    """Whether Triton's interpreter is switched on for this process (``TRITON_INTERPRET``)."""
    return os.environ.get("TRITON_INTERPRET", "").strip().lower() in ("1", "true", "on", "yes")


def use_interpreter() -> None:
    """Run the kernels under Triton's interpreter in this process; call it before importing a kernel module.

    Sets ``TRITON_INTERPRET=1`` (Triton reads it when a kernel is defined). When Triton was
    already imported in compiled mode (``torch`` imports it early), Triton's own ``@jit``
    helpers (``tl.sum``, ``tl.sigmoid``, ...) are re-wrapped for the interpreter too; kernels
    call them as ``tl.f(x)``, not as tensor methods, which keep the compiled version.
    """
    compiled = [name for name in KERNEL_MODULES
                if f"{__name__}.{name}" in sys.modules and not interpreter_enabled()]
    if compiled:
        raise RuntimeError(f"kernel modules {compiled} were already imported compiled; call "
                           "gptoss_edu.kernels.use_interpreter() before importing any of them")
    os.environ["TRITON_INTERPRET"] = "1"
    if "triton" in sys.modules:
        _interpret_triton_library()


def _interpret_triton_library() -> None:
    """Give ``tl`` interpreter versions of the helpers decorated while Triton was in compiled mode."""
    import triton.language as tl
    import triton.language.standard as standard
    from triton.runtime.interpreter import InterpretedFunction
    from triton.runtime.jit import JITFunction

    for name, helper in list(vars(standard).items()):
        if isinstance(helper, JITFunction):
            interpreted = InterpretedFunction(helper.fn)
            setattr(standard, name, interpreted)
            if getattr(tl, name, None) is helper:
                setattr(tl, name, interpreted)
