"""Checkers for notebook 05 (experts and MXFP4): the clamped SwiGLU and decoding one MXFP4 block."""
from __future__ import annotations

import random
from collections.abc import Callable

import torch

from gptoss_edu.exercises import Misconception, check_function, torch_generator
from gptoss_edu.model.moe import swiglu
from gptoss_edu.model.mxfp4 import BYTES_PER_BLOCK, dequantize


def random_swiglu_inputs(rng: random.Random) -> tuple[torch.Tensor, float, float]:
    """``(x (..., 2I), alpha, limit)`` with values well past the clamps on both sides."""
    g = torch_generator(rng)
    shape = rng.choice([(2,), (5, 8), (3, 4, 64)])
    x = torch.randn(shape, generator=g) * rng.choice([1.0, 6.0, 12.0])
    return x, rng.choice([1.702, 1.0]), rng.choice([7.0, 3.0])


def check_swiglu(fn: Callable[[torch.Tensor, float, float], torch.Tensor]) -> None:
    """``fn(x, alpha, limit)``: interleaved rows (even = gate, odd = linear) -> clamped SwiGLU of half the width."""
    check_function(fn, swiglu, random_swiglu_inputs, inputs=("x", "alpha", "limit"), forbidden=(swiglu,),
                   misconceptions=(
                       Misconception(lambda x, a, lim: swiglu(_halves_as_interleaved(x), a, lim),
                                     "you split gate and linear into the first and second HALF; gpt-oss interleaves "
                                     "them: even columns are the gate, odd columns the linear part."),
                       Misconception(_without_plus_one, "the linear part is used as (linear + 1) in gpt-oss's SwiGLU."),
                       Misconception(_gate_clamped_below, "the gate is clamped from above only (min(gate, limit)); "
                                     "only the linear part is clamped on both sides."),
                   ))


def _halves_as_interleaved(x: torch.Tensor) -> torch.Tensor:
    """Reorder ``x`` so the library, reading interleaved columns, sees the first half as gate."""
    gate, linear = x.chunk(2, dim=-1)
    return torch.stack([gate, linear], dim=-1).flatten(-2)  # (..., I, 2) -> (..., 2I)


def _without_plus_one(x: torch.Tensor, alpha: float, limit: float) -> torch.Tensor:
    gate, linear = x[..., 0::2].clamp(max=limit), x[..., 1::2].clamp(-limit, limit)
    return gate * torch.sigmoid(alpha * gate) * linear


def _gate_clamped_below(x: torch.Tensor, alpha: float, limit: float) -> torch.Tensor:
    gate, linear = x[..., 0::2].clamp(-limit, limit), x[..., 1::2].clamp(-limit, limit)
    return gate * torch.sigmoid(alpha * gate) * (linear + 1)


def library_decode_block(block: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The library's decode of one block: ``(16,)`` code bytes and a 0-d scale byte -> ``(32,)`` float32."""
    return dequantize(block[None], scale.reshape(1), dtype=torch.float32)  # one group of 32 values


def random_block(rng: random.Random) -> tuple[torch.Tensor, torch.Tensor]:
    """``(block (16,) uint8, scale () uint8)``: any code bytes, scale bytes around 127 (factors 2^-20 .. 2^10)."""
    g = torch_generator(rng)
    block = torch.randint(0, 256, (BYTES_PER_BLOCK,), generator=g, dtype=torch.uint8)
    return block, torch.tensor(rng.randint(107, 137), dtype=torch.uint8)


def check_decode_block(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """``fn(block, scale)`` -> the 32 float32 values of one MXFP4 block (low nibble = even element)."""
    check_function(fn, library_decode_block, random_block, trials=10, atol=0, rtol=0, inputs=("block", "scale"),
                   forbidden=(dequantize,), misconceptions=(
                       Misconception(lambda b, s: library_decode_block(((b & 0x0F) << 4) | (b >> 4), s),
                                     "the two values of each byte come out swapped: the LOW nibble holds the even "
                                     "element (b & 0x0F first, then b >> 4)."),
                       Misconception(lambda b, s: library_decode_block(b, s) * 2.0**127,
                                     "the scale byte is an exponent with bias 127: the factor is 2**(byte - 127), "
                                     "not 2**byte."),
                   ))
