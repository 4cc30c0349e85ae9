"""Choosing the fastest cores that run on the model's device: ``accelerate(model)``.

The readable model calls its hot spots through swappable attributes (``attention_core``,
``experts_core``, ``rope_store_core``; see ``gptoss_edu.model.transformer``). Loading a
checkpoint only loads; this separate step looks at the model's device, puts in the cores
that run there, and returns an ``Acceleration`` that lists each core chosen and, where a
faster one could not be used, why.

One chooser per device type (``CHOOSERS``):
- ``cuda``: the Triton kernels of ``gptoss_edu.kernels`` (flash attention with sinks, split-key
  decode, the MoE matmul reading MXFP4, the fused decode RoPE-and-cache write, the pre-norms
  fused into the qkv projection and into the router's matmul, top-k and softmax), after a smoke
  test that compiles and runs the smallest kernel;
- ``cpu``: the library's plain-torch cores (or, for study and tests, the Triton kernels under
  the interpreter when ``interpreter=True``);
- any other device: the plain-torch cores.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from gptoss_edu.fast.fast_experts import FastExpertsCore, use_fast_experts
from gptoss_edu.model.attention import attention_with_sinks, rope_and_store
from gptoss_edu.model.moe import grouped_experts, norm_and_route
from gptoss_edu.model.norm import norm_linear

TORCH_CORES = {"attention": attention_with_sinks, "experts": grouped_experts, "rope_store": rope_and_store,
               "norm_linear": norm_linear, "router": norm_and_route}


@dataclass(frozen=True)
class CoreChoice:
    """One core put into every layer: which (``attention``, ``experts``, ``rope_store``), what and why."""

    core: str
    implementation: str
    why: str


@dataclass
class Acceleration:
    """What ``accelerate`` chose for a model: a ``CoreChoice`` per core and the reasons for any fallback."""

    device: str
    choices: dict[str, CoreChoice] = field(default_factory=dict)  # by core: the last choice wins
    fallbacks: list[str] = field(default_factory=list)
    triton: bool = False  # whether the Triton kernels now run the model

    def __str__(self) -> str:
        lines = [f"cores on {self.device}:"]
        lines += [f"  {c.core:<12}{c.implementation}  ({c.why})" for c in self.choices.values()]
        lines += [f"  fallback: {reason}" for reason in self.fallbacks]
        return "\n".join(lines)


def _name(function: Callable) -> str:
    """``module.qualname`` of a core; a wrapper object around a core (a split model's communication) names both."""
    if hasattr(function, "__qualname__"):
        return f"{function.__module__}.{function.__qualname__}"
    own = f"{type(function).__module__}.{type(function).__qualname__}"
    inner = getattr(function, "core", None)
    return f"{own}({_name(inner)})" if inner is not None else own


# where each core lives in a layer; the model sets one on every layer with ``set_<core>_core``
CORE_ATTRIBUTES = {"attention": ("attn", "attention_core"), "experts": ("mlp", "experts_core"),
                   "rope_store": ("attn", "rope_store_core"), "norm_linear": ("attn", "norm_linear_core"),
                   "router": ("mlp", "router_core")}


def set_cores(model, report: Acceleration, why: str, **cores: Callable) -> None:
    """Put each ``core=function`` into every layer of ``model`` and record it in ``report``."""
    for core, function in cores.items():
        getattr(model, f"set_{core}_core")(function)
        record(model, report, core, why)


def record(model, report: Acceleration, core: str, why: str) -> None:
    """Record in ``report`` the ``core`` that is now in ``model`` (put there by ``set_cores`` or by a helper itself)."""
    part, attribute = CORE_ATTRIBUTES[core]
    report.choices[core] = CoreChoice(core, _name(getattr(getattr(model.block[0], part), attribute)), why)


def use_torch(model) -> Acceleration:
    """Put the library's plain-torch cores back into every layer."""
    report = Acceleration(model.device.type)
    set_cores(model, report, "the readable library code", **TORCH_CORES)
    return report


# ---- Triton --------------------------------------------------------------------------------------
def kernel_problem(device: torch.device | str, interpreter: bool = False) -> str | None:
    """Why the Triton kernels cannot run on ``device``, or ``None`` when they can.

    On a CPU they run only under the Triton interpreter, and only when asked (``interpreter``):
    it is exact but far too slow for real use.
    """
    device = torch.device(device)
    try:
        import triton  # noqa: F401
    except ImportError:
        return "Triton is not installed"
    if device.type == "cuda":
        return _smoke_test(device) if torch.cuda.is_available() else "CUDA is not available"
    if not interpreter:
        return f"the model is on {device.type}, and the Triton kernels need CUDA"
    if torch.cuda.is_available():
        return "Triton kernels run on the CPU only under the interpreter, on a machine without CUDA"
    from gptoss_edu.kernels import use_interpreter

    try:
        use_interpreter()
    except RuntimeError as problem:
        return str(problem)
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


def triton_rope_store_core(q, k, v, cos, sin, positions, cache, layer):
    """``rope_store_core``: the fused kernel for one token into a fixed-shape cache, else ``rope_and_store``.

    With ``fixed_shapes`` the cache returns whole buffers, so attending the layer's buffers
    after the kernel wrote into them is exactly what ``cache.write_at`` would return.
    """
    if cache is None or q.shape[1] != 1 or not cache.fixed_shapes:
        return rope_and_store(q, k, v, cos, sin, positions, cache, layer)
    from gptoss_edu.kernels.rope import rope_and_cache

    store = cache[layer]
    q = rope_and_cache(q, k, v, cos, sin, positions, store.keys, store.values, store.positions)
    return q, store.keys, store.values, store.positions


def _triton_attention_core() -> Callable[..., torch.Tensor]:
    from gptoss_edu.kernels.attention import attention

    return attention


def _triton_norm_cores() -> dict[str, Callable]:
    """The pre-norms fused into what follows them: ``qkv`` (``norm_linear``) and the router (``router``)."""
    from gptoss_edu.kernels.norm_linear import norm_and_route, norm_linear

    return {"norm_linear": norm_linear, "router": norm_and_route}


def use_triton(model, report: Acceleration, interpreter: bool = False) -> bool:
    """Put the Triton cores into ``model`` if they run on its device; otherwise record why not."""
    problem = kernel_problem(model.device, interpreter)
    if problem is not None:
        report.fallbacks.append(f"Triton kernels not used: {problem}")
        return False
    why = "Triton interpreter (exact, slow)" if model.device.type != "cuda" else "compiled Triton kernel"
    set_cores(model, report, why, attention=_triton_attention_core(), experts=triton_experts_core,
              rope_store=triton_rope_store_core, **_triton_norm_cores())
    if all(block.mlp.experts_core is triton_experts_core for block in model.block):
        fast_problem = use_fast_experts(model)
    else:  # a split model wraps every core in its communication; the fast core would bypass it
        fast_problem = "the model wraps its experts core"
    if fast_problem is None:
        record(model, report, "experts", f"{why}, experts in the fast MXFP4 layout prepared once per layer")
    elif getattr(model, "experts", None) == "packed":
        report.fallbacks.append(f"fast MXFP4 experts not used ({fast_problem}); the checkpoint-layout kernel runs")
    report.triton = True
    return True


def uses_kernels(model) -> bool:
    """Whether every layer of ``model`` runs the Triton cores (the fast or the checkpoint-layout experts)."""
    return all(block.mlp.experts_core is triton_experts_core or isinstance(block.mlp.experts_core, FastExpertsCore)
               for block in model.block)


# ---- one chooser per device type ----------------------------------------------------------------
def choose_cuda(model, report: Acceleration, interpreter: bool) -> None:
    """CUDA cores: the compiled Triton kernels, when the smoke test passes."""
    use_triton(model, report)


def choose_cpu(model, report: Acceleration, interpreter: bool) -> None:
    """CPU cores: the Triton kernels under the interpreter when asked, else the fused MXFP4 experts.

    The fused core (``gptoss_edu.fast.cpu_experts``) reads the packed experts directly and says
    in one line when it cannot run here (no C compiler), leaving the plain core in place.
    """
    from gptoss_edu.fast.cpu_experts import use_fused_cpu_experts

    if interpreter:
        use_triton(model, report, interpreter=True)
    elif use_fused_cpu_experts(model, report.fallbacks.append):
        record(model, report, "experts", "fused MXFP4 kernel on the CPU: packed experts read once, never decoded")


CHOOSERS: dict[str, Callable[[object, Acceleration, bool], None]] = {"cuda": choose_cuda, "cpu": choose_cpu}


def accelerate(model, interpreter: bool = False, notice: Callable[[str], None] | None = print) -> Acceleration:
    """Choose the fastest cores that run on ``model``'s device, put them in, and report what was chosen.

    Starts from the plain-torch cores, then lets the device's chooser (``CHOOSERS``) replace
    what it can. ``interpreter`` lets the CPU chooser use the Triton kernels under Triton's
    interpreter (switched on for this process with ``gptoss_edu.kernels.use_interpreter``).
    ``notice`` gets one line per fallback (``None``: silent); the returned ``Acceleration``
    lists every core.
    """
    report = use_torch(model)
    chooser = CHOOSERS.get(model.device.type)
    if chooser is not None:
        chooser(model, report, interpreter)
    if notice is not None:
        for reason in report.fallbacks:
            notice(f"gptoss_edu.fast: using the plain-torch path ({reason})")
    return report
