"""The notebook-09 checkers accept the library's own functions and reject near misses with a useful message."""
from __future__ import annotations

import re

import pytest

from gptoss_edu.agent.loop import tool_message
from gptoss_edu.agent.schema import annotation_schema
from gptoss_edu.exercises import ExerciseError
from gptoss_edu.exercises.agent import (
    check_annotation_schema,
    check_matches_type,
    check_parse_citations,
    check_tool_message,
)
from gptoss_edu.harmony import Author, Message, Role


def test_library_functions_pass_their_checkers(library_answers_allowed):
    check_annotation_schema(annotation_schema)
    check_tool_message(tool_message)
    check_parse_citations(lambda text: [(int(c), int(s), int(e or s))
                                        for c, s, e in re.findall(r"【(\d+)†L(\d+)(?:-L(\d+))?】", text)])


def test_bool_counted_as_integer_is_caught():
    def naive(value, type_name):
        kinds = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "null": type(None),
                 "array": list, "object": dict}
        return isinstance(value, kinds[type_name])

    with pytest.raises(ExerciseError, match="naive differs from the library"):
        check_matches_type(naive)


def test_missing_channel_on_tool_message_is_caught():
    def no_channel(call, text):
        return Message.from_author_and_content(Author.new(Role.TOOL, call.recipient), text).with_recipient("assistant")

    with pytest.raises(ExerciseError, match="<|channel|>"):
        check_tool_message(no_channel)


def test_single_line_citation_end_is_checked():
    def forgets_end(text):
        return [(int(c), int(s), int(e or 0)) for c, s, e in re.findall(r"【(\d+)†L(\d+)(?:-L(\d+))?】", text)]

    with pytest.raises(ExerciseError, match="forgets_end differs"):
        check_parse_citations(forgets_end)
