"""``ParallelTransformer``: one rank's share of gpt-oss, giving the full logits on every rank.

It *is* a ``gptoss_edu.model.transformer.Transformer``, built with the rank's shapes
(``ShardPlan.local_config``), in which the pieces of ``layers`` are swapped in: the
vocabulary-split embedding and unembedding, the all-reduced attention ``out`` projection and
the experts core of the mode (``set_experts_core`` wraps any core in it). ``model.config`` is the *whole* model's config (what callers
such as ``generate`` ask about); ``model.local_config`` has this rank's shapes, which is
also what its ``KVCache`` holds (this rank's key/value heads only).
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from gptoss_edu.model.kvcache import KVCache
from gptoss_edu.model.moe import PackedWeight, grouped_experts
from gptoss_edu.model.transformer import Transformer
from gptoss_edu.parallel.comm import Communicator
from gptoss_edu.parallel.layers import (
    AllReducedExperts,
    AllReducedLinear,
    ExpertDispatch,
    VocabParallelEmbedding,
    VocabParallelUnembedding,
)
from gptoss_edu.parallel.sharding import ShardPlan, vocab_ranges


class ParallelTransformer(Transformer):
    """gpt-oss split over ``comm``'s ranks as ``plan`` says; call it with the same ids on every rank."""

    def __init__(self, plan: ShardPlan, comm: Communicator, device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float32):
        if (plan.rank, plan.world_size) != (comm.rank, comm.world_size):
            raise ValueError(f"plan is for rank {plan.rank}/{plan.world_size}, the group says {comm.rank}/{comm.world_size}")
        super().__init__(plan.local_config(), device=device, dtype=dtype, experts="packed")
        self.plan, self.comm = plan, comm
        self.local_config, self.config = self.config, plan.config
        c = plan.config
        sizes = [b - a for a, b in vocab_ranges(c.vocab_size, plan.world_size)]
        self.embedding = VocabParallelEmbedding(*plan.vocab, c.hidden_size, comm, device=device, dtype=dtype)
        self.unembedding = VocabParallelUnembedding(sizes, c.hidden_size, comm, device=device, dtype=dtype)
        for block in self.block:
            block.attn.out = AllReducedLinear(block.attn.out.in_features, c.hidden_size, comm, device=device, dtype=dtype)
            if plan.mode == "expert":
                self._hold_own_experts(block.mlp, device, dtype)
        self.set_experts_core(grouped_experts)

    def _hold_own_experts(self, mlp: torch.nn.Module, device, dtype: torch.dtype) -> None:
        """Expert mode: keep the router over all experts, but weights for this rank's experts only."""
        c, (first, last) = self.config, self.plan.experts
        held = last - first
        mlp.mlp1_weight = PackedWeight(held, 2 * c.intermediate_size, c.hidden_size, device=device)
        mlp.mlp2_weight = PackedWeight(held, c.hidden_size, c.intermediate_size, device=device)
        mlp.mlp1_bias = torch.nn.Parameter(torch.empty(held, 2 * c.intermediate_size, device=device, dtype=dtype))
        mlp.mlp2_bias = torch.nn.Parameter(torch.empty(held, c.hidden_size, device=device, dtype=dtype))

    def set_experts_core(self, core: Callable[..., torch.Tensor]) -> None:
        """Run ``core`` (same signature as ``grouped_experts``) on this rank's experts, inside the mode's
        communication (the all-reduce, or the all-to-all dispatch and combine), in every layer.

        Overrides ``Transformer.set_experts_core`` so that swapping cores (``gptoss_edu.fast.accelerate``)
        keeps the split model correct.
        """
        first, last = self.plan.experts
        for block in self.block:
            if self.plan.mode == "tensor":
                block.mlp.experts_core = AllReducedExperts(self.comm, core)
            else:
                block.mlp.experts_core = ExpertDispatch(self.comm, first, last - first, core)

    def new_cache(self, batch_size: int = 1, capacity: int | None = None) -> KVCache:
        """An empty cache for this rank's key/value heads."""
        return KVCache(self.local_config, batch_size=batch_size, capacity=capacity, device=self.device, dtype=self.dtype)

    def shared_token(self, token: int) -> int:
        """Rank 0's choice of the next token, on every rank (``generate`` calls this after sampling)."""
        value = torch.tensor([token], dtype=torch.long, device=self.device)
        return int(self.comm.broadcast(value, src=0))

    def resident_bytes(self) -> int:
        """Bytes of every parameter and buffer this rank holds."""
        return sum(t.numel() * t.element_size() for t in self.state_dict().values())
