"""Checker for notebook 04 (router): top-k of the router logits, then softmax over those k."""
from __future__ import annotations

import random
from collections.abc import Callable

import torch

from gptoss_edu.exercises import check_function, torch_generator
from gptoss_edu.model.moe import route


def random_router_logits(rng: random.Random) -> tuple[torch.Tensor, int]:
    """``(router_logits (N, E), k)`` with gpt-oss's expert counts and a few smaller ones."""
    num_experts, k = rng.choice([(8, 2), (8, 4), (32, 4), (128, 4)])
    g = torch_generator(rng)
    logits = torch.randn(rng.randint(1, 50), num_experts, generator=g) * rng.choice([0.1, 1.0, 8.0])
    return logits, k


def check_route(fn: Callable[[torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]) -> None:
    """``fn(router_logits, k)`` -> ``(weights, indices)``, both ``(N, k)``, highest logit first."""
    check_function(fn, route, random_router_logits)
