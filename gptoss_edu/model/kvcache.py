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
"""
from __future__ import annotations

import torch

from gptoss_edu.config import ModelConfig

_MIN_CAPACITY = 256


class LayerCache:
    """Keys and values of one layer: ``(B, slots, KV, D)`` plus the position held by each slot."""

    def __init__(self, batch_size: int, num_kv_heads: int, head_dim: int, slots: int, ring: bool,
                 device: torch.device | str | None, dtype: torch.dtype):
        self.ring = ring
        self.length = 0  # tokens seen so far
        self.keys = torch.zeros(batch_size, slots, num_kv_heads, head_dim, device=device, dtype=dtype)
        self.values = torch.zeros_like(self.keys)
        self.positions = torch.full((slots,), -1, dtype=torch.long, device=device)

    @property
    def slots(self) -> int:
        return self.keys.shape[1]

    def update(self, k: torch.Tensor, v: torch.Tensor, start: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Add ``k, v (B, T, KV, D)`` of positions ``start .. start+T-1``; return every key, value and position to attend.

        The returned keys include the new ones, so a prefill longer than the ring still lets
        each query see its whole window before the ring overwrites the oldest entries.
        """
        if k.shape[0] != self.keys.shape[0]:
            raise ValueError(f"cache holds batch {self.keys.shape[0]}, got keys for batch {k.shape[0]}")
        if start != self.length:
            raise ValueError(f"cache holds {self.length} tokens, got new tokens starting at position {start}")
        if self.ring:
            positions = torch.arange(start, start + k.shape[1], device=self.positions.device)
            keys, values, all_positions = self._update_ring(k, v, positions)
        else:
            keys, values, all_positions = self._update_full(k, v)
        self.length += k.shape[1]
        return keys, values, all_positions

    def _update_full(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        end = self.length + k.shape[1]
        if end > self.slots:
            self._grow(max(end, 2 * self.slots))
        self.keys[:, self.length:end] = k
        self.values[:, self.length:end] = v
        self.positions[self.length:end] = torch.arange(self.length, end, device=self.positions.device)
        return self.keys[:, :end], self.values[:, :end], self.positions[:end]

    def _grow(self, slots: int) -> None:
        extra = slots - self.slots
        self.keys = torch.cat([self.keys, self.keys.new_zeros(self.keys.shape[0], extra, *self.keys.shape[2:])], dim=1)
        self.values = torch.cat([self.values, self.values.new_zeros(self.values.shape[0], extra, *self.values.shape[2:])], dim=1)
        self.positions = torch.cat([self.positions, self.positions.new_full((extra,), -1)])

    def _update_ring(self, k: torch.Tensor, v: torch.Tensor, positions: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        keys = torch.cat([self.keys, k], dim=1)  # old ring entries first, then the new tokens
        values = torch.cat([self.values, v], dim=1)
        all_positions = torch.cat([self.positions, positions])
        kept = min(k.shape[1], self.slots)  # only the newest `slots` tokens stay
        slot = positions[-kept:] % self.slots
        self.keys[:, slot] = k[:, -kept:]
        self.values[:, slot] = v[:, -kept:]
        self.positions[slot] = positions[-kept:]
        return keys, values, all_positions


class KVCache:
    """One ``LayerCache`` per layer: ring buffers on sliding-window layers, growing buffers elsewhere.

    ``capacity`` preallocates the full-attention layers for that many tokens (they still
    grow past it if needed). ``len(cache)`` is the number of tokens already processed, i.e.
    the position of the next token.
    """

    def __init__(self, config: ModelConfig, batch_size: int = 1, capacity: int | None = None,
                 device: torch.device | str | None = None, dtype: torch.dtype = torch.float32):
        full_slots = capacity if capacity is not None else _MIN_CAPACITY
        self.layers = [
            LayerCache(
                batch_size, config.num_key_value_heads, config.head_dim,
                slots=config.sliding_window if config.layer_uses_sliding_window(i) else full_slots,
                ring=config.layer_uses_sliding_window(i), device=device, dtype=dtype,
            )
            for i in range(config.num_hidden_layers)
        ]

    def __len__(self) -> int:
        return self.layers[0].length if self.layers else 0

    def __getitem__(self, layer: int) -> LayerCache:
        return self.layers[layer]
