"""Random gpt-oss checkpoints of any size, in either layout, written tensor by tensor.

The numbers follow the library's one recipe, ``gptoss_edu.model.random_weights.random_values``
(magnitudes like a trained model's where it matters for testing). Everything is deterministic in ``seed``
and independent of layout and sharding: each tensor is cut into fixed row chunks and chunk
``i`` of tensor ``name`` is drawn from its own generator seeded by ``(seed, name, i)``. So
the ``"original"`` and ``"hf"`` checkpoints of one seed hold the same model, and a full-size
checkpoint is written in bounded memory (one chunk at a time).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from gptoss_edu.config import ModelConfig
from gptoss_edu.io.layouts import MXFP4, ORIGINAL, TensorSpec, checkpoint_spec
from gptoss_edu.io.writer import DEFAULT_SHARD_BYTES, Source, write_layout
from gptoss_edu.model.random_weights import random_values

CHUNK_ELEMENTS = 2**22  # values drawn per generator: fixed, so the bytes do not depend on how we read


def chunk_rows(spec: TensorSpec) -> int:
    """Rows per generator chunk of a tensor (a function of its shape only)."""
    row = 1
    for d in spec.shape[1:]:
        row *= d
    return max(1, CHUNK_ELEMENTS // row)


def _generator(seed: int, name: str, chunk: int) -> torch.Generator:
    digest = hashlib.sha256(f"{seed}/{name}/{chunk}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


class SyntheticSource:
    """Rows of a random original-layout checkpoint, generated on demand."""

    def __init__(self, config: ModelConfig, seed: int = 0):
        self.spec = checkpoint_spec(config, MXFP4)
        self.seed = seed

    def rows(self, name: str, row0: int, row1: int) -> torch.Tensor:
        spec = self.spec[name]
        step = chunk_rows(spec)
        pieces = []
        for chunk in range(row0 // step, (row1 - 1) // step + 1):
            start = chunk * step
            n = min(step, spec.shape[0] - start)
            block = random_values(name, (n, *spec.shape[1:]), _generator(self.seed, name, chunk))
            pieces.append(block[max(row0 - start, 0):row1 - start])
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces)

    def dtype(self, name: str) -> torch.dtype:
        return self.spec[name].dtype

    def source(self) -> Source:
        return Source(self.rows, self.dtype)


def write_checkpoint(path: str | os.PathLike, config: ModelConfig, layout: str = ORIGINAL, seed: int = 0,
                     shard_bytes: int = DEFAULT_SHARD_BYTES, overwrite: bool = False, progress: bool = False) -> Path:
    """Write a random checkpoint of ``config`` at ``path`` in ``layout`` ("original" or "hf"); return the folder.

    Memory stays at about one chunk whatever the size; the folder appears only when complete.
    """
    source = SyntheticSource(config, seed).source()
    return write_layout(path, config, layout, source, MXFP4, shard_bytes, overwrite, progress)
