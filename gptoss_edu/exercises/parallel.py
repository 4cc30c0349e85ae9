"""Checkers for notebook 10 (scaling out)."""
from __future__ import annotations

import random
from collections.abc import Callable

import torch

from gptoss_edu.exercises import Misconception, check_function
from gptoss_edu.parallel.costs import rank_loads


def random_routing(rng: random.Random) -> tuple[torch.Tensor, int, int]:
    """``(expert_indices (T, k), num_experts, world_size)``: k distinct experts per token, E divisible by w."""
    num_experts, k = rng.choice([(8, 2), (16, 4), (32, 4), (128, 4)])
    world_size = rng.choice([w for w in (1, 2, 4, 8) if num_experts % w == 0])
    g = torch.Generator().manual_seed(rng.randrange(2**31))
    experts = torch.stack([torch.randperm(num_experts, generator=g)[:k] for _ in range(rng.randint(1, 40))])
    return experts, num_experts, world_size


def check_rank_loads(fn: Callable[[torch.Tensor, int, int], torch.Tensor]) -> None:
    """``fn(expert_indices (T, k), num_experts, world_size)`` -> ``(world_size,)`` pairs per rank, int64."""
    check_function(fn, rank_loads, random_routing, inputs=("expert_indices", "num_experts", "world_size"),
                   forbidden=(rank_loads,), misconceptions=(
                       Misconception(_round_robin, "you dealt the experts out round-robin (expert % world_size); "
                                     "each rank holds a contiguous block: rank r has experts r*E/w .. (r+1)*E/w - 1."),
                       Misconception(_tokens_not_pairs, "you counted tokens, once each; a rank computes every "
                                     "(token, expert) pair routed to it, so a token can count on several ranks."),
                   ))


def _round_robin(expert_indices: torch.Tensor, num_experts: int, world_size: int) -> torch.Tensor:
    return torch.bincount(expert_indices.reshape(-1) % world_size, minlength=world_size)


def _tokens_not_pairs(expert_indices: torch.Tensor, num_experts: int, world_size: int) -> torch.Tensor:
    owners = torch.div(expert_indices, num_experts // world_size, rounding_mode="floor")  # (T, k)
    seen = torch.zeros(expert_indices.shape[0], world_size, dtype=torch.bool)
    seen.scatter_(1, owners, True)
    return seen.sum(0)
