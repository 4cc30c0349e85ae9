"""The notebook 02 checkers accept the worked solutions and reject near misses with a useful message."""
from __future__ import annotations

import json

import pytest

from gptoss_edu.exercises import ExerciseError
from gptoss_edu.exercises.harmony import check_property_to_typescript, check_render_header


def render_header(role, channel, recipient, content_type):
    header = "<|start|>" + role + ("" if recipient is None else " to=" + recipient)
    header += "" if channel is None else "<|channel|>" + channel
    return header + ("" if content_type is None else " " + content_type) + "<|message|>"


def property_to_typescript(name, schema, required):
    names = {"string": "string", "integer": "number", "number": "number", "boolean": "boolean"}
    if "enum" in schema:
        kind = " | ".join(f'"{v}"' for v in schema["enum"])
    elif schema["type"] == "array":
        kind = names[schema["items"]["type"]] + "[]"
    else:
        kind = names[schema["type"]]
    line = f"{name}{'' if required else '?'}: {kind},"
    if "default" in schema:
        value = schema["default"]
        shown = (value if "enum" in schema else f'"{value}"') if isinstance(value, str) else json.dumps(value)
        line += f" // default: {shown}"
    return (f"// {schema['description']}\n" if "description" in schema else "") + line + "\n"


def test_solutions_pass():
    check_render_header(render_header)
    check_property_to_typescript(property_to_typescript)


def test_header_with_channel_before_recipient_is_rejected():
    def swapped(role, channel, recipient, content_type):
        header = "<|start|>" + role + ("" if channel is None else "<|channel|>" + channel)
        header += "" if recipient is None else " to=" + recipient
        return header + ("" if content_type is None else " " + content_type) + "<|message|>"

    with pytest.raises(ExerciseError, match="render_header differs from the library"):
        check_render_header(swapped)


def test_property_that_forgets_optional_mark_is_rejected():
    with pytest.raises(ExerciseError, match="property_to_typescript differs"):
        check_property_to_typescript(lambda name, schema, required: property_to_typescript(name, schema, True))
