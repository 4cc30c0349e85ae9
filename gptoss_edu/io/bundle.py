"""Where a classroom bundle lives: the one place that reads ``$GPTOSS_EDU_BUNDLE``.

A bundle (written by ``python -m weights_tools bundle``) is a folder::

    bundle/
      bundle.json                      what the bundle tool created (it touches nothing else)
      README.md
      vocab/o200k_base.tiktoken        found by gptoss_edu.io.vocab.resolve_vocab
      checkpoints/<name>/              found by load_model() or load_model("<name>")

Hidden entries (``.NAME.PID.partial`` folders of an interrupted run) are never offered as checkpoints.
"""
from __future__ import annotations

import os
from pathlib import Path

BUNDLE_ENV = "GPTOSS_EDU_BUNDLE"
CHECKPOINTS_DIR = "checkpoints"
VOCAB_DIR = "vocab"
MANIFEST = "bundle.json"


def bundle_root() -> Path | None:
    """The bundle folder named by ``$GPTOSS_EDU_BUNDLE``, or ``None`` when the variable is unset or empty."""
    root = os.environ.get(BUNDLE_ENV)
    return Path(root).expanduser() if root else None


def bundle_checkpoints() -> dict[str, Path]:
    """The bundle's checkpoint folders by name (empty without a bundle); hidden entries are left out."""
    root = bundle_root()
    folder = root / CHECKPOINTS_DIR if root else None
    if folder is None or not folder.is_dir():
        return {}
    return {p.name: p for p in sorted(folder.iterdir()) if not p.name.startswith(".") and p.is_dir()}


def bundle_vocab_dir() -> Path | None:
    """The bundle's vocabulary folder, or ``None`` without a bundle."""
    root = bundle_root()
    return root / VOCAB_DIR if root else None
