"""The model itself, one concept per module, in the order the notebooks build it.

- ``norm``: RMSNorm in float32.
- ``rope``: rotary embeddings with YaRN's frequency blend and concentration.
- ``attention``: grouped-query attention with sinks and the sliding window.
- ``kvcache``: the key/value cache (ring buffers on sliding-window layers); it owns the positions.
- ``flash``: attention block by block with an online softmax, the Triton kernels' algorithm in torch.
- ``moe``: the top-4 router and the clamped SwiGLU experts; ``mxfp4``: the 4-bit expert format.
- ``transformer``: blocks and the whole ``Transformer``, the one forward pass every path runs;
  ``generation``: prefill, then sampling token by token with the cache.
- ``routing``: the routing hook and capturing which experts each token chose;
  ``random_weights``: the one recipe for random checkpoints and models;
  ``empty``: layers built without initialising weights that a checkpoint overwrites.

The hot spots are swappable cores (see ``transformer``): ``gptoss_edu.fast.accelerate`` puts
faster ones in without changing this code. ``Transformer`` and ``TransformerBlock`` are also
importable from here.
"""
from __future__ import annotations

import importlib


def __getattr__(name: str):
    if name in ("Transformer", "TransformerBlock"):
        return getattr(importlib.import_module("gptoss_edu.model.transformer"), name)
    raise AttributeError(f"module 'gptoss_edu.model' has no attribute {name!r}")
