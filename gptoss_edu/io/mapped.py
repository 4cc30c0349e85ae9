"""Packed expert weights backed by the checkpoint's files instead of the process's memory.

``load_model(path, mmap=True)`` keeps every MXFP4 ``blocks``/``scales`` tensor (10 of the
20b's 13.8 GB) as a memory map of its bytes in the ``.safetensors`` file: nothing is copied
at load time, a decode step pulls in only the pages of the experts it reads, and the
operating system may drop those pages again under memory pressure (they are file-backed,
not anonymous, so they need no swap). A 16 GB laptop can then run the 20b.

The maps are private copy-on-write (``MAP_PRIVATE``): the model never writes to them, and if
anything did, the file on disk would stay untouched.
"""
from __future__ import annotations

import numpy as np
import torch

from gptoss_edu.io.safetensors_io import StoredTensor

MAPPED_SUFFIXES = (".blocks", ".scales")  # the packed expert tensors: uint8, stored whole in both layouts


def map_stored(t: StoredTensor) -> torch.Tensor:
    """A zero-copy CPU tensor viewing ``t``'s bytes in its file (private copy-on-write map)."""
    raw = np.memmap(t.file, dtype=np.uint8, mode="c", offset=t.begin, shape=(t.end - t.begin,))
    return torch.from_numpy(raw).view(t.dtype).reshape(t.shape)


def mapped_tensor(ckpt, name: str) -> torch.Tensor | None:
    """Model tensor ``name`` mapped from ``ckpt``'s file, or ``None`` when it cannot be mapped.

    Only packed expert tensors are mapped, and only when one stored tensor holds them whole
    in the model's dtype and orientation (true of both layouts' ``blocks``/``scales``).
    """
    if not name.endswith(MAPPED_SUFFIXES):
        return None
    stored = ckpt.stored_whole(name)
    if stored is None or stored.dtype != torch.uint8:
        return None
    return map_stored(stored)


def assign_tensor(model: torch.nn.Module, name: str, value: torch.Tensor) -> None:
    """Replace the buffer or parameter ``name`` (a dotted state-dict name) of ``model`` by ``value``."""
    module_name, _, attribute = name.rpartition(".")
    module = model.get_submodule(module_name)
    if attribute in module._buffers:
        module._buffers[attribute] = value
    else:
        module._parameters[attribute] = torch.nn.Parameter(value, requires_grad=False)
