"""The verifiable task and its programmatic teacher: sums of small numbers, at three effort levels.

The task: ``What is 7+3+9+4?`` with 3 to 6 terms, each 1..9. Its answer is checkable by a
program, which is what reinforcement learning with verifiable rewards needs.

The teacher is a program, not a model: it writes a correct step-by-step reasoning trace
for the ``analysis`` channel and the answer for the ``final`` channel. Training the
student on these traces is **distillation of reasoning traces from a programmatic
teacher**, the small-scale stand-in for distilling a large reasoning model. The system
message's ``Reasoning: low|medium|high`` line selects how much the teacher writes:

- low: one line with the result (the student must add in one go);
- medium: running totals, one addition per line;
- high: running totals, then the same sum added again in reverse order as a check.

The tool variant declares a developer function ``calculate`` (exact integer sums); there
the teacher calls it on the commentary channel with JSON arguments and answers with its
result, which is how a gpt-oss model is shown to use a developer function.
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from types import ModuleType

from gptoss_edu import harmony
from gptoss_edu.agent.schema import function_tool

EFFORTS = ("low", "medium", "high")
MIN_TERMS, MAX_TERMS = 3, 6
MAX_TERM = 9
TOOL_RECIPIENT = "functions.calculate"
_SUM = re.compile(r"[0-9]+(\+[0-9]+)*")


def calculate(expression: str) -> str:
    """Add up a sum of whole numbers exactly.

    Args:
        expression: the sum to compute, whole numbers joined by "+", like "7+3+9".
    """
    if not _SUM.fullmatch(expression.strip()):
        raise ValueError(f"calculate only adds whole numbers joined by '+', got {expression!r}")
    return str(sum(int(term) for term in expression.strip().split("+")))


CALCULATOR = function_tool(calculate)


@dataclass(frozen=True)
class Problem:
    """One sum to compute: its terms, and whether the calculator is offered."""

    terms: tuple[int, ...]
    effort: str = "medium"
    with_tool: bool = False

    def __post_init__(self) -> None:
        if self.effort not in EFFORTS:
            raise ValueError(f"effort must be one of {EFFORTS}, got {self.effort!r}")
        if not self.terms or any(not 0 <= t <= MAX_TERM for t in self.terms):
            raise ValueError(f"terms must be a non-empty tuple of numbers 0..{MAX_TERM}, got {self.terms!r}")

    @property
    def expression(self) -> str:
        return "+".join(str(t) for t in self.terms)

    @property
    def answer(self) -> int:
        return sum(self.terms)

    @property
    def question(self) -> str:
        return f"What is {self.expression}?"


def random_problem(rng: random.Random, effort: str | None = None, with_tool: bool = False) -> Problem:
    """A random problem (3..6 terms of 1..9); a random effort level unless one is given."""
    terms = tuple(rng.randint(1, MAX_TERM) for _ in range(rng.randint(MIN_TERMS, MAX_TERMS)))
    return Problem(terms, effort or rng.choice(EFFORTS), with_tool)


def problems(n: int, seed: int, effort: str | None = None, with_tool: bool = False) -> list[Problem]:
    """``n`` random problems from ``seed`` (deterministic)."""
    rng = random.Random(seed)
    return [random_problem(rng, effort, with_tool) for _ in range(n)]


# ---- the teacher ---------------------------------------------------------------------------------
def running_totals(terms: tuple[int, ...]) -> list[str]:
    """``['7+3=10', '10+9=19', ...]``: one addition per line, left to right."""
    lines, total = [], terms[0]
    for term in terms[1:]:
        lines.append(f"{total}+{term}={total + term}")
        total += term
    return lines


def teacher_analysis(problem: Problem) -> str:
    """The chain of thought the teacher writes for ``problem`` at its effort level."""
    if problem.with_tool:
        return "Exact sum: use the calculator."
    if problem.effort == "low":
        return f"The sum is {problem.answer}."
    lines = running_totals(problem.terms)
    if problem.effort == "high":
        lines += ["Check in reverse:"] + running_totals(problem.terms[::-1])
        lines.append(f"Both give {problem.answer}.")
    return "\n".join(lines)


def prompt_messages(problem: Problem, h: ModuleType = harmony) -> list:
    """System (with the effort line), developer (the calculator, in the tool variant) and user messages."""
    system = h.SystemContent.new().with_reasoning_effort(h.ReasoningEffort(problem.effort.capitalize()))
    messages = [h.Message.from_role_and_content(h.Role.SYSTEM, system)]
    if problem.with_tool:
        tool = h.ToolDescription.new(CALCULATOR.name, CALCULATOR.description, parameters=CALCULATOR.parameters)
        developer = h.DeveloperContent.new().with_function_tools([tool])
        messages.append(h.Message.from_role_and_content(h.Role.DEVELOPER, developer))
    messages.append(h.Message.from_role_and_content(h.Role.USER, problem.question))
    return messages


def teacher_messages(problem: Problem, h: ModuleType = harmony) -> list:
    """What the assistant should write: analysis, [tool call, tool answer,] final."""
    analysis = h.Message.from_role_and_content(h.Role.ASSISTANT, teacher_analysis(problem)).with_channel("analysis")
    final = h.Message.from_role_and_content(h.Role.ASSISTANT, str(problem.answer)).with_channel("final")
    if not problem.with_tool:
        return [analysis, final]
    arguments = json.dumps({"expression": problem.expression}, separators=(",", ":"))
    call = (h.Message.from_role_and_content(h.Role.ASSISTANT, arguments).with_channel("commentary")
            .with_recipient(TOOL_RECIPIENT).with_content_type("<|constrain|>json"))
    author = h.Author.new(h.Role.TOOL, TOOL_RECIPIENT)
    result = (h.Message.from_author_and_content(author, calculate(problem.expression))
              .with_recipient("assistant").with_channel("commentary"))
    return [analysis, call, result, final]


def prompt_conversation(problem: Problem, h: ModuleType = harmony):
    """The conversation the model continues: ``render_conversation_for_completion(.., Role.ASSISTANT)``."""
    return h.Conversation.from_messages(prompt_messages(problem, h))


def teacher_conversation(problem: Problem, h: ModuleType = harmony):
    """The full training conversation: the prompt followed by the teacher's answer."""
    return h.Conversation.from_messages(prompt_messages(problem, h) + teacher_messages(problem, h))


# ---- the verifier ------------------------------------------------------------------------------
def parse_answer(text: str | None) -> int | None:
    """The integer a final message states, or None unless it is exactly one (optionally signed) integer."""
    if text is None or not re.fullmatch(r"\s*-?[0-9]+\s*", text):
        return None
    return int(text)


def is_correct(problem: Problem, final_text: str | None) -> bool:
    """The verifiable reward's core: the final channel holds exactly the right number."""
    return parse_answer(final_text) == problem.answer
