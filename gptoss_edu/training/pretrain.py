"""Training a small gpt-oss from scratch on the CPU: initialisation, the loss, AdamW, saving as MXFP4.

A teaching addition. The gpt-oss model card does not publish its training recipe; what is
here is the textbook one for a small mixture-of-experts language model:

- next-token cross-entropy on random windows of a token stream;
- plus the Switch Transformer load-balancing loss for every router (Fedus et al., 2021):
  ``E * sum_e f_e * P_e`` with ``f_e`` the fraction of (token, slot) assignments that went to
  expert ``e`` (counted, no gradient) and ``P_e`` the mean over tokens of the router's
  softmax probability of ``e`` over *all* experts. It equals 1 when routing is uniform and
  grows when a few experts take most tokens; without it top-k routers tend to collapse
  onto a handful of experts;
- AdamW with linear warm-up then cosine decay, gradient clipping at 1;
- quantization-aware training for the last ``qat_fraction`` of the steps: the experts
  compute with their weights rounded to MXFP4 (``fake_quantize``: forward through the
  rounded values, gradient straight through to the float weights), so the model learns to
  live with the rounding it will be saved with. OpenAI's model card says gpt-oss was
  post-trained with its MoE weights quantized to MXFP4; this is the small-scale version.

Training needs gradients through the experts, so the model is built with
``experts="dequantized"`` (dense float expert weights); ``packed_state_dict`` quantizes the
experts to MXFP4 afterwards and ``save_original`` writes OpenAI's ``original/`` layout.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from gptoss_edu.io.writer import Source, write_layout
from gptoss_edu.model.moe import grouped_experts
from gptoss_edu.model.mxfp4 import dequantize, quantize
from gptoss_edu.model.routing import observe_routing

EXPERT_WEIGHTS = ("mlp1_weight", "mlp2_weight")


# ---- initialisation ------------------------------------------------------------------------------
def init_weights(model: torch.nn.Module, seed: int, std: float = 0.02) -> None:
    """Fill every tensor of a freshly built (uninitialised) model, deterministically in ``seed``.

    Matrices ~ N(0, std), the residual-output ones (``attn.out``, ``mlp2``) scaled down by
    ``sqrt(2 * layers)`` as in GPT-2; biases and attention sinks 0; norm scales 1.
    """
    generator = torch.Generator().manual_seed(seed)
    depth_scale = 1 / math.sqrt(2 * len(model.block))
    with torch.no_grad():
        for name, tensor in model.state_dict(keep_vars=True).items():
            if name.endswith("norm.scale"):
                tensor.fill_(1.0)
            elif name.endswith(("bias", "sinks")):
                tensor.zero_()
            else:
                scale = depth_scale if name.endswith(("out.weight", "mlp2_weight")) else 1.0
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * std * scale)


# ---- the losses ----------------------------------------------------------------------------------
def load_balancing_loss(router_logits: torch.Tensor, expert_indices: torch.Tensor) -> torch.Tensor:
    """Switch-style balance loss of one layer: ``E * sum_e f_e * P_e`` (1.0 when perfectly balanced).

    ``router_logits (N, E)`` with gradient; ``expert_indices (N, k)`` the chosen experts.
    """
    num_experts = router_logits.shape[-1]
    probs = torch.softmax(router_logits.float(), dim=-1).mean(dim=0)  # (E,) P_e
    counts = torch.bincount(expert_indices.reshape(-1), minlength=num_experts).float()
    fraction = counts / counts.sum()  # (E,) f_e, a constant for the gradient
    return num_experts * torch.dot(fraction, probs)


@contextmanager
def router_outputs(model) -> Iterator[list[tuple[torch.Tensor, torch.Tensor]]]:
    """Collect ``(router_logits, expert_indices)`` of every layer, *with* gradients, inside the ``with``."""
    collected: list[tuple[torch.Tensor, torch.Tensor]] = []
    with observe_routing(model, lambda layer, logits, indices, weights: collected.append((logits, indices))):
        yield collected


def language_model_loss(model, batch: torch.Tensor, balance_coef: float) -> tuple[torch.Tensor, float, float]:
    """``(total loss, cross-entropy, mean balance loss)`` of a ``(B, T + 1)`` batch of token windows."""
    inputs, targets = batch[:, :-1], batch[:, 1:]
    with router_outputs(model) as routed:
        logits = model(inputs)  # (B, T, vocab)
    cross_entropy = F.cross_entropy(logits.flatten(0, 1).float(), targets.reshape(-1))
    balance = torch.stack([load_balancing_loss(lg, ix) for lg, ix in routed]).mean()
    return cross_entropy + balance_coef * balance, cross_entropy.item(), balance.item()


@torch.no_grad()
def evaluate(model, ids: torch.Tensor, seq_len: int) -> float:
    """Mean next-token cross-entropy (nats per token) over consecutive ``seq_len`` windows of ``ids``."""
    usable = (ids.numel() - 1) // seq_len * seq_len
    if usable == 0:
        raise ValueError(f"{ids.numel()} tokens are not enough for one window of {seq_len} + 1")
    inputs = ids[:usable].reshape(-1, seq_len)  # (windows, seq_len)
    targets = ids[1:usable + 1].reshape(-1, seq_len)
    logits = model(inputs)
    return F.cross_entropy(logits.flatten(0, 1).float(), targets.reshape(-1)).item()


def unigram_loss(train_counts: torch.Tensor, ids: torch.Tensor) -> float:
    """Cross-entropy of ``ids`` under token frequencies ``train_counts (vocab,)`` (add-one smoothed)."""
    probs = (train_counts.double() + 1) / (train_counts.sum() + train_counts.numel())
    return -probs.log()[ids].mean().item()


def fake_quantize(weight: torch.Tensor) -> torch.Tensor:
    """``weight`` rounded to MXFP4 in the forward pass; the gradient passes straight through."""
    rounded = dequantize(*quantize(weight.detach()), dtype=weight.dtype)
    return weight + (rounded - weight).detach()


def quantized_experts(x, expert_indices, expert_weights, mlp1, mlp1_bias, mlp2, mlp2_bias, alpha=1.702, limit=7.0):
    """``grouped_experts`` on dense weights rounded to MXFP4 (an ``experts_core`` for quantization-aware training)."""
    return grouped_experts(x, expert_indices, expert_weights, fake_quantize(mlp1), mlp1_bias,
                           fake_quantize(mlp2), mlp2_bias, alpha, limit)


# ---- the loop ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainSettings:
    """Hyper-parameters of ``train`` (the committed nano checkpoint's are the defaults)."""

    steps: int = 500
    batch_size: int = 12
    seq_len: int = 128
    learning_rate: float = 3e-3
    min_learning_rate: float = 3e-4
    warmup_steps: int = 40
    weight_decay: float = 0.1
    balance_coef: float = 0.01
    grad_clip: float = 1.0
    seed: int = 0
    eval_every: int = 50
    qat_fraction: float = 0.2  # the last 20% of the steps see MXFP4-rounded expert weights
    time_budget_s: float | None = None  # stop early (e.g. in CI) once this much wall time has passed

    def as_dict(self) -> dict:
        return asdict(self)


def learning_rate(step: int, s: TrainSettings) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine decay from ``learning_rate`` to ``min_learning_rate``."""
    if step < s.warmup_steps:
        return s.learning_rate * (step + 1) / s.warmup_steps
    progress = (step - s.warmup_steps) / max(1, s.steps - s.warmup_steps)
    return s.min_learning_rate + 0.5 * (s.learning_rate - s.min_learning_rate) * (1 + math.cos(math.pi * progress))


def random_windows(ids: torch.Tensor, batch_size: int, length: int, generator: torch.Generator) -> torch.Tensor:
    """``(batch_size, length)`` windows of ``ids`` at random starts."""
    starts = torch.randint(0, ids.numel() - length + 1, (batch_size,), generator=generator)
    return ids[starts[:, None] + torch.arange(length)]  # (B, length)


def make_optimizer(model: torch.nn.Module, s: TrainSettings) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on biases, sinks, norm scales)."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": s.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=s.learning_rate, betas=(0.9, 0.95))


def train(model, train_ids: torch.Tensor, settings: TrainSettings, heldout_ids: torch.Tensor | None = None,
          log: Callable[[dict], None] | None = None) -> list[dict]:
    """Train ``model`` (built with ``experts="dequantized"``) in place; return one record per step.

    Each record has ``step``, ``lr``, ``loss`` (cross-entropy), ``balance``, ``qat`` and ``elapsed_s``;
    every ``eval_every`` steps (and at the end) also ``heldout_loss`` when ``heldout_ids`` is given.
    """
    if model.experts != "dequantized":
        raise ValueError("train needs experts='dequantized' (MXFP4 codes have no gradient)")
    s = settings
    generator = torch.Generator().manual_seed(s.seed)
    optimizer = make_optimizer(model, s)
    history: list[dict] = []
    start = time.perf_counter()
    qat_start = round(s.steps * (1 - s.qat_fraction))
    model.train()
    for step in range(s.steps):
        if step == qat_start:
            model.set_experts_core(quantized_experts)
        lr = learning_rate(step, s)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = random_windows(train_ids, s.batch_size, s.seq_len + 1, generator)
        loss, cross_entropy, balance = language_model_loss(model, batch, s.balance_coef)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
        optimizer.step()
        elapsed = time.perf_counter() - start
        record = {"step": step, "lr": lr, "loss": cross_entropy, "balance": balance, "qat": step >= qat_start,
                  "elapsed_s": elapsed}
        out_of_time = s.time_budget_s is not None and elapsed > s.time_budget_s
        last = step == s.steps - 1 or out_of_time
        if heldout_ids is not None and (step % s.eval_every == 0 or last):
            model.eval()
            record["heldout_loss"] = evaluate(model, heldout_ids, s.seq_len)
            model.train()
        history.append(record)
        if log is not None:
            log(record)
        if out_of_time:
            break
    model.set_experts_core(grouped_experts)
    model.eval()
    return history


# ---- saving ----------------------------------------------------------------------------------------
def packed_state_dict(model: torch.nn.Module, dtype: torch.dtype = torch.bfloat16) -> dict[str, torch.Tensor]:
    """The original-layout checkpoint tensors of a dequantized-mode model.

    Expert weights ``X (E, rows, cols)`` become MXFP4 ``X.blocks``/``X.scales``; every
    other tensor is cast to ``dtype`` (bf16, as in OpenAI's checkpoints).
    """
    out = {}
    for name, tensor in model.state_dict().items():
        if name.endswith(EXPERT_WEIGHTS):
            out[f"{name}.blocks"], out[f"{name}.scales"] = quantize(tensor.detach())
        else:
            out[name] = tensor.detach().to(dtype)
    return out


def save_original(tensors: dict[str, torch.Tensor], config, path: str | Path, overwrite: bool = True) -> Path:
    """Write ``tensors`` (original-layout names) as an ``original/`` checkpoint folder with ``config.json``."""
    source = Source(rows=lambda name, row0, row1: tensors[name][row0:row1], dtype=lambda name: tensors[name].dtype)
    return write_layout(path, config, "original", source, overwrite=overwrite)
