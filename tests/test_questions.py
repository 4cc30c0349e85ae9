"""Predict-then-run prompts and quizzes: they mark, explain, and never stop a notebook."""
from __future__ import annotations

import pytest

from gptoss_edu.exercises.questions import Question, Quiz, reveal
from gptoss_edu.exercises.student_edition import stub_solution

QUIZ = Quiz((
    Question("Which comes first in the router?", {"a": "top-k", "b": "softmax"}, "a", "softmax over the chosen k."),
    Question("How many experts per token?", {"a": "2", "b": "4", "c": "32"}, "b", "experts_per_token is 4."),
))


def test_reveal_marks_numbers_within_tolerance_and_explains(capsys):
    assert reveal(4, 4, "four experts.") and not reveal(3, 4, "four experts.")
    assert reveal(3.6e9, 3.61e9, "close enough.", rel_tol=0.01)
    out = capsys.readouterr().out
    assert "✓ Right" in out and "✗ Not quite: you guessed 3, the answer is 4." in out and "four experts." in out


def test_reveal_without_a_guess_is_a_note(capsys):
    assert reveal(None, 4, "four experts.") is False
    assert "No guess written yet" in capsys.readouterr().out


def test_quiz_marks_each_answer_with_its_explanation(capsys):
    assert QUIZ.check({1: "a", 2: "c"}) == 1
    out = capsys.readouterr().out
    assert "✓ 1. a) is right" in out and "✗ 2. you chose c) 32. The answer is b) 4" in out and "Score: 1 / 2" in out


def test_unanswered_quiz_is_a_note_not_an_error(capsys):
    assert QUIZ.check(None) == 0
    assert capsys.readouterr().out.count("not answered yet") == 2


def test_answers_are_forgiving_about_case_and_parentheses():
    assert QUIZ.check({1: "A)", 2: " b "}) == 2


def test_a_question_whose_answer_is_not_a_choice_is_refused():
    with pytest.raises(ValueError, match="not one of the choices"):
        Question("?", {"a": "x"}, "b", "")


def test_student_edition_keeps_quiz_answer_names_empty():
    stub = stub_solution('quiz_answers = {1: "a", 2: "b"}')
    assert stub == "quiz_answers = None  # YOUR ANSWER HERE"
    namespace: dict = {}
    exec(stub, namespace)
    assert QUIZ.check(namespace["quiz_answers"]) == 0
