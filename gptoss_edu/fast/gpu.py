"""The GPU inference path: Triton kernels in the model, MXFP4 experts on the GPU, a memory budget.

``use_kernels(model)`` swaps the Triton cores (``gptoss_edu.kernels``) into every layer
through the attributes the model exposes for this (``attention_core``, ``experts_core``):
flash attention with sinks for prefill, split-key attention for decode, and the MoE matmul
that reads MXFP4 weights directly. Where they cannot run (no CUDA, Triton missing) the model
keeps its plain-torch cores and one line says so. ``load_model`` loads a checkpoint onto the
GPU this way; ``gptoss_edu.fast.gpu_decode`` adds the CUDA-graph decode step.

``memory_budget`` is the byte accounting of what the GPU must hold: the weights as stored
(experts in MXFP4), the KV cache, and the largest transient buffers of a prefill.
"""
from __future__ import annotations

import os
from collections.abc import Callable

import torch

from gptoss_edu.config import BF16_BYTES, ModelConfig, checkpoint_bytes, kv_cache_bytes
from gptoss_edu.model.attention import attention_with_sinks
from gptoss_edu.model.moe import grouped_experts

GB = 1e9


def kernel_problem(device: torch.device | str, allow_interpreter: bool = False) -> str | None:
    """Why the Triton kernels cannot run on ``device``, or ``None`` when they can.

    On a CPU they run only under the Triton interpreter, and only when asked
    (``allow_interpreter``): it is exact but far too slow for real use.
    """
    device = torch.device(device)
    try:
        import triton  # noqa: F401
    except ImportError:
        return "Triton is not installed"
    if device.type == "cuda":
        return _smoke_test(device) if torch.cuda.is_available() else "CUDA is not available"
    if not allow_interpreter:
        return f"the model is on {device.type}, and the Triton kernels need CUDA"
    if torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET", "1") != "1":
        return "Triton kernels run on the CPU only under the interpreter (TRITON_INTERPRET=1, no CUDA)"
    return None


def _smoke_test(device: torch.device) -> str | None:
    """Compile and run the smallest kernel once: an old GPU or a broken toolchain shows up here, not mid-generation."""
    try:
        from gptoss_edu.kernels.rmsnorm import rms_norm, rms_norm_reference

        x, scale = torch.randn(2, 64, device=device), torch.ones(64, device=device)
        if not torch.allclose(rms_norm(x, scale), rms_norm_reference(x, scale), atol=1e-4):
            return "the Triton RMSNorm kernel gave wrong results on this GPU"
    except Exception as problem:  # any compiler or driver failure means: use the torch path
        return f"the Triton kernels failed to run on {device} ({type(problem).__name__}: {problem})"
    return None


def triton_experts_core(x, expert_indices, expert_weights, mlp1, mlp1_bias, mlp2, mlp2_bias,
                        alpha: float = 1.702, limit: float = 7.0) -> torch.Tensor:
    """``experts_core`` for packed MXFP4 experts; dense (dequantized) experts keep the torch core."""
    if isinstance(mlp1, torch.Tensor):
        return grouped_experts(x, expert_indices, expert_weights, mlp1, mlp1_bias, mlp2, mlp2_bias, alpha, limit)
    from gptoss_edu.kernels.moe import moe_experts

    (mlp1_blocks, mlp1_scales), (mlp2_blocks, mlp2_scales) = mlp1, mlp2
    return moe_experts(x, expert_indices, expert_weights, mlp1_blocks, mlp1_scales, mlp1_bias,
                       mlp2_blocks, mlp2_scales, mlp2_bias, alpha, limit)


def _triton_attention_core() -> Callable[..., torch.Tensor]:
    from gptoss_edu.kernels.attention import attention

    return attention


def use_kernels(model, allow_interpreter: bool = False, notice: Callable[[str], None] = print) -> bool:
    """Put the Triton attention and expert cores into every layer of ``model``; True if done.

    Otherwise the model keeps (or gets back) the plain-torch cores and ``notice`` gets one line.
    """
    problem = kernel_problem(model.device, allow_interpreter)
    if problem is not None:
        use_torch(model)
        notice(f"gptoss_edu.fast.gpu: using the plain-torch path ({problem})")
        return False
    model.set_attention_core(_triton_attention_core())
    model.set_experts_core(triton_experts_core)
    return True


def use_torch(model) -> None:
    """Put the library's plain-torch cores back into every layer."""
    model.set_attention_core(attention_with_sinks)
    model.set_experts_core(grouped_experts)


def uses_kernels(model) -> bool:
    """Whether every layer of ``model`` runs the Triton cores."""
    return all(block.mlp.experts_core is triton_experts_core for block in model.block)


def load_model(path=None, device: str | torch.device = "cuda", dtype: torch.dtype = torch.bfloat16,
               kernels: bool = True, progress: bool = True):
    """Load a checkpoint for GPU inference: experts stay MXFP4, copied to ``device`` tensor by tensor.

    With ``kernels`` the Triton cores are swapped in (see ``use_kernels``); without CUDA the
    model loads on the CPU with the torch path and a one-line notice.
    """
    from gptoss_edu.io.checkpoint import load_model as load_checkpoint

    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        print("gptoss_edu.fast.gpu: CUDA is not available; loading on the CPU with the plain-torch path")
        device = "cpu"
    return load_checkpoint(path, device=device, dtype=dtype, experts="packed", progress=progress, kernels=kernels)


def random_model(config: ModelConfig, device: str | torch.device, dtype: torch.dtype = torch.bfloat16,
                 seed: int = 0):
    """A packed-experts model of any size with random weights made directly on ``device``.

    Same distributions as ``gptoss_edu.model.random_weights`` (MXFP4 code bytes uniform, scale
    bytes in its range, dense weights with its standard deviation), generated in place, so
    a full-size model never passes through host memory.
    """
    from gptoss_edu.model.random_weights import DENSE_STD, SCALE_BYTES
    from gptoss_edu.model.transformer import Transformer

    model = Transformer(config, device="meta", dtype=dtype, experts="packed")
    model.to_empty(device=device)
    generator = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith(".blocks"):
                t.random_(0, 256, generator=generator)
            elif name.endswith(".scales"):
                t.random_(SCALE_BYTES[0], SCALE_BYTES[1] + 1, generator=generator)
            elif name.endswith(".sinks"):
                t.normal_(0.0, 1.0, generator=generator)
            elif name.endswith("norm.scale"):
                t.normal_(1.0, 0.1, generator=generator)
            else:
                t.normal_(0.0, DENSE_STD, generator=generator)
    return model.eval()


def memory_budget(config: ModelConfig, context: int = 8192, batch: int = 1, prefill_tokens: int = 2048
                  ) -> dict[str, float]:
    """Bytes the GPU must hold to serve ``batch`` sequences of ``context`` tokens.

    ``weights``: the checkpoint as stored (MXFP4 experts, bf16 elsewhere) plus float32 norm
    scales; ``kv_cache``: bf16 keys and values (sliding layers keep only the window);
    ``prefill``: the largest transient buffers of a ``prefill_tokens`` prefill, led by the
    bf16 logits of every position and the float32 expert outputs.
    """
    norm_scales = (2 * config.num_hidden_layers + 1) * config.hidden_size
    weights = checkpoint_bytes(config) + norm_scales * (4 - BF16_BYTES)
    rows = batch * prefill_tokens
    prefill = (
        rows * config.vocab_size * BF16_BYTES  # logits of every prompt position
        + rows * config.experts_per_token * (config.hidden_size * 4 + config.intermediate_size * BF16_BYTES)
        + rows * config.qkv_dim * BF16_BYTES * 4  # qkv, rotated q/k, attention output
    )
    out = {"weights": weights, "kv_cache": float(kv_cache_bytes(config, context, batch)), "prefill": float(prefill)}
    out["total"] = sum(out.values())
    return out
