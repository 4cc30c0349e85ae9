"""Checkers for notebook 08 (full-size GPU inference): merging partial softmax results."""
from __future__ import annotations

import random
from collections.abc import Callable

import torch

from gptoss_edu.exercises import Misconception, check_function, torch_generator
from gptoss_edu.model.flash import merge_partials


def _partial(generator: torch.Generator, heads: int, head_dim: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A random partial result ``(m (heads,), l (heads,), acc (heads, D))`` with ``l > 0``."""
    reference_logit = 4 * torch.randn(heads, generator=generator, dtype=torch.float64)
    total = 0.1 + 5 * torch.rand(heads, generator=generator, dtype=torch.float64)
    acc = torch.randn(heads, head_dim, generator=generator, dtype=torch.float64)
    return reference_logit, total, acc


def random_partials(rng: random.Random) -> tuple[torch.Tensor, ...]:
    generator = torch_generator(rng)
    heads, head_dim = rng.randint(1, 6), rng.randint(1, 8)
    return (*_partial(generator, heads, head_dim), *_partial(generator, heads, head_dim))


def check_merge_partials(fn: Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> None:
    """Check ``fn(max_a, sum_a, acc_a, max_b, sum_b, acc_b) -> (max, sum, acc)`` against the kernels' reference."""
    check_function(fn, merge_partials, random_partials, trials=8, atol=1e-9, rtol=1e-9, name="merge_partials",
                   inputs=("max_a", "sum_a", "acc_a", "max_b", "sum_b", "acc_b"), outputs=("max", "sum", "acc"),
                   forbidden=(merge_partials,), misconceptions=(
                       Misconception(_add_without_rescaling, "you added the two sums as they are: each was computed "
                                     "against its own maximum, so first rescale each by exp(its max - the new max)."),
                   ))


def _add_without_rescaling(max_a, sum_a, acc_a, max_b, sum_b, acc_b):
    return torch.maximum(max_a, max_b), sum_a + sum_b, acc_a + acc_b
