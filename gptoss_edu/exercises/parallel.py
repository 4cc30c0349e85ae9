"""Checkers for notebook 10 (scaling out)."""
from __future__ import annotations

import random
from collections.abc import Callable

import torch

from gptoss_edu.exercises import check_function
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
    check_function(fn, rank_loads, random_routing)
