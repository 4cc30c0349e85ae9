"""Checkers for notebook 12 (the capstone): the model's two cores, written by the learner.

``check_attention_core`` judges a replacement for ``attention_with_sinks`` (the model's
``attention_core``), ``check_experts_core`` one for ``grouped_experts`` (its ``experts_core``,
on dense expert weights). Both take the exact signatures of the hooks (see
``gptoss_edu.model.transformer``), so a function that passes can be plugged into the model.
"""
from __future__ import annotations

import math
import random
from collections.abc import Callable

import torch

from gptoss_edu.exercises import Misconception, check_function, torch_generator
from gptoss_edu.model.attention import attention_with_sinks
from gptoss_edu.model.moe import grouped_experts, route

ATTENTION_INPUTS = ("q", "k", "v", "sinks", "sm_scale", "q_positions", "k_positions", "sliding_window")
EXPERTS_INPUTS = ("x", "expert_indices", "expert_weights", "mlp1", "mlp1_bias", "mlp2", "mlp2_bias", "alpha", "limit")


def random_attention_inputs(rng: random.Random) -> tuple:
    """The arguments of an ``attention_core`` call: a prefill or a decode step over a partly filled cache.

    ``q (B, T, KV, G, D)``, ``k, v (B, S, KV, D)``, ``sinks (KV*G,)``, ``sm_scale = 1/sqrt(D)``,
    positions ``(T,)`` and ``(S,)`` (``-1`` marks an empty cache slot), a window of 0 (none) or a few keys.
    """
    g = torch_generator(rng)
    batch, num_kv, group, head_dim = rng.choice([1, 2]), rng.choice([1, 2]), rng.choice([1, 2, 4]), rng.choice([2, 4])
    past, num_queries, empty = rng.choice([0, 0, 3]), rng.randint(1, 4), rng.choice([0, 2])
    k_positions = torch.cat([torch.arange(past + num_queries), torch.full((empty,), -1)])
    q_positions = torch.arange(past, past + num_queries)
    num_keys = len(k_positions)
    q = torch.randn(batch, num_queries, num_kv, group, head_dim, generator=g) * 2
    k = torch.randn(batch, num_keys, num_kv, head_dim, generator=g) * 2
    v = torch.randn(batch, num_keys, num_kv, head_dim, generator=g)
    sinks = torch.randn(num_kv * group, generator=g) * 2
    return q, k, v, sinks, 1 / math.sqrt(head_dim), q_positions, k_positions, rng.choice([0, 2, 3])


def check_attention_core(fn: Callable[..., torch.Tensor]) -> None:
    """``fn(q, k, v, sinks, sm_scale, q_positions, k_positions, sliding_window)`` -> ``(B, T, KV*G*D)``, ``q``'s dtype."""
    check_function(fn, attention_with_sinks, random_attention_inputs, trials=8, atol=1e-5, rtol=1e-5,
                   name="my_attention_core", inputs=ATTENTION_INPUTS, forbidden=(attention_with_sinks,),
                   misconceptions=ATTENTION_MISTAKES)


def _without_sinks(q, k, v, sinks, sm_scale, q_positions, k_positions, sliding_window):
    no_sink = torch.full_like(sinks, float("-inf"))  # exp(-inf) = 0: the sink column adds nothing
    return attention_with_sinks(q, k, v, no_sink, sm_scale, q_positions, k_positions, sliding_window)


def _without_mask(q, k, v, sinks, sm_scale, q_positions, k_positions, sliding_window):
    last = torch.full_like(q_positions, int(k_positions.max()))  # every query placed after every key
    return attention_with_sinks(q, k, v, sinks, sm_scale, last, k_positions, 0)


def _without_window(q, k, v, sinks, sm_scale, q_positions, k_positions, sliding_window):
    return attention_with_sinks(q, k, v, sinks, sm_scale, q_positions, k_positions, 0)


def _without_scale(q, k, v, sinks, sm_scale, q_positions, k_positions, sliding_window):
    return attention_with_sinks(q, k, v, sinks, 1.0, q_positions, k_positions, sliding_window)


def _heads_cycle_over_kv(q, k, v, sinks, sm_scale, q_positions, k_positions, sliding_window):
    """Query head ``h`` reads key/value head ``h % KV`` (``k.repeat``) instead of ``h // G`` (``repeat_interleave``)."""
    batch, num_queries, num_kv, group, head_dim = q.shape
    q_cycled = q.flatten(2, 3).unflatten(2, (group, num_kv)).transpose(2, 3)  # (B, T, KV, G, D): head g*KV + kv
    sinks_cycled = sinks.reshape(group, num_kv).T.reshape(-1)
    out = attention_with_sinks(q_cycled, k, v, sinks_cycled, sm_scale, q_positions, k_positions, sliding_window)
    return out.unflatten(-1, (num_kv, group, head_dim)).transpose(2, 3).flatten(2)  # back to head order kv*G + g


ATTENTION_MISTAKES = (
    Misconception(_without_sinks, "your weights sum to 1 over the keys: the sink logit of each head must join the "
                  "softmax (append it as one more column, softmax, then drop that column)."),
    Misconception(_without_mask, "queries see keys at later positions: before the softmax, mask every key whose "
                  "position is above the query's (and the empty cache slots, at position -1)."),
    Misconception(_without_window, "the causal mask is right but the sliding window is missing: with "
                  "sliding_window > 0 a query at p sees only keys p - sliding_window + 1 .. p."),
    Misconception(_without_scale, "you forgot to multiply the scores by sm_scale (1/sqrt(head_dim))."),
    Misconception(_heads_cycle_over_kv, "query head kv*G + g must read key/value head kv: broadcast each "
                  "key/value head over its own G query heads (q is (B, T, KV, G, D)); head h % KV is wrong."),
)


def random_experts_inputs(rng: random.Random) -> tuple:
    """The arguments of an ``experts_core`` call on dense weights, with values past the clamps.

    ``x (N, H)``, ``expert_indices, expert_weights (N, k)`` from ``route``, ``mlp1 (E, 2I, H)``,
    ``mlp1_bias (E, 2I)``, ``mlp2 (E, H, I)``, ``mlp2_bias (E, H)``, ``alpha``, ``limit``.
    The token count never equals the expert count, so no input is mistaken for per-token rows.
    """
    g = torch_generator(rng)
    num_experts, k = rng.choice([(4, 2), (8, 4), (8, 1)])
    num_tokens, hidden, intermediate = rng.choice([1, 2, 3, 5, 6]), rng.choice([4, 8]), rng.choice([2, 4])
    x = torch.randn(num_tokens, hidden, generator=g) * 2
    weights, indices = route(torch.randn(num_tokens, num_experts, generator=g), k)
    mlp1 = torch.randn(num_experts, 2 * intermediate, hidden, generator=g)
    mlp1_bias = torch.randn(num_experts, 2 * intermediate, generator=g)
    mlp2 = torch.randn(num_experts, hidden, intermediate, generator=g)
    mlp2_bias = torch.randn(num_experts, hidden, generator=g)
    return x, indices, weights, mlp1, mlp1_bias, mlp2, mlp2_bias, rng.choice([1.702, 1.0]), rng.choice([7.0, 3.0])


def check_experts_core(fn: Callable[..., torch.Tensor]) -> None:
    """``fn(x, expert_indices, expert_weights, mlp1, mlp1_bias, mlp2, mlp2_bias, alpha, limit)`` -> ``(N, H)``."""
    check_function(fn, grouped_experts, random_experts_inputs, trials=8, atol=1e-5, rtol=1e-5,
                   name="my_experts_core", inputs=EXPERTS_INPUTS, forbidden=(grouped_experts,),
                   misconceptions=EXPERTS_MISTAKES)


def _halves_not_interleaved(x, indices, weights, mlp1, mlp1_bias, mlp2, mlp2_bias, alpha, limit):
    """Reorder mlp1's rows so the library, reading interleaved rows, takes the first half as the gate."""
    rows = mlp1.shape[1] // 2
    mlp1 = mlp1.unflatten(1, (2, rows)).transpose(1, 2).flatten(1, 2)  # (E, 2, I, H) -> (E, I, 2, H) -> (E, 2I, H)
    mlp1_bias = mlp1_bias.unflatten(1, (2, rows)).transpose(1, 2).flatten(1, 2)
    return grouped_experts(x, indices, weights, mlp1, mlp1_bias, mlp2, mlp2_bias, alpha, limit)


def _unweighted_sum(x, indices, weights, mlp1, mlp1_bias, mlp2, mlp2_bias, alpha, limit):
    return grouped_experts(x, indices, torch.ones_like(weights), mlp1, mlp1_bias, mlp2, mlp2_bias, alpha, limit)


def _softmax_again(x, indices, weights, mlp1, mlp1_bias, mlp2, mlp2_bias, alpha, limit):
    return grouped_experts(x, indices, weights.softmax(-1), mlp1, mlp1_bias, mlp2, mlp2_bias, alpha, limit)


def _without_clamps(x, indices, weights, mlp1, mlp1_bias, mlp2, mlp2_bias, alpha, limit):
    return grouped_experts(x, indices, weights, mlp1, mlp1_bias, mlp2, mlp2_bias, alpha, math.inf)


EXPERTS_MISTAKES = (
    Misconception(_halves_not_interleaved, "you split mlp1's output into a gate HALF and a linear HALF; gpt-oss "
                  "interleaves them: even rows are the gate, odd rows the linear part."),
    Misconception(_unweighted_sum, "you added the chosen experts' outputs without their router weights: multiply "
                  "each expert's output by its expert_weights entry before summing."),
    Misconception(_softmax_again, "expert_weights are already the softmax over the k chosen experts (route did it): "
                  "taking another softmax flattens them."),
    Misconception(_without_clamps, "the clamps are missing: gate = min(gate, limit), linear = clamp(linear, -limit, "
                  "limit) before the SwiGLU."),
)
