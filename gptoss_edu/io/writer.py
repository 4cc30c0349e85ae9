"""Write a checkpoint folder in either layout from any source of original-layout tensors.

``synth`` and ``convert`` both go through ``write_layout``: a *source* hands out rows of
original-layout tensors (random ones, or rows read from another checkpoint), and the writer
lays them out as the target layout's files, tensor by tensor and chunk by chunk, so memory
holds one chunk (about ``CHUNK_BYTES``) whatever the checkpoint size. Shards are cut at
tensor boundaries once they pass ``shard_bytes`` (one file when everything fits), and an
index is written whenever there is more than one. The folder is assembled under a hidden
temporary name next to the target (``.NAME.PID.partial``) and renamed into place only when
complete; the leftovers of an interrupted run are removed by the next run once their process is gone.
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from gptoss_edu.config import ModelConfig
from gptoss_edu.io.checkpoint import INDEX_FILE
from gptoss_edu.io.files import partial_name, remove_stale_partials
from gptoss_edu.io.hf_config import to_hf_dict
from gptoss_edu.io.layouts import BF16, HF, MXFP4, ORIGINAL, Part, stored_spec
from gptoss_edu.io.safetensors_io import TensorToWrite, write_safetensors

CHUNK_BYTES = 16 * 2**20
DEFAULT_SHARD_BYTES = 5 * 2**30


@dataclass(frozen=True)
class Source:
    """Original-layout tensors to write: ``rows(name, row0, row1)`` and ``dtype(name)``."""

    rows: Callable[[str, int, int], torch.Tensor]
    dtype: Callable[[str], torch.dtype]


def config_json(config: ModelConfig, layout: str, experts: str) -> dict:
    """The ``config.json`` of a layout; dequantized Hugging Face folders carry no ``quantization_config``."""
    if layout == ORIGINAL:
        return config.to_original_dict()
    data = to_hf_dict(config)
    if experts == BF16:
        data.pop("quantization_config")
    return data


def planned_tensors(config: ModelConfig, layout: str, experts: str, source: Source) -> list[TensorToWrite]:
    """The files' tensors in order, each streaming its rows from ``source``."""
    planned = []
    for stored_name, (name, part, spec) in stored_spec(config, layout, experts).items():
        dtype = source.dtype(name) if spec.dtype.is_floating_point else spec.dtype
        planned.append(TensorToWrite(stored_name, dtype, spec.shape, _chunker(source, name, part, spec.shape, dtype)))
    return planned


def _chunker(source: Source, name: str, part: Part, shape: tuple[int, ...], dtype: torch.dtype):
    row_bytes = max(1, dtype.itemsize * _prod(shape[1:]))
    step = max(1, CHUNK_BYTES // row_bytes)

    def chunks() -> Iterator[torch.Tensor]:
        for row0 in range(0, part.rows, step):
            row1 = min(row0 + step, part.rows)
            rows = source.rows(name, part.row0 + row0, part.row0 + row1)
            yield (rows.transpose(1, 2) if part.transposed else rows).to(dtype)

    return chunks


def _prod(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def shard(tensors: list[TensorToWrite], shard_bytes: int) -> list[list[TensorToWrite]]:
    """Cut the tensor list into consecutive groups, a new group once one holds ``shard_bytes``."""
    groups: list[list[TensorToWrite]] = [[]]
    size = 0
    for t in tensors:
        if groups[-1] and size + t.nbytes > shard_bytes:
            groups.append([])
            size = 0
        groups[-1].append(t)
        size += t.nbytes
    return groups


def shard_names(n: int) -> list[str]:
    """``model.safetensors`` for one file, ``model-00001-of-0000n.safetensors`` for several."""
    if n == 1:
        return ["model.safetensors"]
    return [f"model-{i + 1:05d}-of-{n:05d}.safetensors" for i in range(n)]


def write_layout(path: str | os.PathLike, config: ModelConfig, layout: str, source: Source, experts: str = MXFP4,
                 shard_bytes: int = DEFAULT_SHARD_BYTES, overwrite: bool = False, progress: bool = False) -> Path:
    """Write a complete checkpoint folder at ``path``; return it."""
    if layout not in (ORIGINAL, HF):
        raise ValueError(f"layout={layout!r}; choose 'original' or 'hf'")
    path = Path(path)
    _check_target(path, overwrite)
    remove_stale_partials(path)
    partial = partial_name(path)
    partial.mkdir(parents=True)
    try:
        _write_files(partial, config, layout, source, experts, shard_bytes, progress)
        _move_into_place(partial, path)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return path


def _write_files(folder: Path, config: ModelConfig, layout: str, source: Source, experts: str,
                 shard_bytes: int, progress: bool) -> None:
    tensors = planned_tensors(config, layout, experts, source)
    groups = shard(tensors, shard_bytes)
    names = shard_names(len(groups))
    total = sum(t.nbytes for t in tensors)
    with tqdm(total=total, unit="B", unit_scale=True, desc=f"writing {folder.name}", disable=not progress) as bar:
        for file, group in zip(names, groups):
            write_safetensors(folder / file, group, on_bytes=bar.update)
    if len(groups) > 1:
        weight_map = {t.name: file for file, group in zip(names, groups) for t in group}
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        (folder / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n")
    (folder / "config.json").write_text(json.dumps(config_json(config, layout, experts), indent=2) + "\n")


def _check_target(path: Path, overwrite: bool) -> None:
    """A missing or empty folder is fine; ``overwrite`` replaces only a checkpoint folder (one with ``config.json``)."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise FileExistsError(f"{path} exists and is not a folder; choose another path")
    if not path.exists() or not any(path.iterdir()):
        return
    if not overwrite:
        raise FileExistsError(f"{path} exists and is not empty; choose another path or pass overwrite")
    if not (path / "config.json").is_file():
        raise FileExistsError(f"{path} is not a checkpoint folder (no config.json); not overwriting it")


def _move_into_place(partial: Path, path: Path) -> None:
    """Swap the finished folder in; an old folder at ``path`` is removed only after that succeeds."""
    old = partial_name(path, "old")
    if path.exists():
        path.replace(old)
    partial.replace(path)
    shutil.rmtree(old, ignore_errors=True)
