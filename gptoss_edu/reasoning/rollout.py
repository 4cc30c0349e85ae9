"""Let the student answer: render the prompt, generate with the KV cache, parse the harmony it writes.

``complete`` is one rollout: the prompt is ``render_conversation_for_completion(conversation,
Role.ASSISTANT)`` (it ends with ``<|start|>assistant``), mapped to compact ids; the model
continues it with ``gptoss_edu.generate`` until ``<|return|>`` or ``<|call|>``; the compact
ids are mapped back to o200k_harmony and parsed with harmony's
``parse_messages_from_completion_tokens``. A completion is *well formed* when it parses,
stops with ``<|return|>`` and is one analysis message followed by one final message.
``evaluate`` measures accuracy, well-formedness and analysis length over a list of problems.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gptoss_edu.harmony import HarmonyError, Message, Role
from gptoss_edu.model.generation import generate
from gptoss_edu.reasoning.masks import special_id
from gptoss_edu.reasoning.tasks import EFFORTS, Problem, is_correct, prompt_conversation
from gptoss_edu.reasoning.vocab import CompactVocab

MAX_NEW_TOKENS = 96  # the longest teacher completion (high effort, six 9s) is 80 tokens


@dataclass(frozen=True)
class Rollout:
    """One sampled answer: compact ``prompt`` and ``completion`` ids and what harmony made of them."""

    problem: Problem
    prompt: tuple[int, ...]
    completion: tuple[int, ...]
    messages: tuple[Message, ...]
    well_formed: bool

    def channel_text(self, channel: str) -> str | None:
        texts = [m.text() for m in self.messages if m.channel == channel]
        return "".join(texts) if texts else None

    @property
    def final(self) -> str | None:
        return self.channel_text("final")

    @property
    def analysis(self) -> str:
        return self.channel_text("analysis") or ""

    @property
    def correct(self) -> bool:
        return self.well_formed and is_correct(self.problem, self.final)


def prompt_ids(encoding, vocab: CompactVocab, problem: Problem) -> list[int]:
    """The compact ids of ``problem``'s prompt, ending with ``<|start|>assistant``."""
    return vocab.to_compact(encoding.render_conversation_for_completion(prompt_conversation(problem), Role.ASSISTANT),
                            encoding)


def parse_completion(encoding, vocab: CompactVocab, problem: Problem, prompt: Sequence[int],
                     completion: Sequence[int]) -> Rollout:
    """Parse compact ``completion`` ids as harmony; anything unparseable is a rollout that is not well formed."""
    tokens = vocab.to_o200k(completion)
    try:
        messages = tuple(encoding.parse_messages_from_completion_tokens(tokens, Role.ASSISTANT))
    except HarmonyError:
        messages = ()
    well_formed = (bool(tokens) and tokens[-1] == special_id(encoding, "return")
                   and [m.channel for m in messages] == ["analysis", "final"]
                   and all(m.recipient is None for m in messages))
    return Rollout(problem, tuple(prompt), tuple(completion), messages, well_formed)


def complete(model, encoding, vocab: CompactVocab, problem: Problem, temperature: float = 0.0,
             seed: int | None = None, max_new_tokens: int = MAX_NEW_TOKENS) -> Rollout:
    """One answer of ``model`` to ``problem`` (greedy at ``temperature=0``)."""
    prompt = prompt_ids(encoding, vocab, problem)
    stops = vocab.to_compact([special_id(encoding, "return"), special_id(encoding, "call")])
    completion = list(generate(model, prompt, max_new_tokens, temperature=temperature, stop_tokens=stops, seed=seed))
    return parse_completion(encoding, vocab, problem, prompt, completion)


def summarize(rollouts: Sequence[Rollout], encoding) -> dict:
    """Accuracy, well-formed rate and mean analysis length (o200k tokens) of ``rollouts``, per effort and overall.

    A malformed sample's analysis may hold the text of a special token; it is counted as plain text.
    """
    def stats(group: Sequence[Rollout]) -> dict:
        n = max(len(group), 1)
        return {"n": len(group), "accuracy": sum(r.correct for r in group) / n,
                "well_formed": sum(r.well_formed for r in group) / n,
                "analysis_tokens": sum(len(encoding.encode(r.analysis, disallowed_special=())) for r in group) / n}

    table = {effort: stats([r for r in rollouts if r.problem.effort == effort]) for effort in EFFORTS}
    table["all"] = stats(rollouts)
    return table


def evaluate(model, encoding, vocab: CompactVocab, problems: Sequence[Problem]) -> tuple[dict, list[Rollout]]:
    """Greedy answers to ``problems``: ``(summarize(...), rollouts)``."""
    rollouts = [complete(model, encoding, vocab, problem) for problem in problems]
    return summarize(rollouts, encoding), rollouts
