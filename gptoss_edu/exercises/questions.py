"""Predict-then-run prompts and end-of-notebook quizzes.

A prediction is written down before the cell that computes the answer, so the learner commits
to a guess (``my_guess = ...``); ``reveal`` then compares the guess with what was computed and
explains. A ``Quiz`` is a list of multiple-choice ``Question``s; ``Quiz.check`` marks a dict of
answers and explains every question, right or wrong. Neither ever raises: a missing guess or
answer is a note, so a notebook runs top to bottom before the learner has written anything.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def reveal(guess: Any, answer: Any, why: str, rel_tol: float = 0.0) -> bool:
    """Print how ``guess`` compares with the computed ``answer`` and the explanation ``why``; True if right.

    Numbers count as right within ``rel_tol`` (0: exactly); anything else must be equal.
    """
    if guess is None:
        print(f"○ No guess written yet (set it in the cell above, then run both again). The answer: {answer!r}.")
        print(f"  {why}")
        return False
    right = _close(guess, answer, rel_tol)
    verdict = "✓ Right" if right else "✗ Not quite"
    print(f"{verdict}: you guessed {guess!r}, the answer is {answer!r}.")
    print(f"  {why}")
    return right


def _close(guess: Any, answer: Any, rel_tol: float) -> bool:
    numbers = (int, float)
    if isinstance(guess, numbers) and isinstance(answer, numbers) and not isinstance(guess, bool):
        return math.isclose(guess, answer, rel_tol=rel_tol, abs_tol=0.0)
    return guess == answer


@dataclass(frozen=True)
class Question:
    """One multiple-choice question: ``choices`` maps a letter to its text; ``why`` explains the answer."""

    prompt: str
    choices: Mapping[str, str]
    answer: str
    why: str

    def __post_init__(self) -> None:
        if self.answer not in self.choices:
            raise ValueError(f"answer {self.answer!r} is not one of the choices {sorted(self.choices)}")


@dataclass(frozen=True)
class Quiz:
    """An end-of-notebook quiz; ``show()`` prints the questions, ``check(answers)`` marks them."""

    questions: tuple[Question, ...]

    def show(self) -> None:
        for number, q in enumerate(self.questions, 1):
            print(f"{number}. {q.prompt}")
            for letter, text in q.choices.items():
                print(f"   {letter}) {text}")

    def check(self, answers: Mapping[int, str] | None) -> int:
        """Mark ``answers`` (``{question number: letter}``); print each verdict with its explanation; return the score."""
        answers = answers or {}
        unknown = sorted(set(answers) - set(range(1, len(self.questions) + 1)), key=repr)
        if unknown:
            print(f"(ignored: there is no question {', '.join(map(repr, unknown))})")
        score = 0
        for number, q in enumerate(self.questions, 1):
            given = answers.get(number)
            if given is None:
                print(f"○ {number}. not answered yet. The answer is {q.answer}) {q.choices[q.answer]}: {q.why}")
                continue
            given = str(given).strip().lower().rstrip(")")
            if given == q.answer:
                score += 1
                print(f"✓ {number}. {given}) is right: {q.why}")
            else:
                picked = q.choices.get(given, "not one of the choices")
                print(f"✗ {number}. you chose {given}) {picked}. The answer is {q.answer}) {q.choices[q.answer]}: {q.why}")
        print(f"Score: {score} / {len(self.questions)}")
        return score
