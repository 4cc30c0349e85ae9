"""Check a model's JSON arguments against the schema subset :mod:`gptoss_edu.agent.schema` emits.

Handled keywords: ``type`` (one name or a list), ``enum``, ``properties``,
``required``, ``additionalProperties`` (``false`` or a schema), ``items``, ``nullable``,
``anyOf`` and ``oneOf`` (both read as "at least one": the alternatives we emit never
overlap); ``description`` and ``default`` are ignored. Integers are JSON numbers without a
fractional part (``3`` and ``3.0``); booleans are never numbers, as in JSON.

:func:`decode_arguments` parses the model's JSON first, refusing payloads that are too long or
nested too deeply (checked before ``json.loads``, which would otherwise hit Python's recursion
limit) with an error the model can act on.

Every problem is reported with its path from the arguments object, e.g.
``unit: expected one of "c", "f", got "kelvin"`` or ``points[2].x: expected number, got string``,
so the message sent back to the model says exactly what to fix.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_ARGUMENT_CHARS = 65_536
MAX_ARGUMENT_DEPTH = 32
_JSON_TYPE_NAMES = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}


@dataclass(frozen=True)
class Issue:
    """One validation problem: where (``a.b[2]``, empty for the whole object) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(arguments)'}: {self.message}"


class ArgumentError(ValueError):
    """The arguments do not match the schema; ``issues`` lists every problem found."""

    def __init__(self, issues: list[Issue]):
        self.issues = issues
        super().__init__("; ".join(str(issue) for issue in issues))


def decode_arguments(payload: str, max_chars: int = MAX_ARGUMENT_CHARS, max_depth: int = MAX_ARGUMENT_DEPTH) -> Any:
    """The JSON ``payload`` decoded (empty means ``{}``); ``ValueError`` naming the problem if it is not acceptable."""
    if len(payload) > max_chars:
        raise ValueError(f"too long: {len(payload)} characters (at most {max_chars})")
    depth = nesting_depth(payload)
    if depth > max_depth:
        raise ValueError(f"nested too deeply: {depth} levels of arrays/objects (at most {max_depth})")
    if not payload.strip():
        return {}
    try:
        return json.loads(payload)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON: {error}") from error


def nesting_depth(text: str) -> int:
    """The deepest nesting of ``[`` and ``{`` in JSON text, outside strings (one linear pass)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def json_type(value: Any) -> str:
    """The JSON type name of a decoded JSON value (``integer`` for whole numbers)."""
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list, str)):
        return _JSON_TYPE_NAMES[type(value)]
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "number"
    raise TypeError(f"{type(value).__name__} is not a decoded JSON value")


def validate(value: Any, schema: dict[str, Any], path: str = "") -> list[Issue]:
    """All the ways ``value`` breaks ``schema`` (an empty list when it conforms)."""
    if value is None and schema.get("nullable"):
        return []
    alternatives = schema.get("anyOf", schema.get("oneOf"))
    if alternatives is not None:
        return _validate_any_of(value, alternatives, schema.get("nullable", False), path)
    expected = schema.get("type")
    if expected is not None and not _has_type(value, expected):
        return [Issue(path, f"expected {_describe(schema)}, got {json_type(value)}")]
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(json.dumps(choice) for choice in schema["enum"])
        return [Issue(path, f"expected one of {choices}, got {json.dumps(value)}")]
    if isinstance(value, dict):
        return _validate_object(value, schema, path)
    if isinstance(value, list) and "items" in schema:
        return [issue for i, item in enumerate(value) for issue in validate(item, schema["items"], f"{path}[{i}]")]
    return []


def check_arguments(arguments: Any, schema: dict[str, Any] | None) -> None:
    """Raise :class:`ArgumentError` unless ``arguments`` conform; ``None`` schema means no arguments."""
    issues = validate(arguments, schema or {"type": "object", "properties": {}, "additionalProperties": False})
    if issues:
        raise ArgumentError(issues)


def _has_type(value: Any, expected: str | list[str]) -> bool:
    """Whether ``value``'s JSON type is ``expected`` (or one of them); an integer is also a number."""
    names = [expected] if isinstance(expected, str) else expected
    actual = json_type(value)
    return actual in names or (actual == "integer" and "number" in names)


def _type_text(expected: str | list[str]) -> str:
    """``string`` or ``string or null`` for messages."""
    return expected if isinstance(expected, str) else " or ".join(expected)


def _validate_object(value: dict[str, Any], schema: dict[str, Any], path: str) -> list[Issue]:
    """Missing required keys, unknown keys and each known property's own issues."""
    properties = schema.get("properties", {})
    issues = [
        Issue(_join(path, name), f"missing required argument ({_describe(properties.get(name, {}))})")
        for name in schema.get("required", [])
        if name not in value
    ]
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in properties:
            issues += validate(item, properties[name], _join(path, name))
        elif extra is False:
            known = ", ".join(properties) or "none"
            issues.append(Issue(_join(path, name), f"unexpected argument (known: {known})"))
        elif isinstance(extra, dict):
            issues += validate(item, extra, _join(path, name))
    return issues


def _validate_any_of(value: Any, options: list[dict[str, Any]], nullable: bool, path: str) -> list[Issue]:
    """Conforms if any option accepts; else the issues of the one option of the right type, or a summary."""
    attempts = [validate(value, option, path) for option in options]
    if any(not issues for issues in attempts):
        return []
    same_type = [issues for option, issues in zip(options, attempts)
                 if "type" in option and _has_type(value, option["type"])]
    if len(same_type) == 1:
        return same_type[0]
    alternatives = " | ".join(_describe(option) for option in options) + (" | null" if nullable else "")
    return [Issue(path, f"expected {alternatives}, got {json_type(value)}")]


def _describe(schema: dict[str, Any]) -> str:
    """A short name of what a schema accepts, for error messages (``array or null``, ``one of "a", "b"``)."""
    if "enum" in schema:
        text = "one of " + ", ".join(json.dumps(choice) for choice in schema["enum"])
    elif "anyOf" in schema or "oneOf" in schema:
        text = " | ".join(_describe(option) for option in schema.get("anyOf", schema.get("oneOf")))
    else:
        text = _type_text(schema.get("type", "any value"))
    return text + " or null" if schema.get("nullable") else text


def _join(path: str, name: str) -> str:
    """Append an object key to a path."""
    return f"{path}.{name}" if path else name
