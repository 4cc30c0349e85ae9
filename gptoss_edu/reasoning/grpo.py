"""Reinforcement learning with verifiable rewards, GRPO-style, written out step by step.

One step of ``rl_step`` (Shao et al., 2024, "DeepSeekMath", section 4, without a value model):

1. **sample** a group of ``G`` completions for each prompt with the KV-cache generator
   (``rollout.complete`` at temperature 1), from a frozen snapshot of the policy;
2. **reward** each completion with a program (``reward``): 1 if the final channel holds the
   right number, plus a small bonus for well-formed harmony;
3. **advantage** = the reward minus its group's mean, divided by the group's standard
   deviation (``group_advantages``): better-than-its-siblings answers are pushed up, worse
   ones down, and a group whose answers all score the same teaches nothing;
4. **loss**: the PPO clipped surrogate on every completion token, ``min(ratio * A,
   clip(ratio, 1 - eps, 1 + eps) * A)`` with ``ratio = pi(token) / pi_old(token)``, minus
   ``beta`` times a KL penalty to the frozen SFT model (the "k3" estimator
   ``exp(r) - r - 1`` with ``r = log pi_ref - log pi``, which is >= 0 and 0 when the two
   agree); per-token terms are averaged over each completion, then over completions.

``RewardWeights.per_step`` adds a bonus for every ``a+b=c`` line of the analysis. It looks
like a harmless format reward ("show your work") and is the reward-hacking demonstration:
the policy is paid for writing lines, not for being right.
"""
from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from gptoss_edu.model.moe import grouped_experts
from gptoss_edu.reasoning.rollout import Rollout, complete, summarize
from gptoss_edu.reasoning.tasks import Problem
from gptoss_edu.training.pretrain import EXPERT_WEIGHTS, fake_quantize

STEP_LINE = re.compile(r"^[0-9]+\+[0-9]+=[0-9]+$", re.MULTILINE)


@dataclass(frozen=True)
class RewardWeights:
    """Reward = ``correct`` x right answer + ``well_formed`` x well-formed harmony + ``per_step`` x step lines."""

    correct: float = 1.0
    well_formed: float = 0.1
    per_step: float = 0.0


GENEROUS = RewardWeights(per_step=0.5)  # the "show your work" bonus that gets hacked


def reward(rollout: Rollout, weights: RewardWeights = RewardWeights()) -> float:
    """The verifiable reward of one rollout (see ``RewardWeights``)."""
    steps = len(STEP_LINE.findall(rollout.analysis)) if rollout.well_formed else 0
    return weights.correct * rollout.correct + weights.well_formed * rollout.well_formed + weights.per_step * steps


def group_advantages(rewards: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``(P, G)`` rewards -> ``(P, G)`` advantages, normalised within each group (row); each row sums to 0."""
    if rewards.dim() != 2 or rewards.shape[1] < 2:
        raise ValueError(f"rewards must be (prompts, group of >= 2), got shape {tuple(rewards.shape)}")
    centred = rewards - rewards.mean(dim=1, keepdim=True)
    return centred / (rewards.std(dim=1, keepdim=True, unbiased=False) + eps)


def completion_logprobs(model, rollouts: Sequence[Rollout]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logp (N, L), mask (N, L))``: log-probability of each completion token under ``model``.

    Prompt and completion are concatenated and right-padded into one batch; ``L`` is the
    longest completion, and ``mask`` marks real completion tokens.
    """
    lengths = [len(r.prompt) + len(r.completion) for r in rollouts]
    longest = max(len(r.completion) for r in rollouts)
    if longest == 0:
        raise ValueError("every rollout has an empty completion: nothing to score")
    ids = torch.zeros(len(rollouts), max(lengths), dtype=torch.long)
    for row, r in enumerate(rollouts):
        ids[row, :lengths[row]] = torch.tensor(r.prompt + r.completion)
    logp_all = torch.log_softmax(model(ids).float(), dim=-1)  # (N, T, V)
    logp = torch.zeros(len(rollouts), longest)
    mask = torch.zeros(len(rollouts), longest, dtype=torch.bool)
    for row, r in enumerate(rollouts):
        first, n = len(r.prompt), len(r.completion)
        targets = torch.tensor(r.completion)  # (n,) predicted from positions first-1 .. first+n-2
        logp[row, :n] = logp_all[row, first - 1:first - 1 + n].gather(-1, targets[:, None])[:, 0]
        mask[row, :n] = True
    return logp, mask


def sequence_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over each row's real tokens, then over rows (each completion weighs the same)."""
    return ((values * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)).mean()


def clipped_surrogate(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                      clip_eps: float = 0.2) -> torch.Tensor:
    """PPO's clipped objective (to maximise): ``advantages (N,)`` broadcast over ``(N, L)`` tokens."""
    ratio = torch.exp(logp - old_logp)
    advantage = advantages[:, None]
    per_token = torch.minimum(ratio * advantage, ratio.clamp(1 - clip_eps, 1 + clip_eps) * advantage)
    return sequence_mean(per_token, mask)


def kl_to_reference(logp: torch.Tensor, ref_logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The k3 estimate of KL(policy || reference) on the sampled tokens: ``exp(r) - r - 1``, ``r = ref - logp``."""
    log_ratio = ref_logp - logp
    return sequence_mean(torch.exp(log_ratio) - log_ratio - 1, mask)


@dataclass(frozen=True)
class GRPOSettings:
    """Hyper-parameters of ``rl_step`` / ``rl_train``."""

    steps: int = 30
    prompts_per_step: int = 4
    group_size: int = 8
    temperature: float = 1.0
    learning_rate: float = 5e-5
    clip_eps: float = 0.2
    kl_coef: float = 0.05
    updates_per_step: int = 2  # gradient steps on each batch of samples (the ratio leaves 1 after the first)
    grad_clip: float = 1.0
    seed: int = 0


@torch.no_grad()
def rounded_snapshot(model):
    """A frozen copy of ``model`` whose expert weights are rounded to MXFP4 once.

    It computes what the policy computes under quantization-aware training (and what the
    saved checkpoint will compute), but decodes at full speed: rounding the experts at
    every decoded token would cost far more than the token itself.
    """
    snapshot = copy.deepcopy(model).eval().requires_grad_(False)
    for name, parameter in snapshot.named_parameters():
        if name.endswith(EXPERT_WEIGHTS):
            parameter.copy_(fake_quantize(parameter))
    snapshot.set_experts_core(grouped_experts)
    return snapshot


def sample_groups(model, encoding, vocab, problems: Sequence[Problem], s: GRPOSettings, seed: int) -> list[Rollout]:
    """``group_size`` sampled rollouts per problem, problem-major, each with its own seed."""
    model.eval()
    return [complete(model, encoding, vocab, problem, temperature=s.temperature, seed=seed + i * s.group_size + j)
            for i, problem in enumerate(problems) for j in range(s.group_size)]


def rl_step(policy, reference, optimizer, encoding, vocab, problems: Sequence[Problem], s: GRPOSettings,
            seed: int, weights: RewardWeights = RewardWeights()) -> dict:
    """Sample, reward, normalise within groups, then ``updates_per_step`` clipped-PG + KL updates; a record."""
    rollouts = sample_groups(rounded_snapshot(policy), encoding, vocab, problems, s, seed)
    rewards = torch.tensor([reward(r, weights) for r in rollouts]).reshape(len(problems), s.group_size)
    advantages = group_advantages(rewards).reshape(-1)  # (N,)
    with torch.no_grad():
        old_logp, mask = completion_logprobs(policy, rollouts)
        ref_logp, _ = completion_logprobs(reference, rollouts)
    policy.train()
    for _ in range(s.updates_per_step):
        logp, _ = completion_logprobs(policy, rollouts)
        surrogate = clipped_surrogate(logp, old_logp, advantages, mask, s.clip_eps)
        kl = kl_to_reference(logp, ref_logp, mask)
        loss = -(surrogate - s.kl_coef * kl)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), s.grad_clip)
        optimizer.step()
    policy.eval()
    table = summarize(rollouts, encoding)["all"]
    return {"reward": rewards.mean().item(), "accuracy": table["accuracy"], "well_formed": table["well_formed"],
            "analysis_tokens": table["analysis_tokens"], "kl": kl.item(),
            "completion_tokens": mask.sum(dim=1).float().mean().item()}
