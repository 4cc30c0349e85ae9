"""JSON Schema to the TypeScript-like signatures gpt-oss reads in its prompt.

A function tool ``get_weather`` with schema ``{"type": "object", "properties": {"city":
{"type": "string", "description": "City"}}, "required": ["city"]}`` is shown to the model as::

    // Gets the weather.
    type get_weather = (_: {
    // City
    city: string,
    }) => any;

The rules, byte for byte as ``openai_harmony`` writes them (it is the ground truth, quirks included):

- types: ``integer`` and ``number`` become ``number``; a type list is joined with `` | ``
  (``["integer", "null"]`` is ``number | null``); a string ``enum`` is a union of quoted
  literals; ``array`` is ``T[]`` (``Array<any>`` without ``items``); anything else (no type,
  ``null``, ``$ref``, ``const``, ``anyOf``, ``allOf``) is ``any``.
- objects: ``{``, one line per property in the schema's order, then ``}`` indented like the
  properties; a nested object's properties are indented four more spaces. An object's own
  description is a ``//`` line before its ``{``.
- a property: its title (``// title`` and an empty ``//``), description and string
  ``examples`` as comment lines, then ``name: type,`` (``name?`` when not ``required``), a
  trailing ``// default: ...``, and `` | null`` for ``nullable`` unless the type already says null.
- ``oneOf`` (the only union harmony knows): each variant on its own `` | type`` line, three spaces
  deeper, with its description and default as a trailing comment. On a property the union's
  description and default become comment lines above ``name:``, and the union ends with a ``,``
  line; a described union hides its first variant's description and any equal to its own, and
  a union described exactly like its first variant shows that description nowhere.
- defaults: a string is quoted (unescaped) unless the schema is an enum; everything else is
  compact JSON as Rust's serde_json reads and writes it (``2.0``, ``1e20``, ``0.00001``).
- non-string descriptions, titles and examples are ignored; a non-object schema is ``any``.
"""
from __future__ import annotations

import json
import math
from typing import Any

from .types import HarmonyValidationError

INDENT = "    "
UNION_INDENT = "   "  # a variant's own lines sit three spaces deeper than its `` | ``
PRIMITIVES = {"string": "string", "integer": "number", "number": "number", "boolean": "boolean"}


def function_signature(parameters: dict | None) -> str:
    """The right-hand side of ``type name = ...;``: ``() => any`` or ``(_: T) => any``."""
    if parameters is None:
        return "() => any"
    return f"(_: {_type(parameters, '')}) => any"


def check_json_numbers(parameters: Any, tool_name: str) -> None:
    """Refuse numbers that JSON cannot carry to openai_harmony (it reads the schema as JSON and fails
    on them): NaN, infinities, and integers beyond the largest float."""
    stack = [parameters]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list | tuple):
            stack.extend(value)
        elif isinstance(value, float) and not math.isfinite(value):
            raise HarmonyValidationError(f"invalid JSON: expected value, got {value} in the parameters of tool {tool_name!r}")
        elif isinstance(value, int) and abs(value) > U64_MAX and not math.isfinite(serde_number(str(value))):
            raise HarmonyValidationError(f"invalid JSON: number out of range in the parameters of tool {tool_name!r}")


def type_expression(schema: Any, level: int) -> str:
    """The TypeScript type of ``schema`` whose properties (if any) sit ``level`` indents deep."""
    return _type(schema, INDENT * level)


def property_lines(name: str, schema: Any, required: bool, level: int) -> str:
    """The comment lines and the ``name?: type,`` line(s) of one property, ``level`` indents deep."""
    return _property(name, schema, required, INDENT * level)


def _get(schema: Any, key: str) -> Any:
    """``schema[key]``, or None where the schema is not an object (``true`` is a valid JSON Schema)."""
    return schema.get(key) if isinstance(schema, dict) else None


def _text(schema: Any, key: str) -> str | None:
    value = _get(schema, key)
    return value if isinstance(value, str) else None


def _type(schema: Any, indent: str) -> str:
    variants = _get(schema, "oneOf")
    if isinstance(variants, list):
        return _union(variants, indent)
    kind = _get(schema, "type")
    if isinstance(kind, list):
        names = ["number" if k == "integer" else k for k in kind if isinstance(k, str)]
        if names:
            return " | ".join(names)
    if not isinstance(kind, str):
        return "any"
    if kind == "object":
        return _object(schema, indent)
    if kind == "array":
        return f"{_type(schema['items'], indent)}[]" if "items" in schema else "Array<any>"
    if kind == "string":
        values = schema.get("enum")
        literals = [f'"{v}"' for v in values if isinstance(v, str)] if isinstance(values, list) else []
        return " | ".join(literals) if literals else "string"
    return PRIMITIVES.get(kind, "any")


def _union(variants: list, indent: str) -> str:
    """A ``oneOf`` used as a type (not directly a property): a new line per variant."""
    lines = []
    for variant in variants:
        comment = _trailing_comment([_text(variant, "description"), _default_comment(variant, quote_enum=True)])
        lines.append(f"\n{indent} | {_nullable(variant, _type(variant, indent + UNION_INDENT))}{comment}")
    return "".join(lines)


def _object(schema: dict, indent: str) -> str:
    description = _text(schema, "description")
    out = f"{indent}// {description}\n" if description is not None else ""
    properties = schema.get("properties")
    required = schema.get("required")
    required_names = {r for r in required if isinstance(r, str)} if isinstance(required, list) else set()
    body = ""
    if isinstance(properties, dict):
        body = "".join(_property(name, prop, name in required_names, indent) for name, prop in properties.items())
    return f"{out}{{\n{body}{indent}}}"


def _property(name: str, schema: Any, required: bool, indent: str) -> str:
    mark = "" if required else "?"
    is_union = _get(schema, "oneOf") is not None
    title = _text(schema, "title")
    out = f"{indent}// {title}\n{indent}//\n" if title is not None else ""
    description = _text(schema, "description")
    if description is not None and not is_union:
        out += f"{indent}// {description}\n"
    out += _examples(schema, indent)
    variants = _get(schema, "oneOf")
    if isinstance(variants, list):
        return out + _union_property(name + mark, schema, variants, indent)
    line = f"{indent}{name}{mark}: {_nullable(schema, _type(schema, indent + INDENT))},"
    default = None if is_union else _default_comment(schema, quote_enum=False)
    return out + line + (f" // {default}" if default else "") + "\n"


def _union_property(label: str, schema: dict, variants: list, indent: str) -> str:
    """``label:`` then one `` | variant`` line each and a closing ``,`` line."""
    description = _text(schema, "description")
    first_description = _text(variants[0], "description") if variants else None
    shown_above = description is not None and description != first_description
    out = f"{indent}// {description}\n" if shown_above else ""
    default = _default_comment(schema, quote_enum=False)
    out += f"{indent}// {default}\n" if default else ""
    out += f"{indent}{label}:\n"
    for i, variant in enumerate(variants):
        own = _text(variant, "description")
        if (i == 0 and shown_above) or own == description:
            own = None
        comment = _trailing_comment([own, _default_comment(variant, quote_enum=False)])
        out += f"{indent} | {_nullable(variant, _type(variant, indent + UNION_INDENT))}{comment}\n"
    return out + f"{indent},\n"


def _examples(schema: Any, indent: str) -> str:
    examples = _get(schema, "examples")
    if not (isinstance(examples, list) and examples):
        return ""
    return f"{indent}// Examples:\n" + "".join(f'{indent}// - "{e}"\n' for e in examples if isinstance(e, str))


def _nullable(schema: Any, type_text: str) -> str:
    """`` | null`` appended for ``nullable: true``, unless the type text already contains ``null``."""
    return f"{type_text} | null" if _get(schema, "nullable") is True and "null" not in type_text else type_text


def _trailing_comment(parts: list[str | None]) -> str:
    shown = [p for p in parts if p is not None]
    return f" // {' '.join(shown)}" if shown else ""


def _default_comment(schema: Any, quote_enum: bool) -> str | None:
    """``default: ...``, or None without a default (see :func:`format_default`)."""
    if not isinstance(schema, dict) or "default" not in schema:
        return None
    return f"default: {format_default(schema, quote_enum)}"


def format_default(schema: dict, quote_enum: bool = False) -> str:
    """A default as the prompt shows it: a string quoted (raw, unescaped) unless the schema is an
    enum, where it is bare text (or JSON, escaped, for ``quote_enum``); anything else compact JSON."""
    value = schema["default"]
    values = schema.get("enum")
    is_enum = isinstance(values, list) and bool(values)
    if isinstance(value, str):
        if not is_enum:
            return f'"{value}"'
        return rust_json(value) if quote_enum else value
    return rust_json(value)


def rust_json(value: Any) -> str:
    """Compact JSON exactly as Rust's serde_json prints a value (after a trip through JSON)."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        number = serde_number(json.dumps(value))
        return str(number) if isinstance(number, int) else rust_float(number)
    if isinstance(value, list | tuple):
        return "[" + ",".join(rust_json(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{rust_json(v)}" for k, v in value.items()) + "}"
    return json.dumps(value, ensure_ascii=False)


U64_MAX = 2**64 - 1


def serde_number(text: str) -> int | float:
    """The number serde_json reads from JSON ``text`` (as Python's ``json`` writes numbers).

    openai_harmony receives the schema as JSON, and serde_json (without its ``float_roundtrip``
    feature) reads a number as a 64-bit integer when it can, else as ``digits * 10**exponent`` in
    floating point: the digits that fit in 64 bits, multiplied or divided by a power of ten. That
    can land one unit in the last place away from the float Python wrote, and the prompt shows
    the float serde_json got.
    """
    negative = text.startswith("-")
    mantissa, has_exponent, exponent_text = text.removeprefix("-").partition("e")
    whole, has_point, fraction = mantissa.partition(".")
    significand, exponent, overflowed = 0, 0, False
    for digit in whole:
        if not overflowed and significand * 10 + int(digit) <= U64_MAX:
            significand = significand * 10 + int(digit)
        else:  # past 64 bits every further digit only scales the number
            overflowed, exponent = True, exponent + 1
    for digit in fraction:
        if significand * 10 + int(digit) > U64_MAX:
            break  # the remaining fraction digits are dropped
        significand, exponent = significand * 10 + int(digit), exponent - 1
    if not (has_point or has_exponent or overflowed):
        if not negative:
            return significand
        return -significand if 0 < significand <= 2**63 else -float(significand)
    exponent += int(exponent_text or 0)
    number = float(significand)
    if exponent > 308:
        return -math.inf if negative else math.inf  # serde_json refuses it: "number out of range"
    while exponent < -308 and number != 0.0:
        number, exponent = number / 1e308, exponent + 308
    if abs(exponent) <= 308:
        power = float(f"1e{abs(exponent)}")
        number = number * power if exponent >= 0 else number / power
    return -number if negative else number


def rust_float(value: float) -> str:
    """A float as Rust's ``ryu`` writes it: the shortest round-trip digits, in plain notation
    (with ``.0`` for a whole number) from 1e-5 up to 1e16, scientific (``1e-7``, ``1.5e20``) outside."""
    if value != value or value in (float("inf"), float("-inf")):
        return "null"  # serde_json has no NaN or infinity
    sign = "-" if str(value).startswith("-") else ""
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction.rstrip("0")).lstrip("0") or "0"
    # value = 0.digits * 10**point, i.e. the decimal point sits after `point` digits
    point = (len(whole) if whole != "0" else -(len(fraction) - len(fraction.lstrip("0")))) + int(exponent or 0)
    if digits == "0":
        return f"{sign}0.0"
    if 0 <= point - len(digits) and point <= 16:
        return f"{sign}{digits}{'0' * (point - len(digits))}.0"
    if 0 < point <= 16:
        return f"{sign}{digits[:point]}.{digits[point:]}"
    if -5 < point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    scientific = digits[0] + (f".{digits[1:]}" if len(digits) > 1 else "")
    return f"{sign}{scientific}e{point - 1}"
