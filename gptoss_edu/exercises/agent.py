"""Checkers for notebook 09 (tools and agents): each runs the learner's function and the library's
on the same random inputs and explains the first difference."""
from __future__ import annotations

import inspect
import random
from collections.abc import Callable
from typing import Any, Literal

from gptoss_edu.agent.browser import parse_citations
from gptoss_edu.agent.loop import tool_message
from gptoss_edu.agent.schema import annotation_schema
from gptoss_edu.agent.validate import validate
from gptoss_edu.exercises import Misconception, check_function
from gptoss_edu.harmony import HarmonyEncodingName, Message, Role, load_harmony_encoding

_JSON_TYPES = ["string", "integer", "number", "boolean", "null", "array", "object"]
_SCALARS = [str, int, float, bool]


def check_matches_type(fn: Callable[[Any, str], bool]) -> None:
    """``fn(value, type_name)``: does a decoded JSON value have this JSON Schema type?"""
    def reference(value: Any, type_name: str) -> bool:
        return not validate(value, {"type": type_name})

    def make_inputs(rng: random.Random) -> tuple:
        values = [True, False, 0, 3, -7, 2.5, 4.0, "", "3", None, [], [1], {}, {"a": 1}]
        return rng.choice(values), rng.choice(_JSON_TYPES)

    check_function(fn, reference, make_inputs, trials=60, inputs=("value", "type_name"), misconceptions=(
        Misconception(_python_isinstance, "in Python True is an int, but JSON booleans are never numbers: check "
                      "for bool before int."),
    ))


def _python_isinstance(value: Any, type_name: str) -> bool:
    python_types = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "null": type(None),
                    "array": list, "object": dict}
    return isinstance(value, python_types[type_name])


def check_annotation_schema(fn: Callable[[Any], dict]) -> None:
    """``fn(annotation)`` for scalars, ``list[...]``, string ``Literal`` and ``X | None`` of a scalar."""
    def make_inputs(rng: random.Random) -> tuple:
        return (_random_annotation(rng, depth=2),)

    check_function(fn, annotation_schema, make_inputs, trials=40, inputs=("annotation",),
                   forbidden=(annotation_schema,), misconceptions=(
                       Misconception(_optional_without_null, "an optional `X | None` must also accept null: "
                                     "its schema lists \"null\" beside X's type."),
                   ))


def _optional_without_null(annotation: Any) -> dict:
    """The library's schema with every "null" alternative removed, as if ``| None`` were ignored."""
    def strip(schema: Any) -> Any:
        if isinstance(schema, dict):
            out = {k: strip(v) for k, v in schema.items()}
            if isinstance(out.get("type"), list):
                kept = [t for t in out["type"] if t != "null"]
                out["type"] = kept[0] if len(kept) == 1 else kept
            if "anyOf" in out:
                out["anyOf"] = [s for s in out["anyOf"] if s != {"type": "null"}]
            return out
        return [strip(s) for s in schema] if isinstance(schema, list) else schema

    return strip(annotation_schema(annotation))


def check_parse_citations(fn: Callable[[str], list[tuple[int, int, int]]]) -> None:
    """``fn(text)``: every ``【cursor†Lstart(-Lend)?】`` in order, as ``(cursor, start, end)`` tuples."""
    def reference(text: str) -> list[tuple[int, int, int]]:
        return [(citation.cursor, citation.start, citation.end) for citation in parse_citations(text)]

    def make_inputs(rng: random.Random) -> tuple:
        pieces = []
        for _ in range(rng.randint(0, 5)):
            cursor, start = rng.randint(0, 30), rng.randint(0, 200)
            pieces.append(rng.choice([
                f"【{cursor}†L{start}】", f"【{cursor}†L{start}-L{start + rng.randint(0, 9)}】",
                f"[{cursor}†L{start}]", f"【{cursor}†{start}】", f"【x†L{start}】", "some words", "L12", "†",
            ]))
        return (" ".join(pieces),)

    check_function(fn, reference, make_inputs, trials=40, inputs=("text",), forbidden=(parse_citations,),
                   misconceptions=(
                       Misconception(lambda text: [(c, s, 0 if e == s else e) for c, s, e in reference(text)],
                                     "a citation without `-Lend` covers one line: its end is its start, not 0."),
                   ))


def check_tool_message(fn: Callable[[Message, str], Message]) -> None:
    """``fn(call, text)``: the tool's answer to an assistant call, compared as rendered harmony text."""
    encoding = load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)

    def make_inputs(rng: random.Random) -> tuple:
        recipient, channel = rng.choice([("functions.get_weather", "commentary"), ("functions.lookup", "commentary"),
                                         ("python", "analysis"), ("browser.search", "analysis")])
        call = (Message.from_role_and_content(Role.ASSISTANT, '{"q": 1}')
                .with_channel(channel).with_recipient(recipient))
        return call, rng.choice(["42", '{"temperature": 21}', "Error: unknown function"])

    def rendered(make: Callable[[Message, str], Message]) -> Callable[[Message, str], str]:
        return lambda call, text: encoding.decode(encoding.render(make(call, text)))

    check_function(rendered(inspect.unwrap(fn)), rendered(tool_message), make_inputs, trials=8, name=fn.__name__,
                   inputs=("call", "text"), forbidden=(tool_message,), misconceptions=(
                       Misconception(rendered(_answer_without_channel), "the answer must go back on the call's "
                                     "channel (with_channel(call.channel)), or the model loses track of it."),
                   ))


def _answer_without_channel(call: Message, text: str) -> Message:
    return tool_message(call, text).with_channel(None)


def _random_annotation(rng: random.Random, depth: int) -> Any:
    """A scalar, a list of something, a string ``Literal`` or an optional scalar."""
    kind = rng.choice(["scalar", "list", "literal", "optional"] if depth > 0 else ["scalar"])
    if kind == "list":
        return list[_random_annotation(rng, depth - 1)]
    if kind == "literal":
        return Literal[tuple(rng.sample(["a", "b", "red", "green", "fast"], rng.randint(1, 3)))]
    scalar = rng.choice(_SCALARS)
    return scalar | None if kind == "optional" else scalar
