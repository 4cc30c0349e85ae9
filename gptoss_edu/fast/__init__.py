"""Fast paths that plug into the readable model at its seams, without changing what it computes.

- ``select``: ``accelerate(model)`` chooses the cores for the model's device (Triton kernels on
  CUDA, the fused MXFP4 experts on a CPU, the interpreter on request, a chooser per device
  type) and reports what it chose;
- ``cpu_experts`` and ``cpu_kernel``: the fused MXFP4 experts core for CPUs, a small C kernel
  built on first use with the system's compiler (plain torch where there is none);
- ``mxfp4_layout`` and ``fast_experts``: the GPU layout of the packed experts (8 codes per 32-bit
  word, decoded with shifts, masks and one bf16x2 multiply), prepared once per layer for the
  fast MoE kernel ``gptoss_edu.kernels.moe_fast``; ``moe_tuning``: that kernel's tiles, timed once
  per GPU and problem on the first call and remembered in a small file;
- ``gpu_decode``: static buffers for a decode step, captured once as a CUDA graph and replayed;
  the step is the model's own forward pass, its positions held by the ``KVCache`` on the device;
- ``gpu``: ``memory_budget``, what a GPU must hold for a model, a context and a prefill; the
  context-length table of ``docs/gpu_memory.md``; the free-memory check ``load_model`` makes on CUDA;
- ``core_calls``, ``agreement``, ``timing``: what an honest benchmark needs: proof that each
  swapped core ran in every layer, a per-token comparison of two paths that tells rounding
  from routing flips, and CUDA-event medians after warm-up (``benchmarks/gpu_inference.py``).

The kernels themselves live in ``gptoss_edu.kernels`` (the repository's ``kernels/`` folder);
their plain-torch references in ``gptoss_edu.model``. Importing this package imports no Triton.
"""
from __future__ import annotations

from gptoss_edu.fast.select import Acceleration, CoreChoice, accelerate

__all__ = ["Acceleration", "CoreChoice", "accelerate"]
