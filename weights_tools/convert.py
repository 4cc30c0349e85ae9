"""Convert a checkpoint between the original and Hugging Face layouts, optionally dequantizing experts.

Without ``dequantize`` the MXFP4 bytes are copied untouched, so original -> hf -> original
gives byte-identical files (same ``shard_bytes``). With it, the expert weights are decoded to
bf16 (exactly: every MXFP4 value is a bf16 number) and stored as described in
``gptoss_edu.io.layouts``; ``load_model`` and transformers read that folder as well. Quantizing
back is not offered: it is lossy in general.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from gptoss_edu.io.checkpoint import Checkpoint, open_checkpoint
from gptoss_edu.io.layouts import BF16, MXFP4
from gptoss_edu.io.writer import DEFAULT_SHARD_BYTES, Source, write_layout
from gptoss_edu.model.mxfp4 import dequantize

DEQUANTIZED_NAMES = ("mlp1_weight", "mlp2_weight")


def _is_dequantized_weight(name: str) -> bool:
    return name.endswith(DEQUANTIZED_NAMES)


def dequantizing_source(ckpt: Checkpoint) -> Source:
    """Original-layout rows of ``ckpt`` with each MXFP4 expert weight decoded to bf16."""

    def rows(name: str, row0: int, row1: int) -> torch.Tensor:
        if _is_dequantized_weight(name):
            blocks = ckpt.read(f"{name}.blocks", row0, row1)
            return dequantize(blocks, ckpt.read(f"{name}.scales", row0, row1), torch.bfloat16)
        return ckpt.read(name, row0, row1)

    def dtype(name: str) -> torch.dtype:
        return torch.bfloat16 if _is_dequantized_weight(name) else ckpt.dtype_of(name)

    return Source(rows, dtype)


def convert(src: str | os.PathLike, dst: str | os.PathLike, layout: str, dequantize_experts: bool = False,
            shard_bytes: int = DEFAULT_SHARD_BYTES, overwrite: bool = False, progress: bool = False) -> Path:
    """Write the checkpoint at ``src`` to ``dst`` in ``layout``; return ``dst``."""
    ckpt = open_checkpoint(src)
    if dequantize_experts and ckpt.experts == MXFP4:
        source, experts = dequantizing_source(ckpt), BF16
    else:
        source, experts = Source(ckpt.read, ckpt.dtype_of), ckpt.experts
    return write_layout(dst, ckpt.config, layout, source, experts, shard_bytes, overwrite, progress)
