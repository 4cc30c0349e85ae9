"""Load one rank's share of a checkpoint, reading only that share from disk.

``load_model(path, mode)`` is called on every rank of an initialised process group. Each
rank opens the checkpoint (headers only), works out its ``ShardPlan`` and reads exactly its
slices with ``safetensors``' sliced reads (``safe_open(...).get_slice(name)[...]``), which
copy only the requested bytes: rows of ``qkv``, columns of ``out``, pairs of ``mlp1`` rows,
whole MXFP4 blocks of ``mlp2`` columns, whole experts. Both layouts work: a Hugging Face
``q_proj``/``k_proj``/``v_proj`` triple is read as the row ranges of the fused ``qkv``.
"""
from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import dataclass

import torch
import torch.distributed as dist
from safetensors import safe_open

from gptoss_edu.io.checkpoint import Checkpoint, CheckpointError, open_checkpoint
from gptoss_edu.io.layouts import MXFP4
from gptoss_edu.model.transformer import Transformer
from gptoss_edu.parallel.comm import Communicator
from gptoss_edu.parallel.sharding import Index, ShardPlan
from gptoss_edu.parallel.transformer import ParallelTransformer


class SliceReader:
    """Reads slices of original-layout tensors from an opened checkpoint (either layout)."""

    def __init__(self, ckpt: Checkpoint, files: ExitStack):
        self.ckpt, self._files = ckpt, files  # files: keeps each opened file until loading ends
        self._handles: dict[str, object] = {}
        self.parts: dict[str, list] = {}
        for original, part, _ in ckpt.expected.values():
            self.parts.setdefault(original, []).append(part)

    def _handle(self, stored_name: str):
        file = str(self.ckpt.stored[stored_name].file)
        if file not in self._handles:
            self._handles[file] = self._files.enter_context(safe_open(file, framework="pt"))
        return self._handles[file]

    def read(self, name: str, index: Index | list[Index]) -> torch.Tensor:
        """``tensor[index]`` of original-layout tensor ``name``; a list of indices is read and joined along dim 0."""
        if isinstance(index, list):
            return torch.cat([self.read(name, i) for i in index])
        row0, row1, _ = index[0].indices(self.ckpt.spec[name].shape[0])
        pieces = []
        for part in sorted(self.parts[name], key=lambda p: p.row0):
            lo, hi = max(row0, part.row0), min(row1, part.row0 + part.rows)
            if lo < hi:
                local = (slice(lo - part.row0, hi - part.row0), *index[1:])
                pieces.append(self._handle(part.name).get_slice(part.name)[local])
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces)


def check_devices(device_type: str, backend: str, local_world_size: int, cuda_devices: int) -> None:
    """Raise ``ValueError`` naming the numbers when the ranks on this machine and its devices do not match."""
    if backend == "nccl" and device_type != "cuda":
        raise ValueError(f"the process group uses NCCL, which needs CUDA tensors, but device type is {device_type!r}")
    if device_type == "cuda" and cuda_devices < local_world_size:
        raise ValueError(f"{local_world_size} ranks run on this machine but it has {cuda_devices} CUDA device(s): "
                         f"start at most {cuda_devices} processes per node (torchrun --nproc-per-node {cuda_devices})")


def rank_device(device: str | torch.device | None, comm: Communicator) -> torch.device:
    """This rank's device: ``cuda`` means ``cuda:LOCAL_RANK``; checked against the group and the machine."""
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", comm.world_size))
    local_rank = int(os.environ.get("LOCAL_RANK", comm.rank))
    device = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda_devices = torch.cuda.device_count() if device.type == "cuda" else 0
    check_devices(device.type, dist.get_backend(comm.group), local_world, cuda_devices)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank) if device.index is None else device
        torch.cuda.set_device(device)  # NCCL's own buffers and streams go to this rank's GPU
    return device


@dataclass(frozen=True)
class ShardReport:
    """What one rank holds: resident bytes, the share expected from the plan, the whole model's bytes."""

    rank: int
    world_size: int
    mode: str
    resident_bytes: int
    expected_bytes: int
    whole_model_bytes: int

    def __str__(self) -> str:
        return (f"rank {self.rank}/{self.world_size} ({self.mode}): {_size(self.resident_bytes)} resident, "
                f"expected share {_size(self.expected_bytes)} of {_size(self.whole_model_bytes)}")


def _size(nbytes: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.2f} {unit}"
    return f"{nbytes:.0f} B"


def expected_share(plan: ShardPlan, dtype: torch.dtype) -> tuple[int, int]:
    """``(bytes this rank should hold, bytes of the whole model)``: split tensors / world + replicated ones."""
    whole = Transformer(plan.config, device="meta", dtype=dtype, experts="packed").state_dict()
    share = total = 0
    for name, t in whole.items():
        nbytes = t.numel() * t.element_size()
        total += nbytes
        share += nbytes / plan.world_size if plan.is_split(name) else nbytes
    return round(share), total


def load_model(path: str | os.PathLike, mode: str = "tensor", device: str | torch.device | None = None,
               dtype: torch.dtype = torch.float32, group: dist.ProcessGroup | None = None,
               layout: str = "auto", verbose: bool = False) -> ParallelTransformer:
    """This rank's share of the checkpoint at ``path``, as a ``ParallelTransformer`` in ``mode``.

    Call on every rank of an initialised process group (``group``, default the whole world)
    with the same arguments. ``device=None`` takes ``cuda:LOCAL_RANK`` when CUDA is there, the
    CPU otherwise. ``model.report`` (a ``ShardReport``) gives the bytes this rank holds;
    ``verbose`` prints it. The model runs the plain-torch cores on every device;
    ``gptoss_edu.fast.accelerate(model)`` swaps in the Triton ones (the split survives
    the swap; the kernels have not been run split on GPUs yet).
    """
    comm = Communicator(group)
    ckpt = open_checkpoint(path, layout)
    if ckpt.experts != MXFP4:
        raise CheckpointError(f"{ckpt.folder}: stores dequantized experts; parallel loading needs the MXFP4 ones")
    plan = ShardPlan(ckpt.config, mode, comm.rank, comm.world_size)
    device = rank_device(device, comm)
    model = ParallelTransformer(plan, comm, device="meta", dtype=dtype)
    model.to_empty(device=device)
    with torch.no_grad(), ExitStack() as files:
        reader = SliceReader(ckpt, files)
        for name, target in model.state_dict().items():
            index = plan.index(name)
            if index is None:
                target.zero_()  # a bias that rank 0 adds for everyone
                continue
            value = reader.read(name, index)
            if value.shape != target.shape:
                raise CheckpointError(f"{ckpt.folder}: slice {index} of {name!r} has shape {list(value.shape)}, "
                                      f"rank {comm.rank} expects {list(target.shape)}")
            target.copy_(value.to(target.dtype))
    model.eval().requires_grad_(False)
    model.report = ShardReport(comm.rank, comm.world_size, mode, model.resident_bytes(), *expected_share(plan, dtype))
    if verbose:
        print(f"{model.report}\n", end="", flush=True)  # one write, so the ranks' lines never interleave
    return model
