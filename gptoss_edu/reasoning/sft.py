"""Supervised fine-tuning on harmony conversations: cross-entropy on the assistant's tokens only.

Each training example is one teacher conversation (``tasks.teacher_conversation``) rendered
for training, with its loss mask (``masks.render_for_training``), mapped to compact ids
(``vocab.CompactVocab``). A batch right-pads the examples; the loss at position ``t``
predicts token ``t + 1`` and counts only where the mask of token ``t + 1`` is True, so the
model learns to *write* the analysis, the tool call and the final answer, never to
predict the system prompt or the user's question.

The optimiser, schedule, load-balancing loss and MXFP4 quantization-aware training are
those of ``gptoss_edu.training.pretrain`` (``TrainSettings``; its ``seq_len`` is unused here: a window
is one whole conversation).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gptoss_edu.config import ModelConfig
from gptoss_edu.model.moe import grouped_experts
from gptoss_edu.reasoning.masks import render_for_training
from gptoss_edu.reasoning.tasks import Problem, teacher_conversation
from gptoss_edu.reasoning.vocab import CompactVocab
from gptoss_edu.training.pretrain import (
    TrainSettings,
    learning_rate,
    load_balancing_loss,
    make_optimizer,
    quantized_experts,
    router_outputs,
)

STUDENT_SETTINGS = TrainSettings(steps=600, batch_size=16, learning_rate=3e-3, min_learning_rate=3e-4, warmup_steps=30,
                                 eval_every=100, qat_fraction=0.2)


def student_config(vocab_size: int) -> ModelConfig:
    """The student: gpt-oss-nano's shape (4 layers, 16 experts, top-4) on the compact vocabulary.

    The sliding window is 128 so that even-indexed layers still see the question from the end
    of a long high-effort trace.
    """
    from gptoss_edu.training.nano import NANO_CONFIG

    return NANO_CONFIG.replace(vocab_size=vocab_size, sliding_window=128, name="gpt-oss-nano-reasoner")


@dataclass(frozen=True)
class Example:
    """One rendered conversation: compact token ids and the loss mask (True = the assistant writes it)."""

    ids: tuple[int, ...]
    mask: tuple[bool, ...]


def make_example(encoding, vocab: CompactVocab, problem: Problem) -> Example:
    """The teacher's conversation for ``problem``, rendered, masked and mapped to compact ids."""
    ids, mask = render_for_training(encoding, teacher_conversation(problem))
    return Example(tuple(vocab.to_compact(ids, encoding)), tuple(mask))


def collate(examples: Sequence[Example]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(inputs (B, T), targets (B, T), loss_mask (B, T))`` for next-token prediction, right-padded."""
    length = max(len(e.ids) for e in examples) - 1
    inputs = torch.zeros(len(examples), length, dtype=torch.long)
    targets = torch.zeros(len(examples), length, dtype=torch.long)
    loss_mask = torch.zeros(len(examples), length, dtype=torch.bool)
    for row, example in enumerate(examples):
        n = len(example.ids) - 1
        ids = torch.tensor(example.ids)
        inputs[row, :n], targets[row, :n] = ids[:-1], ids[1:]
        loss_mask[row, :n] = torch.tensor(example.mask[1:])
    return inputs, targets, loss_mask


def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, loss_mask: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the positions where ``loss_mask`` is True; ``logits (B, T, V)``."""
    if not loss_mask.any():
        raise ValueError("the loss mask selects no token: nothing for the assistant to learn in this batch")
    per_token = F.cross_entropy(logits.flatten(0, 1).float(), targets.reshape(-1), reduction="none")  # (B*T,)
    return per_token[loss_mask.reshape(-1)].mean()


def sft_loss(model, batch: tuple[torch.Tensor, ...], balance_coef: float) -> tuple[torch.Tensor, float]:
    """``(masked cross-entropy + balance_coef * load-balancing loss, masked cross-entropy)``."""
    inputs, targets, loss_mask = batch
    with router_outputs(model) as routed:
        logits = model(inputs)  # (B, T, V)
    cross_entropy = masked_cross_entropy(logits, targets, loss_mask)
    balance = torch.stack([load_balancing_loss(lg, ix) for lg, ix in routed]).mean()
    return cross_entropy + balance_coef * balance, cross_entropy.item()


@torch.no_grad()
def heldout_loss(model, examples: Sequence[Example], batch_size: int = 32) -> float:
    """Masked cross-entropy on ``examples`` (token-weighted mean over batches)."""
    total, count = 0.0, 0
    for first in range(0, len(examples), batch_size):
        inputs, targets, loss_mask = collate(examples[first:first + batch_size])
        n = int(loss_mask.sum())
        total += masked_cross_entropy(model(inputs), targets, loss_mask).item() * n
        count += n
    return total / count


def sft_train(model, examples: Sequence[Example], settings: TrainSettings = STUDENT_SETTINGS,
              heldout: Sequence[Example] = (), log: Callable[[dict], None] | None = None) -> list[dict]:
    """Fine-tune ``model`` (``experts="dequantized"``) on random batches of ``examples``; one record per step.

    Records hold ``step``, ``lr``, ``loss`` (masked cross-entropy of the batch), ``qat``,
    ``elapsed_s`` and, every ``eval_every`` steps and at the end, ``heldout_loss``.
    """
    if model.experts != "dequantized":
        raise ValueError("sft_train needs experts='dequantized' (MXFP4 codes have no gradient)")
    s = settings
    generator = torch.Generator().manual_seed(s.seed)
    optimizer = make_optimizer(model, s)
    qat_start = round(s.steps * (1 - s.qat_fraction))
    history: list[dict] = []
    start = time.perf_counter()
    model.train()
    for step in range(s.steps):
        if step == qat_start:
            model.set_experts_core(quantized_experts)
        lr = learning_rate(step, s)
        for group in optimizer.param_groups:
            group["lr"] = lr
        rows = torch.randint(0, len(examples), (s.batch_size,), generator=generator).tolist()
        loss, cross_entropy = sft_loss(model, collate([examples[r] for r in rows]), s.balance_coef)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
        optimizer.step()
        elapsed = time.perf_counter() - start
        record = {"step": step, "lr": lr, "loss": cross_entropy, "qat": step >= qat_start, "elapsed_s": elapsed}
        out_of_time = s.time_budget_s is not None and elapsed > s.time_budget_s
        if heldout and (step % s.eval_every == 0 or step == s.steps - 1 or out_of_time):
            model.eval()
            record["heldout_loss"] = heldout_loss(model, heldout)
            model.train()
        history.append(record)
        if log is not None:
            log(record)
        if out_of_time:
            break
    model.set_experts_core(grouped_experts)
    model.eval()
    return history
