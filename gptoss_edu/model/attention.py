"""Grouped-query attention with learned sinks and an optional sliding window.

gpt-oss attention, per layer:
- one fused ``qkv`` projection (with bias) gives 64 query heads and 8 key/value heads of
  64 channels; query head ``h`` reads key/value head ``h // 8`` (grouped-query attention);
- RoPE (YaRN) rotates queries and keys by their absolute positions;
- scores ``q.k / sqrt(head_dim)``, causal; on even layers a query at position ``p`` sees only
  keys ``p-127 .. p`` (a 128-token sliding window);
- every head has one learned *sink* logit that joins the softmax denominator but carries no
  value: ``softmax([scores, sink])`` with the sink column dropped, so a head can attend
  "nowhere" and its weights may sum to less than 1;
- an ``out`` projection (with bias) and the residual add.

``attention_with_sinks`` is the core as a plain function of tensors; ``AttentionBlock`` calls
it through its ``attention_core`` attribute so a fused kernel can replace it, and likewise
``rope_and_store`` (rotate q and k, write k and v into the cache) through ``rope_store_core``
and the pre-norm with the ``qkv`` projection (``gptoss_edu.model.norm.norm_linear``) through
``norm_linear_core`` (see ``gptoss_edu.model.transformer``). One forward pass serves the
teaching path, prefill and graph-replayed decode: the positions are a tensor the ``KVCache`` provides.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from gptoss_edu.config import ModelConfig
from gptoss_edu.model.empty import empty_module
from gptoss_edu.model.norm import RMSNorm, norm_linear
from gptoss_edu.model.rope import RotaryEmbedding, apply_rotary

if TYPE_CHECKING:
    from gptoss_edu.model.kvcache import KVCache


def attention_mask(q_positions: torch.Tensor, k_positions: torch.Tensor, sliding_window: int = 0) -> torch.Tensor:
    """``(T, S)`` bool, True where query ``t`` may attend key ``s``.

    Causal (``k <= q``); with ``sliding_window > 0`` also ``q - k < sliding_window``. Keys at a
    negative position mark empty cache slots and are never visible.
    """
    q = q_positions[:, None]
    k = k_positions[None, :]
    visible = (k >= 0) & (k <= q)
    if sliding_window > 0:
        visible &= q - k < sliding_window
    return visible


def attention_with_sinks(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    sinks: torch.Tensor,
    sm_scale: float,
    q_positions: torch.Tensor,
    k_positions: torch.Tensor,
    sliding_window: int = 0,
) -> torch.Tensor:
    """Attention of ``q (B, T, KV, G, D)`` over ``k, v (B, S, KV, D)``; returns ``(B, T, KV*G*D)``.

    ``KV`` key/value heads each serve ``G`` query heads (query head ``kv * G + g``); ``sinks``
    has one logit per query head, ``(KV*G,)``. Positions are absolute token positions of the
    queries ``(T,)`` and keys ``(S,)`` (``-1`` = empty slot); they define the causal and
    sliding-window mask, so keys may come in any order (a ring-buffer cache).

    Computed in float32 whatever the input dtype (activations only, so the upcast is cheap;
    CPUs without bf16 units are also much faster at it), returned in ``q.dtype``.
    """
    batch, num_queries, num_kv, group, head_dim = q.shape
    out_dtype = q.dtype
    q, k, v = q.float(), k.float(), v.float()
    scores = torch.einsum("btkgd,bskd->bkgts", q, k) * sm_scale  # (B, KV, G, T, S)
    visible = attention_mask(q_positions, k_positions, sliding_window)
    scores = scores.masked_fill(~visible, float("-inf"))
    sink_logits = sinks.float().reshape(1, num_kv, group, 1, 1).expand(batch, -1, -1, num_queries, 1)
    weights = torch.softmax(torch.cat([scores, sink_logits], dim=-1), dim=-1)[..., :-1]  # drop the sink column
    out = torch.einsum("bkgts,bskd->btkgd", weights, v)
    return out.reshape(batch, num_queries, num_kv * group * head_dim).to(out_dtype)


def rope_and_store(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                   positions: torch.Tensor, cache: KVCache | None, layer: int
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rotate ``q (B, T, heads, D)`` and ``k (B, T, KV, D)`` at ``positions (T,)``; store k and v in ``cache``.

    ``cos``/``sin`` are the float32 ``(L, D/2)`` RoPE tables (``L > max(positions)``). Returns
    the rotated ``q`` and the keys, values and key positions the queries attend: the cache
    layer's (``cache.write_at``), or just the new ones without a cache.
    """
    cos, sin = cos.index_select(0, positions), sin.index_select(0, positions)  # (T, D/2)
    q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
    if cache is None:
        return q, k, v, positions
    return (q, *cache.write_at(layer, positions, k, v))


class AttentionBlock(torch.nn.Module):
    """``x + out(attention(rope(qkv(norm(x)))))`` for one layer; state-dict names as the checkpoint.

    Parameters: ``norm.scale``, ``qkv.weight (qkv_dim, H)``, ``qkv.bias``, ``sinks (heads,)``,
    ``out.weight (H, heads*head_dim)``, ``out.bias``. Weights are created uninitialised;
    they come from a checkpoint.
    """

    def __init__(
        self,
        config: ModelConfig,
        layer_idx: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
        rope: RotaryEmbedding | None = None,
    ):
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.sliding_window = config.sliding_window if config.layer_uses_sliding_window(layer_idx) else 0
        self.sm_scale = 1 / math.sqrt(config.head_dim)
        self.norm = RMSNorm(config.hidden_size, eps=config.rms_norm_eps, device=device)
        self.qkv = empty_module(
            torch.nn.Linear, config.hidden_size, config.qkv_dim, device=device, dtype=dtype
        )
        self.sinks = torch.nn.Parameter(torch.empty(config.num_attention_heads, device=device, dtype=dtype))
        self.out = empty_module(torch.nn.Linear, config.q_dim, config.hidden_size, device=device, dtype=dtype)
        self.rope = rope if rope is not None else RotaryEmbedding(config)
        self.attention_core = attention_with_sinks
        self.rope_store_core = rope_and_store
        self.norm_linear_core = norm_linear

    def project_qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Split ``qkv(norm(x))`` into ``q (B, T, KV, G, D)``, ``k, v (B, T, KV, D)`` (before RoPE)."""
        c = self.config
        qkv = self.norm_linear_core(x, self.norm.scale, self.norm.eps, self.qkv.weight, self.qkv.bias)  # (B, T, qkv_dim)
        q, k, v = qkv.split([c.q_dim, c.kv_dim, c.kv_dim], dim=-1)
        group = c.num_attention_heads // c.num_key_value_heads
        q = q.unflatten(-1, (c.num_key_value_heads, group, c.head_dim))  # (B, T, KV, G, D)
        k = k.unflatten(-1, (c.num_key_value_heads, c.head_dim))  # (B, T, KV, D)
        v = v.unflatten(-1, (c.num_key_value_heads, c.head_dim))
        return q, k, v

    def forward(self, x: torch.Tensor, start: int = 0, cache: KVCache | None = None) -> torch.Tensor:
        """``x (B, T, H)`` holds the tokens at positions ``start .. start+T-1``; ``cache`` keeps earlier keys.

        With a cache, ``start`` must be ``len(cache)`` and the positions come from the cache
        (a device tensor); ``Transformer.forward`` advances the cache once every layer wrote.
        """
        q, k, v = self.project_qkv(x)
        num_tokens = x.shape[1]
        if cache is None:
            positions = torch.arange(start, start + num_tokens, device=x.device)
        elif start != len(cache):
            raise ValueError(f"cache holds {len(cache)} tokens, got new tokens starting at position {start}")
        else:
            positions = cache.positions(num_tokens)
        cos, sin = self.rope.cos_sin(start + num_tokens, x.device)
        q, keys, values, k_positions = self.rope_store_core(
            q.flatten(2, 3), k, v, cos, sin, positions, cache, self.layer_idx)  # RoPE sees q as (B, T, heads, D)
        q = q.unflatten(2, (self.config.num_key_value_heads, -1))  # back to (B, T, KV, G, D)
        t = self.attention_core(q, keys, values, self.sinks, self.sm_scale, positions, k_positions, self.sliding_window)
        return x + self.out(t)
