"""The experts core that runs ``gptoss_edu.kernels.moe_fast`` on weights prepared once per layer.

``accelerate`` (``gptoss_edu.fast.select``) gives every layer its own ``FastExpertsCore``,
holding that layer's packed experts in the GPU layout of ``gptoss_edu.fast.mxfp4_layout``
prepared when it is built. The model keeps its checkpoint-layout tensors, so the plain cores
still work, and the copy costs as many bytes again as the packed experts: about 10 GB for the
20b, 60 GB for the 120b (``use_fast_experts`` checks that they fit before preparing).

The core is called with the model's ``(blocks, scales)`` pairs like any ``experts_core``; when
they are not the tensors it prepared (replaced, or changed in place since), it uses the
checkpoint-layout kernel ``gptoss_edu.kernels.moe`` instead of stale weights.
"""
from __future__ import annotations

import torch

from gptoss_edu.fast.mxfp4_layout import prepare
from gptoss_edu.model.moe import ExpertWeight, grouped_experts


def _version(tensor: torch.Tensor) -> int:
    """The in-place version counter of ``tensor``; -1 for an inference tensor (made under
    ``torch.inference_mode``, e.g. weights loaded there), which keeps no counter and refuses ``_version``."""
    return -1 if tensor.is_inference() else tensor._version


def _fingerprint(weight: tuple[torch.Tensor, torch.Tensor]) -> tuple[int, int, int, int]:
    """Identity and in-place version of a ``(blocks, scales)`` pair (host-side reads: safe in a CUDA graph capture)."""
    return id(weight[0]), _version(weight[0]), id(weight[1]), _version(weight[1])


class FastExpertsCore:
    """``experts_core`` of one layer, with the layer's experts prepared for ``moe_experts_fast``."""

    def __init__(self, mlp1: tuple[torch.Tensor, torch.Tensor], mlp2: tuple[torch.Tensor, torch.Tensor],
                 layer: int = 0):
        self.mlp1 = prepare(*mlp1, gate_linear_split=True, name=f"block.{layer}.mlp.mlp1_weight")
        self.mlp2 = prepare(*mlp2, name=f"block.{layer}.mlp.mlp2_weight")
        self.sources = (_fingerprint(mlp1), _fingerprint(mlp2))

    def __call__(self, x: torch.Tensor, expert_indices: torch.Tensor, expert_weights: torch.Tensor,
                 mlp1: ExpertWeight, mlp1_bias: torch.Tensor, mlp2: ExpertWeight, mlp2_bias: torch.Tensor,
                 alpha: float = 1.702, limit: float = 7.0) -> torch.Tensor:
        if isinstance(mlp1, torch.Tensor):
            return grouped_experts(x, expert_indices, expert_weights, mlp1, mlp1_bias, mlp2, mlp2_bias, alpha, limit)
        if (_fingerprint(mlp1), _fingerprint(mlp2)) != self.sources:
            from gptoss_edu.kernels.moe import moe_experts

            return moe_experts(x, expert_indices, expert_weights, *mlp1, mlp1_bias, *mlp2, mlp2_bias, alpha, limit)
        from gptoss_edu.kernels.moe_fast import moe_experts_fast

        return moe_experts_fast(x, expert_indices, expert_weights, self.mlp1, mlp1_bias, self.mlp2, mlp2_bias,
                                alpha, limit)


def prepared_bytes(model) -> int:
    """Bytes the fast layout adds for ``model``: a copy of every expert block, and of mlp1's scales (rows reordered)."""
    total = 0
    for block in model.block:
        (blocks1, scales1), (blocks2, _) = block.mlp.expert_weights()
        total += blocks1.numel() + scales1.numel() + blocks2.numel()
    return total


def use_fast_experts(model) -> str | None:
    """Give every layer of a packed ``model`` its ``FastExpertsCore``; ``None``, or why it could not.

    On CUDA it first checks that the copy fits in free memory, with three layers' worth to spare
    for the temporaries of preparing one (mlp1's rows split into a copy, two shifted words at a
    time); if the GPU still runs out, the model keeps its checkpoint-layout core and says why.
    """
    if getattr(model, "experts", None) != "packed":
        return "the experts are not packed MXFP4"
    if model.device.type == "cuda":
        need = prepared_bytes(model) * (1 + 3 / len(model.block))
        from gptoss_edu.fast.gpu import free_gpu_bytes

        free = free_gpu_bytes(model.device)
        if need > free:
            return f"the fast layout needs {need / 2**30:.1f} GiB more GPU memory, {free / 2**30:.1f} GiB are free"
    try:
        cores = [FastExpertsCore(block.mlp.expert_weights()[0], block.mlp.expert_weights()[1], layer)
                 for layer, block in enumerate(model.block)]
    except ValueError as problem:
        return str(problem)
    except torch.OutOfMemoryError:
        cores = None
    if cores is None:  # outside the handler, whose traceback holds the layers prepared so far
        torch.cuda.empty_cache()
        return "the GPU ran out of memory while preparing the fast layout"
    for block, core in zip(model.block, cores):
        block.mlp.experts_core = core
    return None
