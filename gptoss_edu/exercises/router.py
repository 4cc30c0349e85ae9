"""Checker for notebook 04 (router): top-k of the router logits, then softmax over those k."""
from __future__ import annotations

import random
from collections.abc import Callable

import torch

from gptoss_edu.exercises import Misconception, check_function, torch_generator
from gptoss_edu.model.moe import route


def random_router_logits(rng: random.Random) -> tuple[torch.Tensor, int]:
    """``(router_logits (N, E), k)`` with gpt-oss's expert counts and a few smaller ones."""
    num_experts, k = rng.choice([(8, 2), (8, 4), (32, 4), (128, 4)])
    g = torch_generator(rng)
    logits = torch.randn(rng.randint(1, 50), num_experts, generator=g) * rng.choice([0.1, 1.0, 8.0])
    return logits, k


def check_route(fn: Callable[[torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]) -> None:
    """``fn(router_logits, k)`` -> ``(weights, indices)``, both ``(N, k)``, highest logit first."""
    check_function(fn, route, random_router_logits, inputs=("router_logits", "k"), outputs=("weights", "indices"),
                   forbidden=(route,), misconceptions=ROUTE_MISTAKES)


def _softmax_then_top_k(logits: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    weights, indices = torch.topk(logits.softmax(-1), k, dim=-1)
    return weights, indices


def _sum_hint(got: tuple[torch.Tensor, torch.Tensor], logits: torch.Tensor, k: int) -> str:
    total = float(got[0][0].sum())
    return (f"your weights for the first token sum to {total:.3g}, not 1: did you take the softmax over all "
            f"{logits.shape[-1]} experts before the top-{k}? gpt-oss takes the softmax over the {k} chosen logits only.")


def _lowest_k(logits: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    values, indices = torch.topk(logits, k, dim=-1, largest=False)
    return values.softmax(-1), indices


ROUTE_MISTAKES = (
    Misconception(_softmax_then_top_k, _sum_hint),
    Misconception(_lowest_k, "you picked the k LOWEST logits: torch.topk(..., largest=True) keeps the highest."),
)
