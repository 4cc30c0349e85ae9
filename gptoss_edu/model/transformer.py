"""The whole gpt-oss model: embedding, pre-norm residual blocks, final norm, unembedding.

    x = embedding[ids]
    for each layer:  x = x + attn(rmsnorm(x));  x = x + moe(rmsnorm(x))
    logits = unembedding(rmsnorm(x))          (untied, no bias)

Parameter names and shapes are exactly those of OpenAI's ``original/`` checkpoint, so
``model.load_state_dict(checkpoint_tensors)`` needs no renaming. ``experts="packed"`` keeps
the expert weights as MXFP4 ``blocks``/``scales`` uint8 buffers (gpt-oss-20b fits in about
13 GB) and decodes only the chosen experts at compute time; ``experts="dequantized"`` holds
them as dense ``(E, 2I, H)`` / ``(E, H, I)`` tensors (simpler, about 3x the memory).

The model is built uninitialised (also on ``device="meta"``: then ``to_empty`` and fill every
tensor, which is what ``gptoss_edu.io.checkpoint.load_model`` does). RoPE tables are computed
lazily and are not in the state dict. Norm scales stay float32; every other floating
tensor has ``dtype``.

Swappable cores. The hot spots are plain functions of tensors, called through an
attribute of each layer so that faster versions (e.g. Triton kernels on CUDA) can be
dropped in without editing this code:

- ``block[i].attn.attention_core(q, k, v, sinks, sm_scale, q_positions, k_positions, sliding_window)``,
  default ``gptoss_edu.model.attention.attention_with_sinks``;
- ``block[i].mlp.experts_core(x, expert_indices, expert_weights, mlp1, mlp1_bias, mlp2, mlp2_bias, alpha, limit)``,
  default ``gptoss_edu.model.moe.grouped_experts``, where ``mlp1``/``mlp2`` are dense tensors
  or ``(blocks, scales)`` pairs;
- ``block[i].attn.rope_store_core(q, k, v, cos, sin, positions, cache, layer)``, default
  ``gptoss_edu.model.attention.rope_and_store`` (a fused decode kernel may replace it);
- ``block[i].attn.norm_linear_core(x, scale, eps, weight, bias)``, the pre-norm and ``qkv``
  projection, default ``gptoss_edu.model.norm.norm_linear``;
- ``block[i].mlp.router_core(x, scale, eps, gate_weight, gate_bias, experts_per_token)``, the
  pre-norm, router matmul, top-k and softmax, default ``gptoss_edu.model.moe.norm_and_route``.

``set_attention_core``, ``set_experts_core``, ``set_rope_store_core``, ``set_norm_linear_core``
and ``set_router_core`` set them on every layer; ``gptoss_edu.fast.accelerate`` chooses them
for the model's device.

The positions of the tokens come from the ``KVCache`` (a tensor on the model's device), so
this one forward pass also serves a decode step captured as a CUDA graph
(``gptoss_edu.fast.gpu_decode``).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch

from gptoss_edu.config import ModelConfig
from gptoss_edu.model.attention import AttentionBlock
from gptoss_edu.model.empty import empty_module
from gptoss_edu.model.kvcache import KVCache
from gptoss_edu.model.moe import ExpertsMode, MLPBlock
from gptoss_edu.model.norm import RMSNorm
from gptoss_edu.model.rope import RotaryEmbedding

Logits = Literal["all", "last"]  # which positions a forward pass unembeds


class TransformerBlock(torch.nn.Module):
    """One layer: attention then mixture-of-experts, each with its own pre-norm and residual."""

    def __init__(self, config: ModelConfig, layer_idx: int, device=None, dtype: torch.dtype = torch.float32,
                 experts: ExpertsMode = "packed", rope: RotaryEmbedding | None = None):
        super().__init__()
        self.layer_idx = layer_idx
        self.attn = AttentionBlock(config, layer_idx, device=device, dtype=dtype, rope=rope)
        self.mlp = MLPBlock(config, layer_idx, device=device, dtype=dtype, experts=experts)

    def forward(self, x: torch.Tensor, start: int = 0, cache: KVCache | None = None) -> torch.Tensor:
        """``x (B, T, H)`` at positions ``start ..``; this layer writes its keys and values into ``cache``."""
        return self.mlp(self.attn(x, start, cache))


class Transformer(torch.nn.Module):
    """gpt-oss. ``model(ids)``: ids ``(T,)`` -> logits ``(T, vocab)``; ``(B, T)`` -> ``(B, T, vocab)``.

    ``model(ids, cache=cache)`` continues a sequence held in a ``KVCache`` (see
    ``new_cache``): the new tokens take positions ``len(cache) ..``. ``logits="last"`` gives
    only the last position's logits (what generation needs); ``gptoss_edu.model.generation.prefill``
    takes a long prompt through the cache in chunks.
    """

    def __init__(self, config: ModelConfig, device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float32, experts: ExpertsMode = "packed"):
        super().__init__()
        self.config = config
        self.experts = experts
        rope = RotaryEmbedding(config)  # one set of cos/sin tables shared by every layer
        self.embedding = empty_module(
            torch.nn.Embedding, config.vocab_size, config.hidden_size, device=device, dtype=dtype
        )
        self.block = torch.nn.ModuleList(
            TransformerBlock(config, i, device=device, dtype=dtype, experts=experts, rope=rope)
            for i in range(config.num_hidden_layers)
        )
        self.norm = RMSNorm(config.hidden_size, eps=config.rms_norm_eps, device=device)
        self.unembedding = empty_module(
            torch.nn.Linear, config.hidden_size, config.vocab_size, bias=False, device=device, dtype=dtype
        )

    @property
    def dtype(self) -> torch.dtype:
        """The activation dtype (that of the embedding table)."""
        return self.embedding.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.embedding.weight.device

    def new_cache(self, batch_size: int = 1, capacity: int | None = None, fixed_shapes: bool = False) -> KVCache:
        """An empty ``KVCache`` on the model's device and dtype (see ``KVCache`` for the arguments)."""
        return KVCache(self.config, batch_size=batch_size, capacity=capacity, device=self.device, dtype=self.dtype,
                       fixed_shapes=fixed_shapes)

    def forward(self, ids: torch.Tensor, cache: KVCache | None = None, logits: Logits = "all") -> torch.Tensor:
        """Logits of ``ids (T,)`` -> ``(T, vocab)`` or ``(B, T)`` -> ``(B, T, vocab)``; see the class docstring.

        ``logits="last"`` unembeds only the last position: ``(1, vocab)`` or ``(B, 1, vocab)``,
        the ``[..., -1:, :]`` of the full result (to float rounding: a product of one row may
        round unlike one of many) without its ``T x vocab`` buffer (0.4 MB per token in bf16).
        """
        if ids.dim() not in (1, 2):
            raise ValueError(f"token ids must be (T,) or (B, T), got shape {tuple(ids.shape)}")
        if logits not in ("all", "last"):
            raise ValueError(f"logits={logits!r}; choose 'all' (every position) or 'last'")
        batched = ids.dim() == 2
        ids = ids if batched else ids[None]  # (B, T)
        start = len(cache) if cache is not None else 0
        end = start + ids.shape[1]
        if end > self.config.max_context_length:
            raise ValueError(
                f"sequence of {end} tokens ({start} cached + {ids.shape[1]} new) exceeds "
                f"max_context_length={self.config.max_context_length} of {self.config.name}"
            )
        x = self.embedding(ids)  # (B, T, H)
        for block in self.block:
            x = block(x, start, cache)
        if cache is not None:
            cache.advance(ids.shape[1])
        if logits == "last":
            x = x[:, -1:]  # (B, 1, H)
        out = self.unembedding(self.norm(x))  # (B, T or 1, vocab)
        return out if batched else out[0]

    def set_attention_core(self, core: Callable[..., torch.Tensor]) -> None:
        """Use ``core`` (same signature as ``attention_with_sinks``) in every layer."""
        for block in self.block:
            block.attn.attention_core = core

    def set_experts_core(self, core: Callable[..., torch.Tensor]) -> None:
        """Use ``core`` (same signature as ``grouped_experts``) in every layer."""
        for block in self.block:
            block.mlp.experts_core = core

    def set_rope_store_core(self, core: Callable[..., tuple[torch.Tensor, ...]]) -> None:
        """Use ``core`` (same signature as ``rope_and_store``) in every layer."""
        for block in self.block:
            block.attn.rope_store_core = core

    def set_norm_linear_core(self, core: Callable[..., torch.Tensor]) -> None:
        """Use ``core`` (same signature as ``norm_linear``) for every attention layer's pre-norm and ``qkv``."""
        for block in self.block:
            block.attn.norm_linear_core = core

    def set_router_core(self, core: Callable[..., tuple[torch.Tensor, ...]]) -> None:
        """Use ``core`` (same signature as ``norm_and_route``) for every MoE layer's pre-norm and router."""
        for block in self.block:
            block.mlp.router_core = core
