"""The model itself, one concept per module, in the order the notebooks build it.

- ``norm``: RMSNorm in float32.
- ``rope``: rotary embeddings with YaRN's frequency blend and concentration.
- ``attention``: grouped-query attention with sinks and the sliding window.
- ``kvcache``: the per-layer key/value cache (ring buffers on sliding-window layers).
- ``moe``: the top-4 router and the clamped SwiGLU experts; ``mxfp4``: the 4-bit expert format.
- ``transformer``: blocks and the whole ``Transformer``; ``generation``: sampling with the cache.
- ``routing``: capturing which experts each token chose; ``random_weights``: random checkpoints' recipe;
  ``empty``: layers built without initialising weights that a checkpoint overwrites.

``Transformer`` and ``TransformerBlock`` are also importable from here.
"""
from __future__ import annotations

import importlib


def __getattr__(name: str):
    if name in ("Transformer", "TransformerBlock"):
        return getattr(importlib.import_module("gptoss_edu.model.transformer"), name)
    raise AttributeError(f"module 'gptoss_edu.model' has no attribute {name!r}")
