"""Checkers for notebook 03 (attention): RMSNorm, the sliding-window mask and the sink softmax."""
from __future__ import annotations

import random
from collections.abc import Callable

import torch

from gptoss_edu.exercises import Misconception, check_function, torch_generator
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
    common = dict(inputs=("x", "scale", "eps"), forbidden=(rms_norm,), misconceptions=NORM_MISTAKES, name="rms_norm")
    if check_function(fn, rms_norm, random_norm_inputs, atol=1e-5, rtol=1e-5, report=False, **common):
        check_function(fn, rms_norm, lambda rng: random_norm_inputs(rng, torch.bfloat16), atol=1e-5, rtol=2**-7,
                       **common)


def _norm_in_input_dtype(x: torch.Tensor, scale: torch.Tensor, eps: float) -> torch.Tensor:
    return (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * scale.to(x.dtype)).to(x.dtype)


def _layer_norm(x: torch.Tensor, scale: torch.Tensor, eps: float) -> torch.Tensor:
    t = x.float()
    t = (t - t.mean(-1, keepdim=True)) * torch.rsqrt(t.var(-1, unbiased=False, keepdim=True) + eps)
    return (t * scale).to(x.dtype)


def _norm_without_scale(x: torch.Tensor, scale: torch.Tensor, eps: float) -> torch.Tensor:
    t = x.float()
    return (t * torch.rsqrt(t.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


NORM_MISTAKES = (
    Misconception(_norm_in_input_dtype, "right formula, wrong precision: compute in float32 (x.float()) and cast "
                  "back to x.dtype only at the end; bfloat16 squares and sums lose digits."),
    Misconception(_layer_norm, "you subtracted the mean: that is LayerNorm. RMSNorm divides by the root mean square "
                  "of x itself, without centring."),
    Misconception(_norm_without_scale, "you normalised but forgot to multiply by the learned `scale`."),
)


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
    check_function(fn, library_sliding_window_mask, random_mask_inputs, trials=8, inputs=("num_tokens", "window"),
                   forbidden=(attention_mask,), misconceptions=(
                       Misconception(lambda t, w: library_sliding_window_mask(t, w + 1 if w else 0),
                                     "each query sees one key too many: a window of 128 holds 128 keys, the "
                                     "query's own included (positions p-127 .. p)."),
                       Misconception(_band_without_causality, "your mask lets queries see later keys: keep it "
                                     "causal (key position <= query position) as well as inside the window."),
                   ))


def _band_without_causality(num_tokens: int, window: int) -> torch.Tensor:
    p = torch.arange(num_tokens)
    distance = (p[:, None] - p[None, :]).abs()
    return distance < window if window else torch.ones(num_tokens, num_tokens, dtype=torch.bool)


def library_sink_softmax(scores: torch.Tensor, sinks: torch.Tensor) -> torch.Tensor:
    """Attention weights ``(H, T, S)`` from ``scores (H, T, S)`` and one sink logit per head ``(H,)``.

    The library computes these weights inside ``attention_with_sinks`` without returning
    them, so we read them out: with identity keys (key ``s`` is the unit vector ``e_s``) and
    scale 1 a query vector *is* its row of scores, and with identity values the output *is*
    the weight row. Every key is made visible (all keys at position 0, queries later). A
    masked score (-inf) becomes the lowest finite float, since -inf times a 0 of the identity is NaN.
    """
    heads, num_queries, num_keys = scores.shape
    scores = scores.masked_fill(scores == float("-inf"), torch.finfo(scores.dtype).min)
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
    check_function(fn, library_sink_softmax, random_sink_inputs, inputs=("scores", "sinks"),
                   forbidden=(attention_with_sinks,), misconceptions=(
                       Misconception(lambda scores, sinks: scores.softmax(-1), "your rows sum to 1: the sink must "
                                     "join the softmax's denominator (its column is dropped afterwards, so the "
                                     "weights sum to less than 1)."),
                   ))
