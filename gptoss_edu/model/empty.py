"""Build ``torch.nn`` layers without initialising their weights (they come from a checkpoint).

``torch.nn.Linear(4096, 2880)`` fills its weight with random numbers, which for a 20 B
model costs minutes and is thrown away when the checkpoint is loaded. ``empty_module``
builds the layer on the meta device and allocates uninitialised storage instead.
"""
from __future__ import annotations

import torch


def empty_module(module_cls: type[torch.nn.Module], *args, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None, **kwargs) -> torch.nn.Module:
    """``module_cls(*args, **kwargs)`` with uninitialised tensors on ``device`` (default: torch's default)."""
    device = device if device is not None else torch.get_default_device()
    return torch.nn.utils.skip_init(module_cls, *args, device=device, dtype=dtype, **kwargs)
