"""The key/value cache that makes decoding one token cost one token of compute.

Without a cache, producing token ``n+1`` reruns the model over all ``n`` earlier tokens.
Keys and values of earlier tokens never change (attention is causal), so each layer keeps
them and a decode step only computes the new token's query, key and value.

gpt-oss alternates two kinds of layer, and the cache follows:
- full-attention layers (odd) keep every key: a buffer that grows by doubling (or is
  preallocated with ``capacity``);
- sliding-window layers (even) never look further back than ``sliding_window`` tokens, so
  they keep a *ring buffer* of exactly that many slots: position ``p`` lives in slot
  ``p % sliding_window`` and overwrites the key that just fell out of the window.

Each slot remembers the position it holds (``-1`` when empty); attention builds its mask
from these positions, so the ring's rotation needs no reordering. Every tensor has a batch
dimension ``B``; all rows share the same positions.

Batches: one position per slot for all rows is a limit, not an oversight. A batch is ``B``
sequences of the *same* length, advancing together (each row then equals that sequence run
alone: ``tests/test_prefill.py``). Ragged or left-padded batches would need a position per
row and per slot, and masks per row in every attention core (the Triton kernels take one
``(T,)`` position vector); they are not supported: run such sequences one at a time
(``gptoss_edu.generate`` takes one sequence and refuses a multi-row prompt).

The cache owns the positions. ``len(cache)`` counts the tokens held (host side) and
``cache.offset`` holds the same number as a ``(1,)`` tensor on the cache's device, from which
``positions(T)`` builds the new tokens' positions without asking the host: that is what lets
a decode step be recorded once as a CUDA graph and replayed (``gptoss_edu.fast.gpu_decode``).
A forward pass rotates and writes with ``write_at``, then counts the tokens with ``advance``.
With ``fixed_shapes`` every write returns whole buffers (empty slots masked by position
``-1``) instead of the filled prefix, so each step has the same shapes, as a graph needs.
"""
from __future__ import annotations

import torch

from gptoss_edu.config import ModelConfig

_MIN_CAPACITY = 256
Attended = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # keys, values, their positions


class LayerCache:
    """Keys and values of one layer: ``(B, slots, KV, D)`` plus the position held by each slot."""

    def __init__(self, batch_size: int, num_kv_heads: int, head_dim: int, slots: int, ring: bool,
                 device: torch.device | str | None, dtype: torch.dtype):
        self.ring = ring
        self.keys = torch.zeros(batch_size, slots, num_kv_heads, head_dim, device=device, dtype=dtype)
        self.values = torch.zeros_like(self.keys)
        self.positions = torch.full((slots,), -1, dtype=torch.long, device=device)

    @property
    def slots(self) -> int:
        return self.keys.shape[1]

    def write_at(self, positions: torch.Tensor, k: torch.Tensor, v: torch.Tensor, held: int,
                 fixed_shapes: bool = False) -> Attended:
        """Store ``k, v (B, T, KV, D)`` of ``positions (T,)``; return every key, value and position to attend.

        ``held`` is the number of tokens already stored (the positions are ``held .. held+T-1``).
        The returned keys include the new ones, so a prefill longer than the ring still lets
        each query see its whole window before the ring overwrites the oldest entries.
        """
        if k.shape[0] != self.keys.shape[0]:
            raise ValueError(f"cache holds batch {self.keys.shape[0]}, got keys for batch {k.shape[0]}")
        if self.ring:
            return self._write_ring(positions, k, v)
        end = held + k.shape[1]
        if end > self.slots:
            self._grow(max(end, 2 * self.slots))
        self.keys.index_copy_(1, positions, k)
        self.values.index_copy_(1, positions, v)
        self.positions.index_copy_(0, positions, positions)
        if fixed_shapes:
            return self.keys, self.values, self.positions
        return self.keys[:, :end], self.values[:, :end], self.positions[:end]

    def _grow(self, slots: int) -> None:
        extra = slots - self.slots
        self.keys = torch.cat([self.keys, self.keys.new_zeros(self.keys.shape[0], extra, *self.keys.shape[2:])], dim=1)
        self.values = torch.cat([self.values, self.values.new_zeros(self.values.shape[0], extra, *self.values.shape[2:])], dim=1)
        self.positions = torch.cat([self.positions, self.positions.new_full((extra,), -1)])

    def _write_ring(self, positions: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> Attended:
        keys = torch.cat([self.keys, k], dim=1)  # old ring entries first, then the new tokens
        values = torch.cat([self.values, v], dim=1)
        all_positions = torch.cat([self.positions, positions])
        kept = min(k.shape[1], self.slots)  # only the newest `slots` tokens stay
        slot = positions[-kept:] % self.slots
        self.keys.index_copy_(1, slot, k[:, -kept:])
        self.values.index_copy_(1, slot, v[:, -kept:])
        self.positions.index_copy_(0, slot, positions[-kept:])
        return keys, values, all_positions


class KVCache:
    """One ``LayerCache`` per layer: ring buffers on sliding-window layers, growing buffers elsewhere.

    ``capacity`` preallocates the full-attention layers for that many tokens (they still
    grow past it if needed, except where ``room_left`` is relied on). ``len(cache)`` is the
    number of tokens already processed, i.e. the position of the next token.
    """

    def __init__(self, config: ModelConfig, batch_size: int = 1, capacity: int | None = None,
                 device: torch.device | str | None = None, dtype: torch.dtype = torch.float32,
                 fixed_shapes: bool = False):
        full_slots = capacity if capacity is not None else _MIN_CAPACITY
        self.max_context_length = config.max_context_length
        self.fixed_shapes = fixed_shapes
        self.length = 0  # tokens held, on the host
        self.offset = torch.zeros(1, dtype=torch.long, device=device)  # the same count, on the device
        self.layers = [
            LayerCache(
                batch_size, config.num_key_value_heads, config.head_dim,
                slots=config.sliding_window if config.layer_uses_sliding_window(i) else full_slots,
                ring=config.layer_uses_sliding_window(i), device=device, dtype=dtype,
            )
            for i in range(config.num_hidden_layers)
        ]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, layer: int) -> LayerCache:
        return self.layers[layer]

    def positions(self, num_tokens: int) -> torch.Tensor:
        """``(num_tokens,)`` positions of the next tokens, computed on the device from ``offset``."""
        return self.offset + torch.arange(num_tokens, device=self.offset.device)

    def write_at(self, layer: int, positions: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> Attended:
        """Store layer ``layer``'s new ``k, v (B, T, KV, D)`` at ``positions``; return what its queries attend."""
        return self.layers[layer].write_at(positions, k, v, self.length, self.fixed_shapes)

    def advance(self, tokens: int) -> None:
        """Count ``tokens`` more tokens as held, on the host and on the device (after every layer wrote them)."""
        self.length += tokens
        self.offset += tokens

    def room_left(self) -> int:
        """Tokens the cache takes before a full-attention layer must grow (moving its tensors) or the context ends."""
        full = [layer.slots for layer in self.layers if not layer.ring]
        return min(full + [self.max_context_length]) - self.length
