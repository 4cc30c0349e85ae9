"""The calculator variant through the agent loop: the trained student calls ``functions.calculate``.

The student works on compact ids, the agent loop (``gptoss_edu.agent.AgentLoop``) on real
o200k_harmony ids. ``CompactCompletions`` sits between them: it maps the loop's prompt to
compact ids, generates with ``gptoss_edu.generate`` until ``<|call|>`` or ``<|return|>``,
and maps the answer back. The loop does the rest, exactly as in notebook 09: it parses
the call ``to=functions.calculate`` with JSON arguments, validates them against the
function's schema, runs ``tasks.calculate`` and renders its answer as a tool message; the
student then writes its final answer from that result.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from gptoss_edu.agent import AgentLoop, AgentResult, FunctionTools, LoopEvent
from gptoss_edu.model.generation import generate
from gptoss_edu.reasoning.tasks import TOOL_RECIPIENT, Problem, calculate, is_correct, prompt_conversation
from gptoss_edu.reasoning.vocab import CompactVocab, OutOfVocabulary


class CompactCompletions:
    """A ``CompletionModel`` for ``AgentLoop``: a compact-vocabulary student behind o200k_harmony ids."""

    label = "model output"

    def __init__(self, model, vocab: CompactVocab, encoding, max_new_tokens: int = 96, temperature: float = 0.0,
                 seed: int | None = None):
        self.model, self.vocab, self.encoding = model, vocab, encoding
        self.max_new_tokens, self.temperature, self.seed = max_new_tokens, temperature, seed

    def __call__(self, prompt_ids: list[int], stop_tokens: Sequence[int]) -> Iterable[int]:
        prompt = self.vocab.to_compact(prompt_ids, self.encoding)
        stops = [self.vocab.to_compact([t])[0] for t in stop_tokens if t in self.vocab]
        for token in generate(self.model, prompt, self.max_new_tokens, temperature=self.temperature,
                              stop_tokens=stops, seed=self.seed):
            yield self.vocab.to_o200k([token])[0]


def calculator_tools() -> FunctionTools:
    """The ``functions`` namespace holding ``calculate`` (the same declaration the student was trained on)."""
    return FunctionTools([calculate])


def solve_with_tools(model, vocab: CompactVocab, encoding, problem: Problem, max_steps: int = 3,
                     on_event: Callable[[LoopEvent], None] | None = None) -> AgentResult:
    """Run the agent loop on ``problem`` (which must offer the calculator) with the student as the model."""
    if not problem.with_tool:
        raise ValueError("solve_with_tools needs a problem with with_tool=True (the calculator declared)")
    loop = AgentLoop(CompactCompletions(model, vocab, encoding), [calculator_tools()], encoding=encoding,
                     max_steps=max_steps, on_event=on_event)
    return loop.run(prompt_conversation(problem))


@dataclass(frozen=True)
class ToolUse:
    """How one agent-loop run went: did the student call the calculator, and was its final answer right."""

    called: bool
    correct: bool
    stop_reason: str


def tool_use(model, vocab: CompactVocab, encoding, problem: Problem) -> ToolUse:
    """Run the loop on ``problem``: did the student call ``functions.calculate``, and was its final answer right?

    A bad call is answered by the loop with an ``Error: ...`` tool message, whose words the
    student's vocabulary does not have; such a run counts as failed, with the reason.
    """
    try:
        result = solve_with_tools(model, vocab, encoding, problem)
    except OutOfVocabulary as error:
        return ToolUse(False, False, f"the conversation left the student's vocabulary: {error}")
    called = any(m.recipient == TOOL_RECIPIENT for step in result.steps for m in step.messages)
    return ToolUse(called, is_correct(problem, result.final), result.stop_reason)


def tool_accuracy(model, vocab: CompactVocab, encoding, problems: Sequence[Problem]) -> dict:
    """Fraction of ``problems`` where the student called the calculator, and where its final answer was right."""
    runs = [tool_use(model, vocab, encoding, p) for p in problems]
    n = max(len(runs), 1)
    return {"n": len(runs), "called": sum(r.called for r in runs) / n, "accuracy": sum(r.correct for r in runs) / n}
