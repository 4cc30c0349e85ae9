"""What a command-line tool needs to run split over torchrun's processes.

    torchrun --nproc-per-node 4 -m gptoss_edu.chat CHECKPOINT --parallel expert

Every process runs the same program. ``setup_for_chat`` joins the process group torchrun
describes, loads this rank's share and says whether this process is rank 0 (the one that
reads the keyboard and prints). Whatever rank 0 decides (the next prompt, "quit") reaches
the others through ``share_from_rank0``; the sampled tokens are shared by the model itself.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist

from gptoss_edu.parallel.launch import init_from_env
from gptoss_edu.parallel.loader import load_model
from gptoss_edu.parallel.transformer import ParallelTransformer


def setup_for_chat(checkpoint: str | os.PathLike, mode: str, device: str | None = None,
                   dtype: torch.dtype | None = None) -> tuple[ParallelTransformer, bool]:
    """Join torchrun's group, load this rank's share of ``checkpoint`` in ``mode``; return ``(model, is_rank0)``.

    ``device=None``: ``cuda:LOCAL_RANK`` with NCCL when CUDA is available, else the CPU with
    gloo. ``dtype=None``: bfloat16 on CUDA, float32 on the CPU.
    """
    use_cuda = (device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda")
    rank, _, _ = init_from_env("nccl" if use_cuda else "gloo")
    dtype = dtype if dtype is not None else (torch.bfloat16 if use_cuda else torch.float32)
    model = load_model(checkpoint, mode, device="cuda" if use_cuda and device is None else device, dtype=dtype,
                       verbose=True)
    return model, rank == 0


def share_from_rank0(value: object) -> object:
    """Rank 0's ``value`` (any picklable object) on every rank; without a process group, ``value`` itself."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
