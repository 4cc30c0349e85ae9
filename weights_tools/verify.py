"""Check a checkpoint end to end: structure from the headers, then every byte of content.

Structure (``gptoss_edu.io.checkpoint``): every expected tensor present with the right shape and
dtype, nothing unexpected, shards consistent with the index, no truncated file or corrupt
header. Content, streamed in chunks so memory stays at one chunk: no NaN or Inf in floating
tensors (``gptoss_edu.io.values``, as ``load_model`` checks), and MXFP4 scale bytes inside
``PLAUSIBLE_SCALE_BYTES``. One line per problem.
"""
from __future__ import annotations

import os
from collections.abc import Iterator

import torch
from tqdm.auto import tqdm

from gptoss_edu.io.checkpoint import CheckpointError, open_checkpoint, read_rows
from gptoss_edu.io.safetensors_io import StoredTensor
from gptoss_edu.io.values import count_nonfinite

CHUNK_BYTES = 16 * 2**20
# 2**-63 .. 2**33: trained weights sit far inside; bytes outside (255 is E8M0's NaN) mean the
# scales were overwritten or shifted, not trained. (load_model refuses only what cannot decode:
# gptoss_edu.io.values.MAX_SCALE_BYTE.)
PLAUSIBLE_SCALE_BYTES = (64, 160)


def iter_chunks(t: StoredTensor, chunk_bytes: int = CHUNK_BYTES) -> Iterator[torch.Tensor]:
    """A stored tensor in slices along dim 0 of about ``chunk_bytes`` each."""
    rows = t.shape[0] if t.shape else 1
    row_bytes = max(1, (t.end - t.begin) // max(rows, 1))
    step = max(1, chunk_bytes // row_bytes)
    for row0 in range(0, rows, step):
        yield read_rows(t, row0, min(row0 + step, rows))


def content_problems(t: StoredTensor) -> list[str]:
    """NaN/Inf in a floating tensor, implausible bytes in a scales tensor."""
    if t.dtype.is_floating_point:
        bad = sum(count_nonfinite(chunk) for chunk in iter_chunks(t))
        return [f"{t.file}: tensor {t.name!r} holds {bad} NaN/Inf values"] if bad else []
    if t.name.endswith("scales"):
        low, high = PLAUSIBLE_SCALE_BYTES
        bad = sum(int(((chunk < low) | (chunk > high)).sum()) for chunk in iter_chunks(t))
        if bad:
            return [f"{t.file}: tensor {t.name!r} has {bad} scale bytes outside {low}..{high} "
                    f"(2**{low - 127} .. 2**{high - 127})"]
    return []


def verify(path: str | os.PathLike | None, layout: str = "auto", content: bool = True,
           progress: bool = False) -> list[str]:
    """All problems of the checkpoint at ``path``, one line each; empty when it is sound."""
    try:
        ckpt = open_checkpoint(path, layout, strict=False)
    except CheckpointError as e:
        return e.problems
    problems = list(ckpt.problems)
    if not content:
        return problems
    sound = [t for name, t in ckpt.stored.items()
             if name in ckpt.expected and t.shape == ckpt.expected[name][2].shape]
    for t in tqdm(sound, desc="scanning", unit="tensor", disable=not progress):
        problems += content_problems(t)
    return problems
