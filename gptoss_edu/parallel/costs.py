"""What splitting costs and saves, computed from the config: weight bytes per rank, traffic per token.

``weight_bytes_per_rank``: the checkpoint's bytes (bf16, MXFP4 experts) that one rank holds
under a ``ShardPlan``: split tensors divided by the world size, replicated ones whole.

``decode_traffic``: the bytes handed to collectives for one decoded token (batch 1), summed
over ranks, as ``Communicator`` counts them (its *payload*; see ``comm``):

- both modes: the embedding's all-reduce (``H`` values), one all-reduce per attention, the
  unembedding's all-gather (each rank's ``ceil(V/w)`` logits) and the 8-byte token broadcast;
- tensor mode: one more all-reduce per MoE layer;
- expert mode, per MoE layer: the counts exchange (``w-1`` int64 per rank), the ``k`` rows
  and expert ids that leave their rank, expecting ``(w-1)/w`` of them with balanced routing,
  the same rows coming back, and the all-gather of the tokens (one row per rank).

Every rank hands the whole tensor to an all-reduce, so its payload counts ``w`` times;
a ring all-reduce actually moves ``2(w-1)/w`` of one tensor over each rank's link.

``rank_loads``: how many (token, expert) pairs each rank computes in expert mode; the
busiest rank sets the pace of every MoE layer.
"""
from __future__ import annotations

import math

import torch

from gptoss_edu.config import ModelConfig
from gptoss_edu.io.layouts import MXFP4, checkpoint_spec
from gptoss_edu.parallel.sharding import ShardPlan

INDEX_BYTES = 8  # int64 token ids, expert ids and counts


def weight_bytes_per_rank(config: ModelConfig, world_size: int, mode: str = "tensor") -> int:
    """Checkpoint bytes (bf16 + MXFP4) rank 0 holds when ``config`` is split ``world_size`` ways in ``mode``."""
    plan = ShardPlan(config, mode, 0, world_size)
    total = 0.0
    for name, spec in checkpoint_spec(config, MXFP4).items():
        total += spec.nbytes / world_size if plan.is_split(name) else spec.nbytes
    return round(total)


def decode_traffic(config: ModelConfig, mode: str, world_size: int, value_bytes: int = 2) -> dict[str, float]:
    """Payload bytes per decoded token summed over ranks, by collective (``value_bytes`` per activation)."""
    if world_size == 1:
        return {"all_reduce": 0.0, "all_gather": 0.0, "all_to_all": 0.0, "broadcast": 0.0, "total": 0.0}
    c, w = config, world_size
    row = c.hidden_size * value_bytes
    layers = c.num_hidden_layers
    reductions = 1 + layers * (2 if mode == "tensor" else 1)  # embedding, attentions (and MoEs)
    out = {
        "all_reduce": reductions * row * w,
        "all_gather": w * math.ceil(c.vocab_size / w) * value_bytes,
        "all_to_all": 0.0,
        "broadcast": float(INDEX_BYTES),
    }
    if mode == "expert":
        leaving = c.experts_per_token * (w - 1) / w  # expected (token, expert) pairs sent away
        per_layer = w * (w - 1) * INDEX_BYTES + leaving * (2 * row + INDEX_BYTES)
        out["all_to_all"] = layers * per_layer
        out["all_gather"] += layers * w * row  # every rank contributes one (padded) token row
    out["total"] = sum(out.values())
    return out


def ring_link_bytes(config: ModelConfig, mode: str, world_size: int, value_bytes: int = 2) -> float:
    """Bytes per decoded token over the busiest rank's link, with ring all-reduce and all-gather.

    All-reduce: ``2(w-1)/w`` of the tensor per rank; all-gather: ``(w-1)`` chunks received;
    expert mode: rank 0 (which holds the decoded token) sends and receives its ``k`` pairs.
    """
    if world_size == 1:
        return 0.0
    c, w = config, world_size
    row = c.hidden_size * value_bytes
    t = decode_traffic(config, mode, world_size, value_bytes)
    link = t["all_reduce"] / w * 2 * (w - 1) / w
    link += (w - 1) * math.ceil(c.vocab_size / w) * value_bytes
    if mode == "expert":
        leaving = c.experts_per_token * (w - 1) / w
        link += c.num_hidden_layers * (2 * leaving * row + (w - 1) * row)
    return link


def rank_loads(expert_indices: torch.Tensor, num_experts: int, world_size: int) -> torch.Tensor:
    """``(world_size,)`` (token, expert) pairs each rank computes in expert mode, for routing ``(T, k)``.

    Rank ``r`` holds experts ``[r*E/w, (r+1)*E/w)``, so it computes every pair routed to one of them.
    """
    owner = torch.div(expert_indices.reshape(-1), num_experts // world_size, rounding_mode="floor")
    return torch.bincount(owner, minlength=world_size)
