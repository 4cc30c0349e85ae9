"""gptoss-edu: gpt-oss-20b and gpt-oss-120b rebuilt from first principles.

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
