"""Realistic random weights in the original checkpoint layout, made in memory.

Tests, benchmarks and notebooks need a model without downloading 13 GB. These tensors have
the names, shapes and dtypes of OpenAI's ``original/`` checkpoint and magnitudes like the
real ones, so activations, router choices and the SwiGLU clamps behave plausibly:
- MXFP4 expert weights: uniformly random code bytes, scale bytes in ``118..124``
  (values up to ``6 * 2**-3``);
- every other matrix and bias: bf16 with standard deviation 0.02;
- attention sinks: standard normal; norm scales: ``1 + 0.1 * normal``.
"""
from __future__ import annotations

import torch

from gptoss_edu.config import ModelConfig

SCALE_BYTES = (118, 124)  # inclusive range of the random MXFP4 scale bytes
DENSE_STD = 0.02


def random_tensor(name: str, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """One random checkpoint tensor; what kind it is follows from the checkpoint ``name``."""
    if name.endswith(".blocks"):
        return torch.randint(0, 256, shape, dtype=torch.uint8, generator=generator)
    if name.endswith(".scales"):
        low, high = SCALE_BYTES
        return torch.randint(low, high + 1, shape, dtype=torch.uint8, generator=generator)
    if name.endswith(".sinks"):
        return torch.randn(shape, generator=generator).to(torch.bfloat16)
    if name.endswith("norm.scale"):
        return (1 + 0.1 * torch.randn(shape, generator=generator)).to(torch.bfloat16)
    return (DENSE_STD * torch.randn(shape, generator=generator)).to(torch.bfloat16)


def random_state_dict(config: ModelConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    """Every tensor of an original-layout checkpoint for ``config``, random, on the CPU."""
    from gptoss_edu.model.transformer import Transformer  # the model's packed state dict *is* the checkpoint layout

    skeleton = Transformer(config, device="meta", experts="packed").state_dict()
    generator = torch.Generator().manual_seed(seed)
    return {name: random_tensor(name, tuple(t.shape), generator) for name, t in skeleton.items()}
