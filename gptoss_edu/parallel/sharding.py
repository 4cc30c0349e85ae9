"""Which slice of every checkpoint tensor each rank holds, for tensor and expert parallelism.

Both modes split attention by key/value head groups: rank ``r`` of ``w`` holds KV heads
``[r*KV/w, (r+1)*KV/w)`` and the ``G = heads/KV`` query heads that read each of them, so
attention needs nothing from other ranks until the ``out`` projection:

- ``qkv`` rows: its query rows, its key rows and its value rows (three runs, joined);
- ``sinks``: its query heads; ``out.weight`` columns: its query heads' channels;
  ``out.bias`` on rank 0 only (the partial outputs are summed, the bias must count once).

Experts:
- ``"tensor"``: every rank holds a slice of *every* expert along the intermediate
  dimension. ``mlp1`` rows come in (gate, linear) pairs (rows ``2i, 2i+1``), so intermediate
  units ``[i0, i1)`` are the contiguous rows ``[2*i0, 2*i1)``; ``mlp2`` takes the matching
  input columns, which in MXFP4 are whole 32-value blocks ``[i0/32, i1/32)`` of its
  ``blocks``/``scales``. The split is therefore in units of 32 (ranks may differ by one
  block when ``I/32`` is not a multiple of ``w``). ``mlp2_bias`` on rank 0 only.
- ``"expert"``: rank ``r`` holds experts ``[r*E/w, (r+1)*E/w)`` whole.

The router, the norms and (in tensor mode) ``mlp2_bias`` are small and replicated. The
embedding and unembedding (1.16 GB each in bf16) are split by vocabulary rows in chunks of
``ceil(V/w)``.

A ``ShardPlan`` gives, for each tensor name of the rank's model, the index (tuple of slices
into the original-layout tensor) to read, a list of them to join along dim 0 (``qkv``), or
``None`` for a tensor this rank holds as zeros.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from gptoss_edu.config import MXFP4_BLOCK, ModelConfig

Mode = Literal["tensor", "expert"]
MODES = ("tensor", "expert")
Index = tuple[slice, ...]
ALL = slice(None)


def even_ranges(total: int, parts: int) -> list[tuple[int, int]]:
    """Split ``range(total)`` into ``parts`` contiguous runs whose lengths differ by at most one."""
    base, extra = divmod(total, parts)
    bounds = [0]
    for p in range(parts):
        bounds.append(bounds[-1] + base + (1 if p < extra else 0))
    return list(zip(bounds[:-1], bounds[1:]))


def vocab_ranges(vocab_size: int, world_size: int) -> list[tuple[int, int]]:
    """Each rank's vocabulary rows: chunks of ``ceil(V/w)``, the last one shorter."""
    chunk = math.ceil(vocab_size / world_size)
    return [(min(r * chunk, vocab_size), min((r + 1) * chunk, vocab_size)) for r in range(world_size)]


def check_world_size(config: ModelConfig, mode: str, world_size: int) -> None:
    """Raise ``ValueError`` naming the numbers when ``config`` cannot be split ``world_size`` ways in ``mode``."""
    if mode not in MODES:
        raise ValueError(f"mode must be 'tensor' or 'expert', got {mode!r}")
    problems = []
    if config.num_key_value_heads % world_size:
        problems.append(f"num_key_value_heads={config.num_key_value_heads} (attention is split by key/value head)")
    if mode == "expert" and config.num_experts % world_size:
        problems.append(f"num_experts={config.num_experts} (expert mode gives each rank whole experts)")
    blocks = config.intermediate_size // MXFP4_BLOCK
    if mode == "tensor" and blocks < world_size:
        problems.append(f"intermediate_size={config.intermediate_size}, which holds only {blocks} MXFP4 blocks of "
                        f"{MXFP4_BLOCK} (tensor mode gives each rank at least one)")
    if problems:
        raise ValueError(f"world size {world_size} cannot split {config.name} in {mode} mode: it does not divide "
                         + "; ".join(problems))


@dataclass(frozen=True)
class ShardPlan:
    """Rank ``rank`` of ``world_size``'s share of ``config`` in ``mode``."""

    config: ModelConfig
    mode: Mode
    rank: int
    world_size: int

    def __post_init__(self) -> None:
        check_world_size(self.config, self.mode, self.world_size)
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} is outside world size {self.world_size}")

    # ---- the ranges this rank owns -----------------------------------------------------------
    @property
    def kv_heads(self) -> tuple[int, int]:
        per_rank = self.config.num_key_value_heads // self.world_size
        return self.rank * per_rank, (self.rank + 1) * per_rank

    @property
    def query_heads(self) -> tuple[int, int]:
        group = self.config.num_attention_heads // self.config.num_key_value_heads
        k0, k1 = self.kv_heads
        return k0 * group, k1 * group

    @property
    def intermediate(self) -> tuple[int, int]:
        """Intermediate units ``[i0, i1)`` of every expert (tensor mode; all of them in expert mode)."""
        if self.mode == "expert":
            return 0, self.config.intermediate_size
        b0, b1 = even_ranges(self.config.intermediate_size // MXFP4_BLOCK, self.world_size)[self.rank]
        return b0 * MXFP4_BLOCK, b1 * MXFP4_BLOCK

    @property
    def experts(self) -> tuple[int, int]:
        """Experts ``[e0, e1)`` held (all of them in tensor mode)."""
        if self.mode == "tensor":
            return 0, self.config.num_experts
        per_rank = self.config.num_experts // self.world_size
        return self.rank * per_rank, (self.rank + 1) * per_rank

    @property
    def vocab(self) -> tuple[int, int]:
        return vocab_ranges(self.config.vocab_size, self.world_size)[self.rank]

    def local_config(self) -> ModelConfig:
        """The config whose ``Transformer`` has this rank's tensor shapes (router and experts count aside)."""
        (k0, k1), (q0, q1), (i0, i1), (v0, v1) = self.kv_heads, self.query_heads, self.intermediate, self.vocab
        return self.config.replace(
            num_key_value_heads=k1 - k0, num_attention_heads=q1 - q0, intermediate_size=i1 - i0,
            vocab_size=v1 - v0, name=f"{self.config.name} ({self.mode} rank {self.rank}/{self.world_size})",
        )

    # ---- what to read for each tensor ----------------------------------------------------------
    def index(self, name: str) -> Index | list[Index] | None:
        """The slice of original-layout tensor ``name`` this rank holds (``None``: zeros on this rank)."""
        suffix = name.split(".", 2)[2] if name.startswith("block.") else name
        if suffix in ("embedding.weight", "unembedding.weight"):
            return (slice(*self.vocab),)
        if suffix.endswith("norm.scale") or suffix.startswith("mlp.gate."):
            return (ALL,)
        if suffix.startswith("attn."):
            return self._attention_index(suffix)
        if suffix.startswith("mlp."):
            return self._experts_index(suffix)
        raise KeyError(f"{name!r} is not a gpt-oss tensor name")

    def _attention_index(self, suffix: str) -> Index | list[Index] | None:
        c = self.config
        (k0, k1), (q0, q1) = self.kv_heads, self.query_heads
        d = c.head_dim
        if suffix in ("attn.qkv.weight", "attn.qkv.bias"):
            return [
                (slice(q0 * d, q1 * d),),
                (slice(c.q_dim + k0 * d, c.q_dim + k1 * d),),
                (slice(c.q_dim + c.kv_dim + k0 * d, c.q_dim + c.kv_dim + k1 * d),),
            ]
        if suffix == "attn.sinks":
            return (slice(q0, q1),)
        if suffix == "attn.out.weight":
            return (ALL, slice(q0 * d, q1 * d))
        if suffix == "attn.out.bias":
            return (ALL,) if self.rank == 0 else None
        raise KeyError(f"attention tensor {suffix!r} is not a gpt-oss tensor name")

    def _experts_index(self, suffix: str) -> Index | None:
        if self.mode == "expert":
            return (slice(*self.experts),)
        i0, i1 = self.intermediate
        if suffix.startswith(("mlp.mlp1_weight.", "mlp.mlp1_bias")):
            return (ALL, slice(2 * i0, 2 * i1))  # (gate, linear) row pairs of units i0 .. i1
        if suffix.startswith("mlp.mlp2_weight."):
            return (ALL, ALL, slice(i0 // MXFP4_BLOCK, i1 // MXFP4_BLOCK))  # whole MXFP4 blocks of columns
        if suffix == "mlp.mlp2_bias":
            return (ALL,) if self.rank == 0 else None
        raise KeyError(f"expert tensor {suffix!r} is not a gpt-oss tensor name (packed experts expected)")

    def is_split(self, name: str) -> bool:
        """True when ranks hold different parts of ``name`` (False for replicated tensors)."""
        suffix = name.split(".", 2)[2] if name.startswith("block.") else name
        replicated = suffix.endswith("norm.scale") or suffix.startswith("mlp.gate.")
        return not (replicated or (self.mode == "tensor" and suffix == "mlp.mlp2_bias"))
