"""How many kernels one forward pass launches, per layer: ``count_launches(model, ids, cache)``.

At batch 1 a decode step is a chain of tiny kernels; each costs a few microseconds of launch
and ramp-up, so the *number* of launches per layer is a cost of its own, which fusing cuts.

Two ways of counting, chosen by the model's device:

- ``cuda``: ``torch.profiler`` records the step; a launch is a CUDA runtime launch call
  (``cudaLaunchKernel``, ``cuLaunchKernel`` ...; Triton kernels included) made while a layer's
  attention or MoE block ran. Memory copies are not kernels and are not counted.
- any other device, a proxy: every aten operator that reaches a kernel (a
  ``TorchDispatchMode`` sees each one), except views and metadata operators, which launch
  nothing on a GPU (``view``, ``split``, ``empty`` ...), plus every Triton kernel launch
  (under the interpreter too). Each such operator is one kernel on CUDA except a few composite
  ones, so the proxy is close to what the profiler would see.

The aten operators a Triton kernel launch runs internally (the interpreter copies its
arguments) are not counted: a launch counts once.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch.utils._python_dispatch import TorchDispatchMode

# aten operators that allocate or read metadata: no kernel on any device
NO_KERNEL = frozenset({
    "empty", "empty_strided", "empty_like", "new_empty", "new_empty_strided", "_unsafe_view", "_reshape_alias",
    "lift_fresh", "_local_scalar_dense", "resize_", "set_", "is_same_size", "sym_size", "sym_stride", "sym_numel",
    "sym_storage_offset",
})
PARTS = ("attention", "moe")


@dataclass
class LaunchCount:
    """Kernels launched by one forward pass: per layer and block, outside the layers, and of those, Triton's."""

    attention: list[int]  # per layer, by the attention block (pre-norm to residual add)
    moe: list[int]  # per layer, by the MoE block
    outside: int = 0  # embedding, final norm, unembedding, cache bookkeeping
    triton: int = 0  # Triton kernel launches among all of them
    method: str = "aten proxy"
    ops: dict[str, int] = field(default_factory=dict)  # launches by operator or kernel name (proxy only)

    @property
    def per_layer(self) -> list[int]:
        return [a + m for a, m in zip(self.attention, self.moe)]

    @property
    def total(self) -> int:
        return sum(self.per_layer) + self.outside

    def mean_per_layer(self) -> float:
        return sum(self.per_layer) / max(1, len(self.per_layer))


def launches_kernel(op: torch._ops.OpOverload) -> bool:
    """Whether an aten operator launches a kernel (views and allocation/metadata operators do not)."""
    return not op.is_view and op.overloadpacket.__name__ not in NO_KERNEL


class _Tally:
    """The running count: which block is running now, and the counts so far."""

    def __init__(self, num_layers: int):
        self.count = LaunchCount([0] * num_layers, [0] * num_layers)
        self.where: tuple[str, int] | None = None
        self.inside_triton = False

    def add(self, name: str, triton: bool = False) -> None:
        if self.where is None:
            self.count.outside += 1
        else:
            part, layer = self.where
            getattr(self.count, part)[layer] += 1
        self.count.triton += triton
        self.count.ops[name] = self.count.ops.get(name, 0) + 1


class _AtenCounter(TorchDispatchMode):
    """Counts each aten operator that launches a kernel, except inside a Triton launch."""

    def __init__(self, tally: _Tally):
        super().__init__()
        self.tally = tally

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not self.tally.inside_triton and launches_kernel(func):
            self.tally.add(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


@contextmanager
def _counting_triton_launches(tally: _Tally) -> Iterator[None]:
    """Count every ``kernel[grid](...)`` launch, compiled or interpreted, while inside the ``with``."""
    try:
        from triton.runtime.interpreter import InterpretedFunction
        from triton.runtime.jit import JITFunction
    except ImportError:  # no Triton: no Triton launches to count
        yield
        return
    originals = {cls: cls.run for cls in (JITFunction, InterpretedFunction)}

    def counted(run: Callable) -> Callable:
        def run_and_count(kernel, *args, warmup=False, **kwargs):
            if warmup or tally.inside_triton:
                return run(kernel, *args, warmup=warmup, **kwargs)
            tally.add(getattr(kernel, "__name__", "triton kernel"), triton=True)
            tally.inside_triton = True
            try:
                return run(kernel, *args, warmup=warmup, **kwargs)
            finally:
                tally.inside_triton = False
        return run_and_count

    for cls, run in originals.items():
        cls.run = counted(run)
    try:
        yield
    finally:
        for cls, run in originals.items():
            cls.run = run


@contextmanager
def _marking_blocks(model, enter: Callable[[str, int], None], leave: Callable[[], None]) -> Iterator[None]:
    """Call ``enter(part, layer)`` before and ``leave()`` after each layer's attention and MoE block."""
    handles = []
    for layer, block in enumerate(model.block):
        for part, module in zip(PARTS, (block.attn, block.mlp)):
            handles.append(module.register_forward_pre_hook(lambda *_, p=part, i=layer: enter(p, i)))
            handles.append(module.register_forward_hook(lambda *_: leave()))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def proxy_launches(run: Callable[[], object]) -> LaunchCount:
    """The CPU proxy's count for any function of no arguments: no layers, every launch is ``outside``.

    ``proxy_launches(lambda: x + y + z).outside == 2``; views such as ``x.view(-1)`` count 0.
    """
    tally = _Tally(0)
    with _counting_triton_launches(tally), _AtenCounter(tally):
        run()
    return tally.count


def _count_proxy(model, run: Callable[[], object]) -> LaunchCount:
    tally = _Tally(len(model.block))

    def leave() -> None:
        tally.where = None

    with _marking_blocks(model, lambda part, layer: setattr(tally, "where", (part, layer)), leave), \
            _counting_triton_launches(tally), _AtenCounter(tally):
        run()
    return tally.count


RANGE = "gptoss_edu.launches:"  # profiler ranges named RANGE + "attention:3"


def _is_cuda_launch(event) -> bool:
    """A CUDA runtime call that launches a kernel (``cudaLaunchKernel``, ``cuLaunchKernelEx`` ...)."""
    return "LaunchKernel" in event.name and event.device_type == torch.autograd.DeviceType.CPU


def _profiled_count(model, run: Callable[[], object], activities: list, is_launch: Callable[[object], bool],
                    method: str) -> LaunchCount:
    """Profile ``run`` with each block inside a named range; count the events ``is_launch`` picks, by range."""
    from torch.autograd.profiler import record_function
    from torch.profiler import profile

    open_ranges: list = []

    def enter(part: str, layer: int) -> None:
        open_ranges.append(record_function(f"{RANGE}{part}:{layer}"))
        open_ranges[-1].__enter__()

    triton_launches = _Tally(len(model.block))
    with profile(activities=activities) as profiler:
        with _marking_blocks(model, enter, lambda: open_ranges.pop().__exit__(None, None, None)), \
                _counting_triton_launches(triton_launches):
            run()
        if model.device.type == "cuda":
            torch.cuda.synchronize()
    events = profiler.events()
    ranges = [(e.name[len(RANGE):].split(":"), e.time_range) for e in events if e.name.startswith(RANGE)]
    count = LaunchCount([0] * len(model.block), [0] * len(model.block), method=method)
    for event in filter(is_launch, events):
        start = event.time_range.start  # the launch call, on the CPU's clock like the ranges
        inside = [(part, int(layer)) for (part, layer), span in ranges if span.start <= start <= span.end]
        if inside:
            part, layer = inside[0]
            getattr(count, part)[layer] += 1
        else:
            count.outside += 1
    count.triton = triton_launches.count.triton
    return count


def count_launches(model, ids: torch.Tensor, cache=None) -> LaunchCount:
    """Kernels that ``model(ids, cache=cache)`` launches, per layer (see the module docstring for how).

    The forward pass really runs, so a ``cache`` advances by ``ids``'s tokens, as in ``generate``.
    It runs under ``torch.no_grad`` rather than ``inference_mode``: there the dispatcher shows
    composite operators (``linear``, ``einsum``) whole, not the kernels they run (``addmm``, ``bmm``).
    """
    def run():
        with torch.no_grad():
            return model(ids, cache=cache)

    if model.device.type == "cuda":
        from torch.profiler import ProfilerActivity

        return _profiled_count(model, run, [ProfilerActivity.CPU, ProfilerActivity.CUDA], _is_cuda_launch,
                               "torch.profiler CUDA launches")
    return _count_proxy(model, run)
