"""Record which experts the router picks, per layer and token.

    with capture_routing(model) as routing:
        model(ids)                     # or: list(generate(model, ids, 20))
    routing.experts                    # (layers, tokens, 4) chosen expert ids
    routing.weights                    # (layers, tokens, 4) their softmax weights
    routing.router_logits              # (layers, tokens, num_experts) all router logits

Tokens are counted across calls in order: a prefill of ``T`` tokens then ``n`` decode steps
gives ``T + n`` tokens; with a ``(B, T)`` batch the rows come one after the other (row-major).
Off (outside the ``with``), the model pays one ``is None`` check per layer. Inside, each
call appends detached tensors; they are concatenated when a property is read.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from gptoss_edu.model.moe import RoutingObserver


class RoutingRecord:
    """Router logits, chosen experts and their weights for every layer and every token seen."""

    def __init__(self, num_layers: int):
        self._logits: list[list[torch.Tensor]] = [[] for _ in range(num_layers)]
        self._experts: list[list[torch.Tensor]] = [[] for _ in range(num_layers)]
        self._weights: list[list[torch.Tensor]] = [[] for _ in range(num_layers)]

    def observe(self, layer: int, router_logits: torch.Tensor, experts: torch.Tensor, weights: torch.Tensor) -> None:
        """Store one layer's routing of ``N`` tokens: ``(N, E)`` logits, ``(N, k)`` experts and weights."""
        self._logits[layer].append(router_logits.detach())
        self._experts[layer].append(experts.detach())
        self._weights[layer].append(weights.detach())

    @staticmethod
    def _stack(per_layer: list[list[torch.Tensor]]) -> torch.Tensor:
        if not per_layer or not per_layer[0]:
            raise ValueError("no routing recorded yet: run the model inside `with capture_routing(model)`")
        return torch.stack([torch.cat(chunks) for chunks in per_layer])  # (layers, tokens, ...)

    @property
    def num_layers(self) -> int:
        return len(self._experts)

    @property
    def num_tokens(self) -> int:
        return sum(chunk.shape[0] for chunk in self._experts[0]) if self._experts else 0

    @property
    def router_logits(self) -> torch.Tensor:
        """``(layers, tokens, num_experts)`` router logits, before top-k."""
        return self._stack(self._logits)

    @property
    def experts(self) -> torch.Tensor:
        """``(layers, tokens, k)`` chosen expert ids, highest logit first."""
        return self._stack(self._experts)

    @property
    def weights(self) -> torch.Tensor:
        """``(layers, tokens, k)`` routing weights (softmax over the chosen logits; each row sums to 1)."""
        return self._stack(self._weights)

    def expert_counts(self) -> torch.Tensor:
        """``(layers, num_experts)``: how many tokens chose each expert."""
        experts = self.experts
        num_experts = self._logits[0][0].shape[-1]  # safe: self.experts raised if nothing was recorded
        counts = torch.zeros(experts.shape[0], num_experts, dtype=torch.long, device=experts.device)
        return counts.scatter_add_(1, experts.flatten(1), torch.ones_like(experts.flatten(1)))


@contextmanager
def observe_routing(model, observer: RoutingObserver) -> Iterator[None]:
    """Call ``observer(layer, router_logits, expert_indices, expert_weights)`` from every MoE layer inside the ``with``.

    The one routing hook of the library: ``capture_routing`` records with it, training
    collects its balance loss's inputs with it. One observer at a time; it is removed on exit.
    """
    mlps = [block.mlp for block in model.block]
    if any(mlp.routing_observer is not None for mlp in mlps):
        raise RuntimeError("a routing observer is already active on this model (is capture_routing active?); "
                           "nested routing observers are not supported")
    for mlp in mlps:
        mlp.routing_observer = observer
    try:
        yield
    finally:
        for mlp in mlps:
            mlp.routing_observer = None


@contextmanager
def capture_routing(model) -> Iterator[RoutingRecord]:
    """Record the routing of every forward pass of ``model`` (a ``Transformer``) inside the ``with``."""
    record = RoutingRecord(len(model.block))
    with observe_routing(model, record.observe):
        yield record
