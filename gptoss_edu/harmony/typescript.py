"""JSON Schema to the TypeScript-like signatures gpt-oss reads in its prompt.

A function tool ``get_weather`` with schema ``{"type": "object", "properties": {"city":
{"type": "string", "description": "City"}}, "required": ["city"]}`` is shown to the model as::

    // Gets the weather.
    type get_weather = (_: {
    // City
    city: string,
    }) => any;

Handled, byte for byte as ``openai_harmony`` writes them: primitive types (``integer`` and
``number`` both become ``number``), type lists (``string | null``), string enums as unions of
literals, arrays (``T[]``, or ``Array<any>`` without ``items``), nested objects (indented four
spaces per level, the closing brace indented with the properties), ``oneOf`` (one `` | variant``
line each), ``nullable`` on a property (`` | null``), descriptions and titles as ``//``
comments, defaults as a trailing ``// default: ...`` comment, optional properties (not in
``required``) with ``?``, string ``examples`` listed under ``// Examples:``, and functions without
parameters (``() => any``). ``anyOf``, ``$ref`` and ``const`` become ``any``, as there.

The quirks are kept on purpose: a multi-line property description is emitted verbatim after a
single ``// ``, and an object's own description is repeated before its opening brace.
"""
from __future__ import annotations

import json
import math
from typing import Any

INDENT = "    "
PRIMITIVES = {"string": "string", "integer": "number", "number": "number", "boolean": "boolean"}


def function_signature(parameters: dict | None) -> str:
    """The right-hand side of ``type name = ...;``: ``() => any`` or ``(_: T) => any``."""
    if parameters is None:
        return "() => any"
    return f"(_: {type_expression(parameters, 0)}) => any"


def type_expression(schema: dict, level: int) -> str:
    """The TypeScript type of ``schema``; ``level`` is the nesting depth of its properties."""
    if "oneOf" in schema:
        described = "description" in schema
        variants = "\n".join(INDENT * level + _variant_line(v, level, described) for v in schema["oneOf"])
        return "\n" + variants
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(PRIMITIVES.get(k, k) for k in kind) if kind else "any"
    if kind == "object":
        return _object_expression(schema, level)
    if kind == "array":
        return f"{type_expression(schema['items'], level)}[]" if "items" in schema else "Array<any>"
    if kind == "string" and "enum" in schema:
        return " | ".join(f'"{value}"' for value in schema["enum"])
    return PRIMITIVES.get(kind, "any")


def _object_expression(schema: dict, level: int) -> str:
    """``{`` + one line per property + ``}``, with the object's description as a comment first."""
    header = f"{INDENT * level}// {schema['description']}\n" if "description" in schema else ""
    required = set(schema.get("required", []))
    properties = schema.get("properties", {})
    body = "".join(property_lines(name, prop, name in required, level) for name, prop in properties.items())
    return f"{header}{{\n{body}{INDENT * level}}}"


def property_lines(name: str, schema: dict, required: bool, level: int) -> str:
    """Comments, then ``name?: type,`` with a trailing default comment, each line indented.

    The comments are the title, description and examples; a ``oneOf`` property puts its
    examples before its description and its default in a comment line of its own.
    """
    pad = INDENT * level
    mark = "" if required else "?"
    title, description, examples = (_comment(schema, key, pad) for key in ("title", "description", "examples"))
    if "oneOf" in schema:
        default = f"{pad}// default: {format_default(schema)}\n" if "default" in schema else ""
        comments = title + examples + description + default
        return f"{comments}{pad}{name}{mark}:{type_expression(schema, level)}\n{pad},\n"
    default = f" // default: {format_default(schema)}" if "default" in schema else ""
    return f"{title}{description}{examples}{pad}{name}{mark}: {_nullable_type(schema, level + 1)},{default}\n"


def _comment(schema: dict, key: str, pad: str) -> str:
    """The comment lines for a title (with an empty ``//`` after it), a description or string examples."""
    if key not in schema:
        return ""
    value = schema[key]
    if key == "title":
        return f"{pad}// {value}\n{pad}//\n"
    if key == "description":
        return f"{pad}// {value}\n"
    if not (isinstance(value, list) and value):
        return ""
    return f"{pad}// Examples:\n" + "".join(f'{pad}// - "{e}"\n' for e in value if isinstance(e, str))


def _nullable_type(schema: dict, level: int) -> str:
    """The type plus `` | null`` for ``nullable`` unless the type text already says null.

    Honoured on properties and oneOf variants, not on array items.
    """
    kind = type_expression(schema, level)
    return f"{kind} | null" if schema.get("nullable") and "null" not in kind else kind


def _variant_line(schema: dict, level: int, parent_described: bool) -> str:
    """One `` | type`` line of a ``oneOf``; a comment with the variant's description and default.

    A variant's description is left out when the ``oneOf`` has its own, unless the variant also
    has a default (``// description default: value``).
    """
    line = f" | {_nullable_type(schema, level + 1)}"
    description = schema.get("description")
    if "default" in schema:
        prefix = f"{description} " if description else ""
        line += f" // {prefix}default: {format_default(schema)}"
    elif description and not parent_described:
        line += f" // {description}"
    return line


def format_default(schema: dict) -> str:
    """A default as the prompt shows it: raw text for enums, quoted text for strings, else compact JSON."""
    value = schema["default"]
    if isinstance(value, str):
        return value if "enum" in schema else f'"{value}"'
    return _compact_json(value)


def _compact_json(value: Any) -> str:
    """JSON without spaces, floats written the way Rust's serde_json writes them (``2.0``, ``1e20``)."""
    if isinstance(value, float) and math.isfinite(value):
        mantissa, _, exponent = repr(value).partition("e")
        return f"{mantissa}e{int(exponent)}" if exponent else mantissa
    if isinstance(value, list):
        return "[" + ",".join(_compact_json(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{_compact_json(v)}" for k, v in value.items()) + "}"
    return json.dumps(value, ensure_ascii=False)
