"""Checkers for notebooks 07 (routing explorer) and 07b (training gpt-oss-nano)."""
from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import torch

from gptoss_edu.exercises import Misconception, check_function, torch_generator
from gptoss_edu.training.pretrain import load_balancing_loss
from gptoss_edu.viz.routing_data import RoutedText, co_occurrence, expert_load


def _routing(experts: torch.Tensor, num_experts: int) -> RoutedText:
    # One layer of routing with only what expert_load / co_occurrence read.
    T, k = experts.shape
    return RoutedText(
        tokens=("",) * T, ids=(0,) * T, experts=experts.numpy()[None],
        weights=np.full((1, T, k), 1 / k), router_logits=np.zeros((1, T, num_experts)),
    )


def random_choices(rng: random.Random) -> tuple[torch.Tensor, int]:
    """``(experts (T, k), num_experts)``: k distinct random experts for each of T tokens."""
    num_experts, k = rng.choice([(8, 2), (16, 4), (32, 4), (128, 4)])
    T = rng.randint(1, 40)
    g = torch_generator(rng)
    experts = torch.stack([torch.randperm(num_experts, generator=g)[:k] for _ in range(T)])  # (T, k)
    return experts, num_experts


def library_expert_load(experts: torch.Tensor, num_experts: int) -> torch.Tensor:
    """The library's answer: ``gptoss_edu.viz.expert_load`` as a float64 tensor."""
    return torch.from_numpy(expert_load(_routing(experts, num_experts), 0))


def library_co_occurrence(experts: torch.Tensor, num_experts: int) -> torch.Tensor:
    """The library's answer: ``gptoss_edu.viz.co_occurrence`` as a float64 tensor."""
    return torch.from_numpy(co_occurrence(_routing(experts, num_experts), 0))


def check_expert_load(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> None:
    """``fn(experts (T, k), num_experts)`` -> ``(E,)`` float64 share of the T*k assignments per expert."""
    check_function(fn, library_expert_load, random_choices, inputs=("experts", "num_experts"),
                   forbidden=(expert_load,), misconceptions=(
                       Misconception(lambda e, n: library_expert_load(e, n) * e.numel(),
                                     "these are counts; the load is a share: divide by the number of assignments "
                                     "(tokens x experts per token) so it sums to 1."),
                       Misconception(lambda e, n: library_expert_load(e, n) * e.shape[1],
                                     "you divided by the number of tokens; each token makes k assignments, so "
                                     "divide by tokens x k (then the shares sum to 1)."),
                   ))


def check_co_occurrence(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> None:
    """``fn(experts (T, k), num_experts)`` -> ``(E, E)`` float64 count of tokens that chose both experts."""
    check_function(fn, library_co_occurrence, random_choices, inputs=("experts", "num_experts"),
                   forbidden=(co_occurrence,), misconceptions=(
                       Misconception(_without_diagonal, "the diagonal is empty: entry (e, e) counts the tokens that "
                                     "chose expert e (a token chose e together with itself)."),
                   ))


def _without_diagonal(experts: torch.Tensor, num_experts: int) -> torch.Tensor:
    counts = library_co_occurrence(experts, num_experts)
    return counts - torch.diag(torch.diagonal(counts))


def random_router_outputs(rng: random.Random) -> tuple[torch.Tensor, torch.Tensor]:
    """``(router_logits (N, E), expert_indices (N, k))`` with the indices the top-k of the logits."""
    num_experts, k = rng.choice([(8, 2), (16, 4), (32, 4)])
    g = torch_generator(rng)
    logits = torch.randn(rng.randint(1, 64), num_experts, generator=g) * rng.choice([0.1, 1.0, 5.0])
    return logits, torch.topk(logits, k, dim=-1).indices


def check_load_balancing_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """``fn(router_logits, expert_indices)`` -> the Switch balance loss, a 0-d float32 tensor."""
    check_function(fn, load_balancing_loss, random_router_outputs, atol=1e-5, inputs=("router_logits", "expert_indices"),
                   forbidden=(load_balancing_loss,), misconceptions=(
                       Misconception(lambda logits, idx: load_balancing_loss(logits, idx) / logits.shape[-1],
                                     "you are off by a factor of E (the number of experts): the loss is "
                                     "E * sum_e f_e * P_e, which makes a perfectly balanced router score 1."),
                   ))
