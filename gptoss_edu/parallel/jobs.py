"""Small jobs for ``run_parallel`` that notebook 10 starts (they must live in an importable module).

``layer_outputs`` loads a checkpoint split in each mode and returns what one rank computed:
layer 0's attention and MoE outputs (full hidden states, after the all-reduce or the
all-to-all), the logits, and the bytes one decode step handed to each collective.
"""
from __future__ import annotations

import torch

from gptoss_edu.parallel.loader import load_model


def forward_recording_layer0(model, ids: torch.Tensor, cache) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``model(ids, cache=cache)`` and layer 0's attention and MoE outputs, ``(T, H)`` each."""
    seen: dict[str, torch.Tensor] = {}

    def keep(name: str):
        def hook(module, inputs, output) -> None:  # returns None: the layer's output stays as it is
            seen.setdefault(name, output[0])
        return hook

    hooks = [model.block[0].attn.register_forward_hook(keep("attention")),
             model.block[0].mlp.register_forward_hook(keep("moe"))]
    try:
        return model(ids, cache=cache), seen
    finally:
        for hook in hooks:
            hook.remove()


def layer_outputs(path: str, modes: tuple[str, ...], ids: torch.Tensor) -> dict[str, dict]:
    """For each mode: ``attention``, ``moe`` (layer 0 outputs ``(T, H)``), ``logits``, ``decode_sent``, ``report``."""
    results = {}
    for mode in modes:
        model = load_model(path, mode)
        cache = model.new_cache()
        logits, seen = forward_recording_layer0(model, ids, cache)
        model.comm.reset()
        model(ids[-1:], cache=cache)  # one decode step
        results[mode] = {**seen, "logits": logits, "decode_sent": dict(model.comm.sent), "report": model.report}
    return results
