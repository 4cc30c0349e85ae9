"""Where the course finds the real gpt-oss weights: one variable, or the classroom bundle.

Every notebook that can use the real gpt-oss-20b or gpt-oss-120b (07, 08, 09) asks
``real_weights()``, so a learner sets one name for the whole course:

- ``GPTOSS_EDU_WEIGHTS``: a checkpoint folder in either layout, or a Hub download with
  ``original/`` inside (what ``python -m weights_tools download`` writes);
- otherwise a classroom bundle (``$GPTOSS_EDU_BUNDLE``, built by ``python -m weights_tools
  bundle``): the first checkpoint in its ``checkpoints/`` folder whose config is a real
  gpt-oss (the 20b preferred), not the nano or tiny models it may also hold;
- otherwise ``None``: the notebooks then run their small models and say so.

A set variable that points nowhere is an error naming it, never a silent fallback.
``import gptoss_edu.course`` stays light: the checkpoint reader is imported on first use.
"""
from __future__ import annotations

import os
from pathlib import Path

WEIGHTS_ENV = "GPTOSS_EDU_WEIGHTS"
REAL_MODELS = ("gpt-oss-20b", "gpt-oss-120b")  # bundle preference order


def real_weights() -> Path | None:
    """The folder of the real gpt-oss weights for this course, or None when there are none (see the module doc)."""
    value = os.environ.get(WEIGHTS_ENV, "").strip()
    if value:
        folder = Path(value).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(f"${WEIGHTS_ENV}={value!r} is not a folder; point it at a downloaded "
                                    "gpt-oss checkpoint (python -m weights_tools download gpt-oss-20b --out DIR)")
        return folder
    real = _real_bundle_checkpoints()
    if not real:
        return None
    folder, _model = min(real, key=lambda found: REAL_MODELS.index(found[1]))
    return folder


def _real_bundle_checkpoints() -> list[tuple[Path, str]]:
    """``(folder, real model name)`` for each bundle checkpoint whose config is a real gpt-oss."""
    from gptoss_edu.config import GPT_OSS_20B, GPT_OSS_120B
    from gptoss_edu.io.checkpoint import CheckpointError, bundle_checkpoints, find_checkpoint, read_config

    shapes = {(c.num_hidden_layers, c.num_experts, c.hidden_size): c.name for c in (GPT_OSS_20B, GPT_OSS_120B)}
    found = []
    for folder in bundle_checkpoints().values():
        try:
            config = read_config(*find_checkpoint(folder))
        except (CheckpointError, OSError):
            continue  # not a checkpoint folder: the bundle's own verify reports it
        model = shapes.get((config.num_hidden_layers, config.num_experts, config.hidden_size))
        if model is not None:
            found.append((folder, model))
    return found
