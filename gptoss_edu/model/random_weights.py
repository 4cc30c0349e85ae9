"""Realistic random weights in the original checkpoint layout: the one recipe every random model uses.

Tests, benchmarks and notebooks need a model without downloading 13 GB. These tensors have
the names, shapes and dtypes of OpenAI's ``original/`` checkpoint and magnitudes like the
real ones, so activations, router choices and the SwiGLU clamps behave plausibly:
- MXFP4 expert weights: uniformly random code bytes, scale bytes in ``118..124``
  (values up to ``6 * 2**-3``, so decoded expert weights are a few hundredths);
- every other matrix and bias: bf16 with standard deviation 0.02;
- attention sinks: standard normal; norm scales: ``1 + 0.1 * normal``.

``random_values`` is the recipe for one tensor; ``random_state_dict`` makes a small model's
checkpoint in memory, ``random_model`` a model of any size directly on a device, and
``weights_tools.synthetic`` writes checkpoint files of any size from the same recipe.
"""
from __future__ import annotations

import torch

from gptoss_edu.config import ModelConfig

SCALE_BYTES = (118, 124)  # inclusive range of the random MXFP4 scale bytes
DENSE_STD = 0.02
NORM_STD = 0.1


def random_values(name: str, shape: tuple[int, ...], generator: torch.Generator,
                  device: torch.device | str | None = None) -> torch.Tensor:
    """One random checkpoint tensor (uint8 for MXFP4 parts, else bf16); its kind follows from ``name``."""
    if name.endswith(".blocks"):
        return torch.randint(0, 256, shape, dtype=torch.uint8, generator=generator, device=device)
    if name.endswith(".scales"):
        low, high = SCALE_BYTES
        return torch.randint(low, high + 1, shape, dtype=torch.uint8, generator=generator, device=device)
    values = torch.randn(shape, generator=generator, device=device)
    if name.endswith("norm.scale"):
        values = 1 + NORM_STD * values
    elif not name.endswith(".sinks"):
        values = DENSE_STD * values
    return values.to(torch.bfloat16)


def random_state_dict(config: ModelConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    """Every tensor of an original-layout checkpoint for ``config``, random, on the CPU."""
    from gptoss_edu.model.transformer import Transformer  # the model's packed state dict *is* the checkpoint layout

    skeleton = Transformer(config, device="meta", experts="packed").state_dict()
    generator = torch.Generator().manual_seed(seed)
    return {name: random_values(name, tuple(t.shape), generator) for name, t in skeleton.items()}


def random_model(config: ModelConfig, device: torch.device | str, dtype: torch.dtype = torch.bfloat16,
                 seed: int = 0):
    """A packed-experts ``Transformer`` of any size with random weights made directly on ``device``.

    Tensor by tensor with a generator on ``device``, so a full-size model never passes through
    host memory (the values differ from ``random_state_dict``'s, the distributions do not).
    """
    from gptoss_edu.model.transformer import Transformer

    model = Transformer(config, device="meta", dtype=dtype, experts="packed")
    model.to_empty(device=device)
    generator = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            tensor.copy_(random_values(name, tuple(tensor.shape), generator, device))
    return model.eval()
