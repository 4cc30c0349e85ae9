"""Checker for notebook 11 (training to reason): group-normalised advantages of GRPO."""
from __future__ import annotations

import random
from collections.abc import Callable

import torch

from gptoss_edu.exercises import Misconception, check_function
from gptoss_edu.reasoning.grpo import group_advantages


def random_rewards(rng: random.Random) -> tuple[torch.Tensor]:
    """``(rewards (P, G),)``: a few prompts, groups of 4-8 samples, rewards from the task's values."""
    prompts, group = rng.randint(1, 4), rng.choice([4, 8])
    return (torch.tensor([[rng.choice([0.0, 0.1, 1.0, 1.1]) for _ in range(group)] for _ in range(prompts)]),)


def check_group_advantages(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """``fn(rewards (P, G))`` -> advantages ``(P, G)``: each row centred on its mean, divided by its std."""
    check_function(fn, group_advantages, random_rewards, trials=10, atol=1e-4, rtol=1e-4, inputs=("rewards",),
                   forbidden=(group_advantages,), misconceptions=(
                       Misconception(_whole_batch, "you normalised over the whole batch; GRPO compares each sample "
                                     "with the other samples of ITS group (the same prompt): mean and std per row."),
                       Misconception(_centred_only, "you centred the rewards but did not divide by the group's "
                                     "standard deviation."),
                       Misconception(_unbiased_std, "you divided by the unbiased (n-1) standard deviation; use the "
                                     "population one (unbiased=False), as the library does."),
                   ))


def _whole_batch(rewards: torch.Tensor) -> torch.Tensor:
    return (rewards - rewards.mean()) / (rewards.std(unbiased=False) + 1e-6)


def _centred_only(rewards: torch.Tensor) -> torch.Tensor:
    return rewards - rewards.mean(dim=1, keepdim=True)


def _unbiased_std(rewards: torch.Tensor) -> torch.Tensor:
    return (rewards - rewards.mean(dim=1, keepdim=True)) / (rewards.std(dim=1, keepdim=True) + 1e-6)
