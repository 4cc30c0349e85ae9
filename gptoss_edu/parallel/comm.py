"""The collectives a split model needs, wrapped so every byte sent is counted.

A ``Communicator`` is one rank's handle on a ``torch.distributed`` process group (gloo on
CPU, NCCL on GPU). The model calls only these methods, so ``comm.sent`` tells exactly what
each kind of collective cost: the bytes this rank handed to it (its *payload*).

What the payload means per collective:
- ``all_reduce``: the whole tensor (every rank contributes all of it). A ring all-reduce
  puts ``2 (w-1)/w`` times that on each rank's link; ``wire_bytes`` applies that factor.
- ``all_gather``: this rank's chunk (every other rank receives it once).
- ``all_to_all``: the rows sent to *other* ranks (rows a rank keeps for itself cost nothing).
- ``broadcast``: the tensor, counted on the source rank only.
"""
from __future__ import annotations

import math
from collections import Counter

import torch
import torch.distributed as dist


class Communicator:
    """Counted collectives over ``group`` (the default group when ``None``)."""

    def __init__(self, group: dist.ProcessGroup | None = None):
        if not dist.is_initialized():
            raise RuntimeError("torch.distributed is not initialised: call dist.init_process_group "
                               "(or start with torchrun and gptoss_edu.parallel.init_from_env) first")
        self.group = group
        self.rank = dist.get_rank(group)
        self.world_size = dist.get_world_size(group)
        self.sent: Counter[str] = Counter()  # collective name -> payload bytes this rank sent
        self.calls: Counter[str] = Counter()

    def _count(self, kind: str, nbytes: int) -> None:
        self.sent[kind] += nbytes
        self.calls[kind] += 1

    def reset(self) -> None:
        """Start counting from zero."""
        self.sent.clear()
        self.calls.clear()

    @property
    def total_sent(self) -> int:
        return sum(self.sent.values())

    def wire_bytes(self) -> float:
        """Bytes on this rank's link: ring all-reduce costs ``2 (w-1)/w`` of its payload, the rest as counted."""
        w = self.world_size
        ring = 2 * (w - 1) / w if w > 1 else 0.0
        return self.sent["all_reduce"] * ring + self.total_sent - self.sent["all_reduce"]

    def all_reduce(self, x: torch.Tensor) -> torch.Tensor:
        """Sum of ``x`` over ranks (in place, also returned)."""
        if self.world_size == 1:
            return x
        self._count("all_reduce", x.numel() * x.element_size())
        dist.all_reduce(x, group=self.group)
        return x

    def all_gather(self, x: torch.Tensor, sizes: list[int], dim: int = -1) -> torch.Tensor:
        """Concatenate every rank's ``x`` along ``dim``; rank ``r`` holds ``sizes[r]`` entries there.

        Chunks may differ in size (the last vocabulary shard is shorter): each is padded to the
        largest, gathered, and trimmed.
        """
        if self.world_size == 1:
            return x
        dim = dim % x.dim()
        width = max(sizes)
        padded = torch.nn.functional.pad(x, (0, 0) * (x.dim() - 1 - dim) + (0, width - x.shape[dim]))
        self._count("all_gather", padded.numel() * padded.element_size())
        chunks = [torch.empty_like(padded) for _ in range(self.world_size)]
        dist.all_gather(chunks, padded.contiguous(), group=self.group)
        return torch.cat([c.narrow(dim, 0, n) for c, n in zip(chunks, sizes)], dim=dim)

    def all_to_all(self, x: torch.Tensor, send_counts: list[int], receive_counts: list[int]) -> torch.Tensor:
        """Send ``x``'s rows in consecutive runs of ``send_counts[r]`` to rank ``r``; return the rows received, by source rank."""
        if self.world_size == 1:
            return x.clone()
        row_bytes = math.prod(x.shape[1:]) * x.element_size()
        self._count("all_to_all", (sum(send_counts) - send_counts[self.rank]) * row_bytes)
        out = x.new_empty((sum(receive_counts), *x.shape[1:]))
        dist.all_to_all_single(out, x.contiguous(), output_split_sizes=receive_counts,
                               input_split_sizes=send_counts, group=self.group)
        return out

    def exchange_counts(self, send_counts: torch.Tensor) -> torch.Tensor:
        """``send_counts (w,)`` int64 -> how many rows each rank will send to this one, ``(w,)``."""
        if self.world_size == 1:
            return send_counts.clone()
        self._count("all_to_all", (self.world_size - 1) * send_counts.element_size())
        received = torch.empty_like(send_counts)
        dist.all_to_all_single(received, send_counts, group=self.group)
        return received

    def broadcast(self, x: torch.Tensor, src: int = 0) -> torch.Tensor:
        """Rank ``src``'s ``x`` on every rank (in place, also returned)."""
        if self.world_size == 1:
            return x
        if self.rank == src:
            self._count("broadcast", x.numel() * x.element_size())
        dist.broadcast(x, src=dist.get_global_rank(self.group, src) if self.group is not None else src, group=self.group)
        return x
