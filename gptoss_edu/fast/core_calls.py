"""Proof that a forward pass ran the cores a report claims: ``count_core_calls(model)``.

``accelerate(model)`` puts cores into every layer and says so; a benchmark must not take its
word for it. Inside ``with count_core_calls(model) as calls:`` every swapped core of every
layer (each core of ``select.CORE_ATTRIBUTES``: attention, experts, RoPE-and-store, the fused
norm-and-projection and the router) is wrapped by a counter,
and so are the plain-torch functions that the Triton cores hand work to when they cannot
run it themselves (dense experts; RoPE outside a fixed-shape decode step). On exit the very
objects that were there before are put back.

``calls.calls[core][layer]`` counts the calls of each layer's core, ``calls.handed_to_torch[core]``
the calls a core passed on to plain torch; ``calls.problems(...)`` lists, in words, every
layer whose core was never called, is a plain-torch core, or fell back inside.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from gptoss_edu.fast import select
from gptoss_edu.fast.select import CORE_ATTRIBUTES, TORCH_CORES

# The plain-torch functions a Triton core calls by name (in ``select``) when it cannot run the work itself.
HANDED_TO_TORCH = {"experts": "grouped_experts", "rope_store": "rope_and_store"}


class _Counter:
    """Calls ``function`` and counts the call in ``counts[key]``."""

    def __init__(self, function: Callable, counts: list[int] | dict[str, int], key: int | str):
        self.function, self.counts, self.key = function, counts, key

    def __call__(self, *args, **kwargs):
        self.counts[self.key] += 1
        return self.function(*args, **kwargs)


@dataclass
class CoreCalls:
    """Calls per core and layer seen inside ``count_core_calls``, and which function each layer held."""

    calls: dict[str, list[int]]
    implementations: dict[str, list[Callable]]
    handed_to_torch: dict[str, int] = field(default_factory=dict)

    def problems(self, cores: tuple[str, ...] = tuple(CORE_ATTRIBUTES), allow_torch: tuple[str, ...] = ()
                 ) -> list[str]:
        """Why the listed ``cores`` did not all run as swapped-in kernels: one line per problem (none: they did).

        A problem is a layer whose core was never called, a layer holding the plain-torch core,
        or a core that handed calls to plain torch; ``allow_torch`` names cores for which that
        hand-over is expected (the fused RoPE-and-store kernel serves decode steps only, so a
        prefill hands RoPE to torch by design).
        """
        found = []
        for core in cores:
            never = [layer for layer, count in enumerate(self.calls[core]) if count == 0]
            if never:
                found.append(f"{core}: never called in layers {never}")
            plain = [layer for layer, f in enumerate(self.implementations[core]) if f is TORCH_CORES[core]]
            if plain:
                found.append(f"{core}: the plain-torch core in layers {plain}")
            handed = self.handed_to_torch.get(core, 0)
            if handed and core not in allow_torch:
                found.append(f"{core}: {handed} calls handed to plain torch ({HANDED_TO_TORCH[core]})")
        return found


@contextmanager
def count_core_calls(model) -> Iterator[CoreCalls]:
    """Count, inside the ``with``, every call of each swapped core of every layer of ``model`` (a ``Transformer``).

    The wrappers change nothing in what is computed; they hide the cores' identity, so code
    that asks ``uses_kernels(model)`` (``DecodeGraph``) sees plain functions meanwhile: run
    the forward passes to be counted eagerly inside, and build graphs outside.
    """
    layers = len(model.block)
    report = CoreCalls(calls={core: [0] * layers for core in CORE_ATTRIBUTES},
                       implementations={core: [] for core in CORE_ATTRIBUTES},
                       handed_to_torch={core: 0 for core in HANDED_TO_TORCH})
    saved: list[tuple[object, str, Callable]] = []
    for core, (part, attribute) in CORE_ATTRIBUTES.items():
        for layer, block in enumerate(model.block):
            owner = getattr(block, part)
            function = getattr(owner, attribute)
            report.implementations[core].append(function)
            saved.append((owner, attribute, function))
            setattr(owner, attribute, _Counter(function, report.calls[core], layer))
    for core, name in HANDED_TO_TORCH.items():
        function = getattr(select, name)
        saved.append((select, name, function))
        setattr(select, name, _Counter(function, report.handed_to_torch, core))
    try:
        yield report
    finally:
        for owner, attribute, function in saved:
            setattr(owner, attribute, function)
