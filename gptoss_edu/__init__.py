"""gptoss-edu: gpt-oss-20b and gpt-oss-120b rebuilt from first principles.

The map, in the order the course teaches it:

- ``config``: the two models in numbers (parameters, bytes per token, memory);
- ``tokenizer``: o200k_harmony, byte-level BPE from scratch; ``harmony``: the chat format;
- ``model``: norm, RoPE, attention, KV cache, experts, MXFP4, the ``Transformer``, generation;
- ``io``: checkpoints in both layouts (read, check, load, write) and the vocabulary file;
- ``training``: training the nano gpt-oss; ``viz``: every figure and the routing explorer;
- ``fast``: the fast paths at the model's seams (``accelerate``, CUDA-graph decode), with the
  Triton kernels in ``gptoss_edu.kernels``;
- ``agent``: tools and the agent loop; ``conformance``: the official implementations we check
  against; ``exercises``: the notebooks' checkers; ``course``: ``setup_notebook``.

Importing the package is light (no Triton, no Jupyter, not even torch); the heavy names
below are imported on first use.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "ModelConfig": "gptoss_edu.config",
    "PRESETS": "gptoss_edu.config",
    "parameter_count": "gptoss_edu.config",
    "load_model": "gptoss_edu.io.checkpoint",
    "generate": "gptoss_edu.model.generation",
    "Transformer": "gptoss_edu.model.transformer",
    "setup_notebook": "gptoss_edu.course",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gptoss_edu' has no attribute {name!r}")
