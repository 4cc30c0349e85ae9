"""The production path: the data and reward that Hugging Face TRL needs, from our harmony rendering.

On the real gpt-oss-20b the same two stages run with established libraries on a GPU:
TRL's ``SFTTrainer`` (supervised fine-tuning) and ``GRPOTrainer`` (the RL of ``grpo``), with
a PEFT LoRA adapter so that only small low-rank matrices are trained. Both take plain
text; these helpers produce it from our harmony rendering, so the tokens the 20b model
trains on are exactly those of ``render_conversation_for_training``:

- ``sft_row``: ``{"prompt", "completion"}`` text, split where the assistant starts writing
  (TRL's prompt-completion format trains on the completion only, the same loss mask as
  ``masks.assistant_mask`` for a single-turn answer);
- ``sft_tokens``: ``{"input_ids", "completion_mask"}``, the rendering and our mask as they
  are, which ``SFTTrainer`` takes as a pre-tokenized dataset (no second tokenization);
- ``grpo_row``: ``{"prompt", "answer"}`` for ``GRPOTrainer``;
- ``verifiable_reward``: a reward function with TRL's calling convention
  (``completions``, plus dataset columns as keyword lists) that parses the harmony text
  and pays 1 for the right final answer, 0.1 for a well-formed one.

The o200k_harmony token ids of the text are what the 20b's own tokenizer produces: the
special tokens are written out (``<|channel|>`` ...), and both tokenizers encode them as
the same ids.
"""
from __future__ import annotations

from collections.abc import Sequence

from gptoss_edu.harmony import HarmonyError, Role
from gptoss_edu.reasoning.masks import render_for_training
from gptoss_edu.reasoning.tasks import Problem, parse_answer, prompt_conversation, teacher_conversation


def sft_row(encoding, problem: Problem) -> dict[str, str]:
    """One SFT example as text: the prompt up to ``<|start|>assistant`` and the teacher's completion."""
    ids, _ = render_for_training(encoding, teacher_conversation(problem))
    prompt = encoding.render_conversation_for_completion(prompt_conversation(problem), Role.ASSISTANT)
    if ids[:len(prompt)] != prompt:
        raise ValueError(f"the training rendering of {problem.question!r} does not start with its completion prompt")
    return {"prompt": encoding.decode(prompt), "completion": encoding.decode(ids[len(prompt):])}


def sft_tokens(encoding, problem: Problem) -> dict[str, list[int]]:
    """One SFT example pre-tokenized for TRL: the o200k_harmony ids and our loss mask as ``completion_mask``."""
    ids, mask = render_for_training(encoding, teacher_conversation(problem))
    return {"input_ids": ids, "completion_mask": [int(m) for m in mask]}


def grpo_row(encoding, problem: Problem) -> dict[str, str | int]:
    """One RL prompt as text, with the answer the reward checks against."""
    prompt = encoding.render_conversation_for_completion(prompt_conversation(problem), Role.ASSISTANT)
    return {"prompt": encoding.decode(prompt), "answer": problem.answer}


def verifiable_reward(encoding, completions: Sequence[str], answer: Sequence[int], **_) -> list[float]:
    """TRL-style reward: 1 for the right final answer, plus 0.1 for a well-formed analysis + final completion."""
    rewards = []
    for text, expected in zip(completions, answer):
        try:
            tokens = encoding.encode(text, allowed_special="all")
            messages = encoding.parse_messages_from_completion_tokens(tokens, Role.ASSISTANT)
        except HarmonyError:
            rewards.append(0.0)
            continue
        well_formed = [m.channel for m in messages] == ["analysis", "final"]
        final = messages[-1].text() if messages else None
        rewards.append(float(well_formed and parse_answer(final) == expected) + 0.1 * well_formed)
    return rewards
