"""The safetensors file format, read and written by hand so every failure names its culprit.

A ``.safetensors`` file is: 8 bytes (little-endian uint64) giving the header length ``n``;
``n`` bytes of JSON mapping each tensor name to ``{"dtype", "shape", "data_offsets": [begin,
end]}`` (offsets relative to the end of the header, plus an optional ``"__metadata__"``); then
the raw little-endian bytes of every tensor, back to back. ``read_header`` checks all of it
against the file size (so a truncated download is caught before any tensor is read);
``write_safetensors`` streams tensors chunk by chunk, so writing a 1 GB tensor needs only one
chunk in memory, and writes to a temporary name that is renamed once the file is complete.
"""
from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from gptoss_edu.io.files import MAX_JSON_DEPTH, FolderError, json_depth, open_regular, partial_name

DTYPES: dict[str, torch.dtype] = {
    "BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32, "F64": torch.float64,
    "U8": torch.uint8, "I8": torch.int8, "I16": torch.int16, "I32": torch.int32, "I64": torch.int64,
    "BOOL": torch.bool,
}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
MAX_HEADER_BYTES = 100_000_000  # the limit the safetensors library enforces
MAX_DIMS = 8
MAX_NUMBER = 2**63  # dimensions and offsets above this are not sizes; the bound keeps the arithmetic small


class SafetensorsFormatError(ValueError):
    """A file is not a valid safetensors file (truncated, corrupt header, bad offsets)."""


@dataclass(frozen=True)
class StoredTensor:
    """Where one tensor lives in a file: dtype, shape, and absolute byte range."""

    file: Path
    name: str
    dtype: torch.dtype
    shape: tuple[int, ...]
    begin: int
    end: int


def read_header(path: str | os.PathLike) -> dict[str, StoredTensor]:
    """Parse and check the header of ``path``; return its tensors by name (file order).

    Only a regular file is opened (never a FIFO or device); every malformed field, a
    5000-digit offset or a float in a shape included, raises ``SafetensorsFormatError`` naming the file.
    """
    path = Path(path)
    try:
        f = open_regular(path)
    except FolderError as e:
        raise SafetensorsFormatError(str(e)) from None
    with f:
        size = os.fstat(f.fileno()).st_size
        prefix = f.read(8)
        if len(prefix) < 8:
            raise SafetensorsFormatError(f"{path}: {size} bytes, too short to hold the 8-byte header length")
        (n,) = struct.unpack("<Q", prefix)
        if n > MAX_HEADER_BYTES or 8 + n > size:
            raise SafetensorsFormatError(
                f"{path}: header length field says {n} bytes but the file is {size} bytes "
                "(corrupt header, or the file is truncated)"
            )
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise SafetensorsFormatError(f"{path}: the JSON header is nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as e:  # also integers of more than 4300 digits
        raise SafetensorsFormatError(f"{path}: the JSON header is corrupt ({e})") from None
    if not isinstance(header, dict):
        raise SafetensorsFormatError(f"{path}: the JSON header is not an object")
    if json_depth(header) > MAX_JSON_DEPTH:
        raise SafetensorsFormatError(f"{path}: the JSON header nests more than {MAX_JSON_DEPTH} levels deep")
    header.pop("__metadata__", None)
    data_start = 8 + n
    tensors = {name: _stored(path, name, entry, data_start) for name, entry in header.items()}
    _check_offsets(path, tensors, data_start, size)
    return dict(sorted(tensors.items(), key=lambda item: item[1].begin))


def _whole(value: object, high: int) -> bool:
    """True for an ``int`` (not a bool, not a float) in ``[0, high]``."""
    return type(value) is int and 0 <= value <= high  # noqa: E721


def _stored(path: Path, name: str, entry: object, data_start: int) -> StoredTensor:
    fields = entry if isinstance(entry, dict) else {}
    dtype, shape, offsets = fields.get("dtype"), fields.get("shape"), fields.get("data_offsets")
    sound = (isinstance(dtype, str) and dtype in DTYPES
             and isinstance(shape, list) and len(shape) <= MAX_DIMS and all(_whole(d, MAX_NUMBER) for d in shape)
             and isinstance(offsets, list) and len(offsets) == 2 and all(_whole(o, MAX_NUMBER) for o in offsets))
    if not sound:
        shown = repr(entry) if len(repr(entry)) < 200 else repr(entry)[:200] + "..."
        raise SafetensorsFormatError(
            f"{path}: tensor {name!r} has a malformed header entry {shown} (need dtype in {sorted(DTYPES)}, "
            f"shape of at most {MAX_DIMS} whole numbers, data_offsets [begin, end] below 2**63)"
        )
    torch_dtype = DTYPES[dtype]
    numel = 1
    for d in shape:
        numel *= d  # at most MAX_DIMS factors below 2**63: a small product
    begin, end = offsets
    if end - begin != numel * torch_dtype.itemsize:
        raise SafetensorsFormatError(
            f"{path}: tensor {name!r} of {dtype} {list(shape)} needs {numel * torch_dtype.itemsize} bytes, "
            f"its data_offsets span {end - begin}"
        )
    return StoredTensor(path, name, torch_dtype, tuple(shape), data_start + begin, data_start + end)


def _check_offsets(path: Path, tensors: dict[str, StoredTensor], data_start: int, size: int) -> None:
    """Tensors must tile the data section exactly: no gap, no overlap, nothing missing or left over."""
    position = data_start
    for t in sorted(tensors.values(), key=lambda t: t.begin):
        if t.begin != position:
            raise SafetensorsFormatError(
                f"{path}: tensor {t.name!r} starts at byte {t.begin}, expected {position} (corrupt data_offsets)"
            )
        position = t.end
    if position > size:
        last = max(tensors.values(), key=lambda t: t.end)
        raise SafetensorsFormatError(
            f"{path}: truncated: the file is {size} bytes, but tensor {last.name!r} ends at byte {last.end}"
        )
    if position < size:
        raise SafetensorsFormatError(f"{path}: {size - position} unexpected bytes after the last tensor")


# ---- writing ---------------------------------------------------------------------------
@dataclass(frozen=True)
class TensorToWrite:
    """A tensor to stream into a file: its name, dtype, shape, and a function yielding its chunks.

    ``chunks()`` must yield tensors of ``dtype`` whose bytes, concatenated, are the tensor in
    row-major order (typically slices along dim 0).
    """

    name: str
    dtype: torch.dtype
    shape: tuple[int, ...]
    chunks: Callable[[], Iterable[torch.Tensor]]

    @property
    def nbytes(self) -> int:
        n = self.dtype.itemsize
        for d in self.shape:
            n *= d
        return n


def encode_header(tensors: list[TensorToWrite], metadata: dict[str, str] | None = None) -> bytes:
    """The 8-byte length plus the JSON header (padded with spaces to a multiple of 8)."""
    header: dict[str, object] = {"__metadata__": metadata or {"format": "pt"}}
    offset = 0
    for t in tensors:
        header[t.name] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw


def tensor_bytes(t: torch.Tensor) -> memoryview:
    """The raw little-endian bytes of ``t`` (any dtype, bf16 included) without a copy when contiguous."""
    return memoryview(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())


def write_safetensors(path: str | os.PathLike, tensors: list[TensorToWrite],
                      on_bytes: Callable[[int], object] | None = None) -> None:
    """Write ``tensors`` to ``path`` chunk by chunk, under a temporary name renamed at the end.

    ``on_bytes(n)`` is called after each chunk (a progress bar's ``update``).
    """
    path = Path(path)
    partial = partial_name(path)
    try:
        with open(partial, "wb") as f:
            f.write(encode_header(tensors))
            for t in tensors:
                _write_chunks(f, t, t.chunks(), on_bytes)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def _write_chunks(f, t: TensorToWrite, chunks: Iterable[torch.Tensor], on_bytes) -> None:
    written = 0
    for chunk in chunks:
        if chunk.dtype != t.dtype:
            raise TypeError(f"tensor {t.name!r}: a chunk has dtype {chunk.dtype}, expected {t.dtype}")
        n = f.write(tensor_bytes(chunk))
        written += n
        if on_bytes is not None:
            on_bytes(n)
    if written != t.nbytes:
        raise ValueError(f"tensor {t.name!r}: wrote {written} bytes, expected {t.nbytes} for shape {list(t.shape)}")
