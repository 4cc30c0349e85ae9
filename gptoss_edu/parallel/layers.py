"""The pieces of a split model that talk to other ranks; everything else is the ordinary model.

A rank's model is the single-process ``Transformer`` built with the rank's smaller shapes
(its heads, its slice of the intermediate dimension, its vocabulary rows), in which exactly
these pieces are swapped in through the model's own seams:

- ``VocabParallelEmbedding``: looks up the ids in this rank's vocabulary rows, zeros for the
  others, all-reduce: every id is found on exactly one rank, so the sum is exact.
- ``AllReducedLinear``: the attention ``out`` projection over this rank's heads; the partial
  outputs are summed over ranks (one all-reduce per attention). The bias lives on rank 0.
- ``AllReducedExperts``: an ``experts_core`` that runs the ordinary core on this rank's slice
  of every expert and sums the partial outputs (one all-reduce per MoE layer). SwiGLU acts
  unit by unit on (gate, linear) pairs, so a slice of units needs nothing from other ranks.
- ``ExpertDispatch``: an ``experts_core`` for whole experts per rank. Each rank takes its
  share of the tokens, sends each (token, expert) pair to the rank holding the expert
  (``all_to_all_single``), runs its experts on what it received, sends the outputs back,
  weights and sums them, and all-gathers the tokens so every rank again holds them all.
- ``VocabParallelUnembedding``: logits for this rank's vocabulary rows, all-gathered.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from gptoss_edu.model.moe import grouped_experts
from gptoss_edu.parallel.comm import Communicator
from gptoss_edu.parallel.sharding import even_ranges


class VocabParallelEmbedding(torch.nn.Module):
    """Embedding of vocabulary rows ``[first, last)``: ``weight (last-first, H)``."""

    def __init__(self, first: int, last: int, hidden_size: int, comm: Communicator, device=None, dtype=None):
        super().__init__()
        self.first, self.last, self.comm = first, last, comm
        self.weight = torch.nn.Parameter(torch.empty(last - first, hidden_size, device=device, dtype=dtype))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mine = (ids >= self.first) & (ids < self.last)
        local_ids = torch.where(mine, ids - self.first, 0)
        x = F.embedding(local_ids, self.weight) * mine.unsqueeze(-1).to(self.weight.dtype)  # (..., H), zero elsewhere
        return self.comm.all_reduce(x)


class VocabParallelUnembedding(torch.nn.Module):
    """Logits of every token over the whole vocabulary from this rank's rows ``weight (V_r, H)``."""

    def __init__(self, vocab_sizes: list[int], hidden_size: int, comm: Communicator, device=None, dtype=None):
        super().__init__()
        self.vocab_sizes, self.comm = vocab_sizes, comm
        rows = vocab_sizes[comm.rank]
        self.weight = torch.nn.Parameter(torch.empty(rows, hidden_size, device=device, dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        local = F.linear(x, self.weight)  # (..., V_r)
        return self.comm.all_gather(local, self.vocab_sizes, dim=-1)  # (..., V)


class AllReducedLinear(torch.nn.Linear):
    """``Linear`` over this rank's input channels whose output is summed over ranks."""

    def __init__(self, in_features: int, out_features: int, comm: Communicator, device=None, dtype=None):
        super().__init__(in_features, out_features, bias=True, device=device, dtype=dtype)
        self.comm = comm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.comm.all_reduce(super().forward(x))


class AllReducedExperts:
    """``experts_core`` for tensor mode: ``core`` on this rank's slice of every expert, summed over ranks."""

    def __init__(self, comm: Communicator, core=grouped_experts):
        self.comm, self.core = comm, core

    def __call__(self, *args, **kwargs) -> torch.Tensor:
        return self.comm.all_reduce(self.core(*args, **kwargs))


class ExpertDispatch:
    """``experts_core`` for expert mode: this rank holds experts ``[first, first + per_rank)``.

    Same signature as ``grouped_experts``; ``x (N, H)`` and the routing ``(N, k)`` are the
    same on every rank (the router is replicated). Rank ``r`` handles tokens
    ``even_ranges(N, w)[r]`` (a decode step's single token goes to rank 0).
    """

    def __init__(self, comm: Communicator, first: int, per_rank: int, core=grouped_experts):
        self.comm, self.first, self.per_rank, self.core = comm, first, per_rank, core

    def __call__(self, x, expert_indices, expert_weights, mlp1, mlp1_bias, mlp2, mlp2_bias, alpha=1.702, limit=7.0):
        comm, (num_tokens, k) = self.comm, expert_indices.shape
        token_ranges = even_ranges(num_tokens, comm.world_size)
        t0, t1 = token_ranges[comm.rank]
        experts = expert_indices[t0:t1].reshape(-1)  # (n*k,) one entry per (token, slot) of my tokens
        owner = torch.div(experts, self.per_rank, rounding_mode="floor")
        order = torch.argsort(owner, stable=True)  # pairs grouped by destination rank
        send = torch.bincount(owner, minlength=comm.world_size)
        receive = comm.exchange_counts(send)
        send_counts, receive_counts = send.tolist(), receive.tolist()
        # dispatch: each pair's hidden state and expert id to the expert's rank
        rows = comm.all_to_all(x[t0:t1][order // k], send_counts, receive_counts)  # (M, H)
        their_experts = comm.all_to_all(experts[order], send_counts, receive_counts) - self.first  # (M,)
        ones = torch.ones(rows.shape[0], 1, dtype=expert_weights.dtype, device=x.device)
        outputs = self.core(rows, their_experts[:, None], ones, mlp1, mlp1_bias, mlp2, mlp2_bias, alpha, limit)
        # combine: outputs come back in the order the pairs were sent
        returned = comm.all_to_all(outputs, receive_counts, send_counts)  # (n*k, H)
        weights = expert_weights[t0:t1].reshape(-1)[order]
        mine = torch.zeros(t1 - t0, x.shape[-1], dtype=torch.float32, device=x.device)
        mine.index_add_(0, order // k, returned.float() * weights[:, None].float())
        return comm.all_gather(mine.to(x.dtype), [b - a for a, b in token_ranges], dim=0)  # (N, H)
