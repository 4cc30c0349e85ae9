"""Checkers for notebook 03 (attention): RMSNorm, the sliding-window mask and the sink softmax."""
from __future__ import annotations

import random
from collections.abc import Callable

import torch

from gptoss_edu.exercises import check_function, torch_generator
from gptoss_edu.model.attention import attention_mask, attention_with_sinks
from gptoss_edu.model.norm import rms_norm


def random_norm_inputs(rng: random.Random, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor, float]:
    """``(x (..., H), scale (H,), eps)`` in ``dtype`` with varied magnitudes and shapes."""
    g = torch_generator(rng)
    width = rng.choice([8, 64, 2880])
    shape = rng.choice([(width,), (3, width), (2, 5, width)])
    x = (torch.randn(shape, generator=g) * rng.choice([1e-3, 1.0, 30.0])).to(dtype)
    scale = 1 + 0.1 * torch.randn(width, generator=g)
    return x, scale, rng.choice([1e-5, 1e-6])


def check_rms_norm(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> None:
    """``fn(x, scale, eps)``: RMSNorm over the last dimension, in float32, returned in ``x.dtype``.

    float32 inputs must agree tightly; bfloat16 ones within two bf16 steps (the cast back may
    round a last-bit difference either way), which still catches computing in bfloat16.
    """
    check_function(fn, rms_norm, random_norm_inputs, atol=1e-5, rtol=1e-5)
    check_function(fn, rms_norm, lambda rng: random_norm_inputs(rng, torch.bfloat16), atol=1e-5, rtol=2**-7)


def library_sliding_window_mask(num_tokens: int, window: int) -> torch.Tensor:
    """The library's ``(T, T)`` mask for a sequence at positions ``0 .. T-1``."""
    positions = torch.arange(num_tokens)
    return attention_mask(positions, positions, window)


def random_mask_inputs(rng: random.Random) -> tuple[int, int]:
    """``(num_tokens, window)``: windows shorter than, equal to and longer than the sequence; 0 = no window."""
    num_tokens = rng.randint(1, 40)
    return num_tokens, rng.choice([0, 1, 2, 5, 8, num_tokens, num_tokens + 3])


def check_sliding_window_mask(fn: Callable[[int, int], torch.Tensor]) -> None:
    """``fn(num_tokens, window)`` -> ``(T, T)`` bool, True where query ``t`` sees key ``s`` (window 0 = causal only)."""
    check_function(fn, library_sliding_window_mask, random_mask_inputs, trials=8)


def library_sink_softmax(scores: torch.Tensor, sinks: torch.Tensor) -> torch.Tensor:
    """Attention weights ``(H, T, S)`` from ``scores (H, T, S)`` and one sink logit per head ``(H,)``.

    The library computes these weights inside ``attention_with_sinks`` without returning
    them, so we read them out: with identity keys (key ``s`` is the unit vector ``e_s``) and
    scale 1 a query vector *is* its row of scores, and with identity values the output *is*
    the weight row. Every key is made visible (all keys at position 0, queries later).
    """
    heads, num_queries, num_keys = scores.shape
    q = scores.permute(1, 0, 2)[None, :, :, None, :]  # (1, T, KV=H, G=1, D=S)
    eye = torch.eye(num_keys, dtype=scores.dtype).reshape(1, num_keys, 1, num_keys).expand(1, num_keys, heads, num_keys)
    out = attention_with_sinks(
        q, eye, eye, sinks, 1.0, torch.ones(num_queries, dtype=torch.long), torch.zeros(num_keys, dtype=torch.long),
    )  # (1, T, H*S)
    return out.reshape(num_queries, heads, num_keys).permute(1, 0, 2)


def random_sink_inputs(rng: random.Random) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scores (H, T, S), sinks (H,))`` with sinks from far below to far above the scores."""
    g = torch_generator(rng)
    heads, num_queries, num_keys = rng.randint(1, 8), rng.randint(1, 6), rng.randint(1, 12)
    scores = torch.randn(heads, num_queries, num_keys, generator=g) * rng.choice([0.5, 3.0])
    sinks = torch.randn(heads, generator=g) * 4
    return scores, sinks


def check_sink_softmax(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """``fn(scores (H, T, S), sinks (H,))`` -> weights ``(H, T, S)``: softmax over ``[scores, sink]``, sink dropped."""
    check_function(fn, library_sink_softmax, random_sink_inputs)
