"""The mixture-of-experts MLP: a router picks 4 experts per token, each a clamped SwiGLU MLP.

Per token ``x`` (after RMSNorm):
- router: ``logits = gate(x)`` (a linear layer with bias, one logit per expert); keep the
  top ``experts_per_token`` logits and softmax over those only;
- expert ``e``: ``mlp1`` maps hidden to ``2 * intermediate`` rows that are *interleaved*
  (even rows gate, odd rows linear); ``swiglu`` clamps them and gates; ``mlp2`` maps back;
- output: the router-weighted sum of the chosen experts' outputs, added to the residual.

The pre-norm, the router's matmul, top-k and softmax form one swappable core
(``MLPBlock.router_core``, default ``norm_and_route``), which a fused kernel may replace.

Dispatch is grouped: the (token, expert) assignments are sorted by expert and each
selected expert runs once on the batch of its tokens. Unselected experts cost nothing, and
in packed mode only the selected experts' MXFP4 weights are decoded, just before use.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F

from gptoss_edu.config import MXFP4_BLOCK, ModelConfig
from gptoss_edu.model.empty import empty_module
from gptoss_edu.model.mxfp4 import BYTES_PER_BLOCK, dequantize
from gptoss_edu.model.norm import RMSNorm, rms_norm

ExpertsMode = Literal["packed", "dequantized"]
# An expert weight stack: dense (E, out, in), or MXFP4 (blocks (E, out, in/32, 16), scales (E, out, in/32)).
ExpertWeight = torch.Tensor | tuple[torch.Tensor, torch.Tensor]
# Called as observer(layer_idx, router_logits (N, E), expert_indices (N, k), expert_weights (N, k)).
RoutingObserver = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], None]


def route(router_logits: torch.Tensor, experts_per_token: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k experts per token and their weights: softmax over the k kept logits only.

    Returns ``(weights, indices)``, both ``(N, k)``, sorted by decreasing logit.
    """
    top = torch.topk(router_logits, k=experts_per_token, dim=-1, sorted=True)
    return torch.softmax(top.values, dim=-1), top.indices


def norm_and_route(x: torch.Tensor, scale: torch.Tensor, eps: float, gate_weight: torch.Tensor,
                   gate_bias: torch.Tensor, experts_per_token: int
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The MoE block's pre-norm and router for ``x (N, H)``: ``(normed (N, H), weights (N, k), indices (N, k))``.

    ``normed = rms_norm(x)`` (what the experts read), router logits ``gate(normed)`` in
    ``x.dtype``, then ``route``. The default ``router_core``; a fused kernel returns the same
    three tensors without ever writing the ``(N, E)`` logits out.
    """
    normed = rms_norm(x, scale, eps)
    weights, indices = route(F.linear(normed, gate_weight, gate_bias), experts_per_token)
    return normed, weights, indices


def swiglu(x: torch.Tensor, alpha: float = 1.702, limit: float = 7.0) -> torch.Tensor:
    """gpt-oss's clamped SwiGLU on interleaved rows: ``(..., 2I) -> (..., I)``.

    ``gate = min(x[::2], limit)``, ``linear = clamp(x[1::2], -limit, limit)``,
    ``gate * sigmoid(alpha * gate) * (linear + 1)`` (note the +1 on the linear part).
    """
    gate = x[..., ::2].clamp(max=limit)
    linear = x[..., 1::2].clamp(min=-limit, max=limit)
    return gate * torch.sigmoid(alpha * gate) * (linear + 1)


def expert_matrix(weight: ExpertWeight, expert: int, dtype: torch.dtype) -> torch.Tensor:
    """Expert ``expert``'s ``(out, in)`` matrix from a dense stack, or decoded from MXFP4 on the fly."""
    if isinstance(weight, torch.Tensor):
        return weight[expert]
    blocks, scales = weight
    return dequantize(blocks[expert], scales[expert], dtype=dtype)


def grouped_experts(
    x: torch.Tensor,
    expert_indices: torch.Tensor,
    expert_weights: torch.Tensor,
    mlp1_weight: ExpertWeight,
    mlp1_bias: torch.Tensor,
    mlp2_weight: ExpertWeight,
    mlp2_bias: torch.Tensor,
    alpha: float = 1.702,
    limit: float = 7.0,
) -> torch.Tensor:
    """Weighted sum of the chosen experts' outputs for ``x (N, H)``; returns ``(N, H)`` in ``x.dtype``.

    ``expert_indices``/``expert_weights`` are ``(N, k)`` from ``route``. Each expert that
    any token chose runs once on all of its tokens; results accumulate in float32.
    """
    num_tokens, k = expert_indices.shape
    flat_experts = expert_indices.reshape(-1)  # (N*k,) one entry per (token, slot)
    order = torch.argsort(flat_experts, stable=True)  # assignments grouped by expert
    counts = torch.bincount(flat_experts, minlength=mlp1_bias.shape[0]).tolist()
    flat_weights = expert_weights.reshape(-1)
    out = torch.zeros(num_tokens, x.shape[-1], dtype=torch.float32, device=x.device)
    start = 0
    for expert, count in enumerate(counts):
        if count == 0:
            continue
        assignments = order[start:start + count]
        start += count
        tokens = assignments // k
        h = F.linear(x[tokens], expert_matrix(mlp1_weight, expert, x.dtype), mlp1_bias[expert])
        h = F.linear(swiglu(h, alpha, limit), expert_matrix(mlp2_weight, expert, x.dtype), mlp2_bias[expert])
        out[tokens] += (h * flat_weights[assignments, None]).float()  # a token picks an expert at most once
    return out.to(x.dtype)


class PackedWeight(torch.nn.Module):
    """An MXFP4 expert weight stack kept packed: uint8 buffers ``blocks`` and ``scales``.

    ``(E, out, in)`` values are held as ``blocks (E, out, in/32, 16)`` and ``scales (E, out, in/32)``
    (checkpoint names ``<name>.blocks`` / ``<name>.scales``), a quarter of bf16's bytes.
    """

    def __init__(self, num_experts: int, rows: int, columns: int, device: torch.device | str | None = None):
        super().__init__()
        groups = columns // MXFP4_BLOCK
        self.register_buffer("blocks", torch.empty(num_experts, rows, groups, BYTES_PER_BLOCK, dtype=torch.uint8, device=device))
        self.register_buffer("scales", torch.empty(num_experts, rows, groups, dtype=torch.uint8, device=device))

    def packed(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.blocks, self.scales


def _expert_weight(packed: bool, num_experts: int, rows: int, columns: int, device, dtype
                   ) -> PackedWeight | torch.nn.Parameter:
    """An uninitialised ``(E, rows, columns)`` expert weight stack, packed MXFP4 or dense ``dtype``."""
    if packed:
        return PackedWeight(num_experts, rows, columns, device=device)
    return torch.nn.Parameter(torch.empty(num_experts, rows, columns, device=device, dtype=dtype))


class MLPBlock(torch.nn.Module):
    """``x + experts(norm(x))`` for one layer, with the checkpoint's parameter names.

    ``norm.scale``, ``gate.weight (E, H)``, ``gate.bias``, ``mlp1_weight``, ``mlp1_bias (E, 2I)``,
    ``mlp2_weight``, ``mlp2_bias (E, H)``. With ``experts="packed"`` the two weights are
    ``PackedWeight`` modules (``mlp1_weight.blocks`` ...); with ``"dequantized"`` they are
    dense ``(E, 2I, H)`` and ``(E, H, I)`` tensors.
    """

    def __init__(self, config: ModelConfig, layer_idx: int = 0, device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float32, experts: ExpertsMode = "packed"):
        super().__init__()
        if experts not in ("packed", "dequantized"):
            raise ValueError(f"experts must be 'packed' or 'dequantized', got {experts!r}")
        c = config
        self.config = config
        self.layer_idx = layer_idx
        self.norm = RMSNorm(c.hidden_size, eps=c.rms_norm_eps, device=device)
        self.gate = empty_module(torch.nn.Linear, c.hidden_size, c.num_experts, device=device, dtype=dtype)
        packed = experts == "packed"
        self.mlp1_weight = _expert_weight(packed, c.num_experts, 2 * c.intermediate_size, c.hidden_size, device, dtype)
        self.mlp1_bias = torch.nn.Parameter(torch.empty(c.num_experts, 2 * c.intermediate_size, device=device, dtype=dtype))
        self.mlp2_weight = _expert_weight(packed, c.num_experts, c.hidden_size, c.intermediate_size, device, dtype)
        self.mlp2_bias = torch.nn.Parameter(torch.empty(c.num_experts, c.hidden_size, device=device, dtype=dtype))
        self.experts_core = grouped_experts
        self.router_core = norm_and_route
        self.routing_observer: RoutingObserver | None = None

    def expert_weights(self) -> tuple[ExpertWeight, ExpertWeight]:
        """``(mlp1, mlp2)`` as dense tensors or ``(blocks, scales)`` pairs, for ``experts_core``."""
        return tuple(w.packed() if isinstance(w, PackedWeight) else w for w in (self.mlp1_weight, self.mlp2_weight))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (..., H)`` -> ``(..., H)``.

        While a routing observer is attached (``gptoss_edu.model.routing``) the block routes with
        the plain-torch steps, whatever ``router_core`` holds, so the observer sees every logit.
        """
        rows = x.reshape(-1, x.shape[-1])  # (N, H): every token of every row
        k = self.config.experts_per_token
        if self.routing_observer is None:
            t, weights, indices = self.router_core(rows, self.norm.scale, self.norm.eps, self.gate.weight,
                                                   self.gate.bias, k)
        else:  # an observer needs all router logits, which a fused router core never writes: the readable steps
            t = self.norm(rows)
            router_logits = self.gate(t)  # (N, E)
            weights, indices = route(router_logits, k)
            self.routing_observer(self.layer_idx, router_logits, indices, weights)
        mlp1, mlp2 = self.expert_weights()
        t = self.experts_core(
            t, indices, weights, mlp1, self.mlp1_bias, mlp2, self.mlp2_bias,
            self.config.swiglu_alpha, self.config.swiglu_limit,
        )
        return x + t.reshape(x.shape)
