"""Checker for notebook 06b (checkpoints): read a safetensors header by hand."""
from __future__ import annotations

import random
import tempfile
from pathlib import Path

import safetensors.torch
import torch

from gptoss_edu.exercises import Misconception, check_function
from gptoss_edu.io.safetensors_io import DTYPE_NAMES, read_header

_DTYPES = (torch.bfloat16, torch.float32, torch.uint8, torch.float16, torch.int64)


def random_safetensors_bytes(rng: random.Random) -> tuple[bytes]:
    """A small safetensors file, as bytes, written by the official library: 1-5 tensors of random shape and dtype."""
    tensors = {}
    for i in range(rng.randint(1, 5)):
        shape = tuple(rng.randint(1, 6) for _ in range(rng.randint(1, 4)))
        name = rng.choice(["block", "norm", "embedding", "mlp"]) + f".{i}." + rng.choice(["weight", "scales", "bias"])
        tensors[name] = torch.zeros(shape, dtype=rng.choice(_DTYPES))
    return (safetensors.torch.save(tensors),)


def library_parse_header(data: bytes) -> dict[str, tuple[str, tuple[int, ...]]]:
    """The library's answer: ``{name: (dtype code such as "BF16", shape)}`` via ``read_header``."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.safetensors"
        path.write_bytes(data)
        return {name: (DTYPE_NAMES[t.dtype], t.shape) for name, t in read_header(path).items()}


def check_parse_header(fn) -> None:
    """Check a learner's ``parse_header(data: bytes) -> {name: (dtype, shape)}`` on random files."""
    check_function(fn, library_parse_header, random_safetensors_bytes, trials=8, name="parse_header",
                   inputs=("data",), forbidden=(read_header,), misconceptions=(
                       Misconception(_torch_dtype_names, "the dtypes should be the file's own codes (\"BF16\", "
                                     "\"F32\", \"U8\"), exactly as written in the JSON header, not torch's names."),
                   ))


def _torch_dtype_names(data: bytes) -> dict[str, tuple[str, tuple[int, ...]]]:
    names = {code: str(dtype).removeprefix("torch.") for dtype, code in DTYPE_NAMES.items()}
    return {name: (names[code], shape) for name, (code, shape) in library_parse_header(data).items()}
