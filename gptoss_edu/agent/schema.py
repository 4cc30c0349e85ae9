"""Turn a typed, docstringed Python function into a harmony ``ToolDescription``.

The JSON Schema subset emitted here is the one :mod:`gptoss_edu.agent.validate`
checks and harmony renders as TypeScript in the developer message:

==========================  =====================================================
Python annotation           JSON Schema
==========================  =====================================================
``str`` ``int`` ``float``   ``{"type": "string" | "integer" | "number"}``
``bool`` ``None``           ``{"type": "boolean" | "null"}``
``Literal["a", "b"]``       ``{"type": "string", "enum": ["a", "b"]}``
``Enum`` subclass           the same, with the members' values
``list[X]`` ``tuple[X, ...]``  ``{"type": "array", "items": schema(X)}``
``dict[str, X]``            ``{"type": "object", "additionalProperties": schema(X)}``
``int | str | None``        ``{"type": ["integer", "string", "null"]}`` (scalars only)
``X | None``                ``schema(X)`` plus ``"nullable": true``
``A | B``                   ``{"oneOf": [schema(A), schema(B)]}``
dataclass, ``TypedDict``    ``{"type": "object", "properties": ..., "required": [...],
                            "additionalProperties": false}``
==========================  =====================================================

Arguments with a default are optional and carry ``"default"``; descriptions come
from the docstring's ``Args:`` / ``Parameters`` section (or a dataclass's
``Attributes:``). Anything else (``Any``, ``*args``, un-annotated arguments) is
refused with an error that names the function and the argument.
"""
from __future__ import annotations

import dataclasses
import enum
import inspect
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, Union

from gptoss_edu.agent.docstrings import one_line, parse_docstring
from gptoss_edu.harmony import ToolDescription

_SCALARS: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


class SchemaError(TypeError):
    """A Python signature or annotation that has no JSON Schema in the subset we emit."""


def function_tool(fn: Callable[..., Any], name: str | None = None) -> ToolDescription:
    """A ``ToolDescription`` for ``fn``: its name, docstring summary and parameter schema."""
    doc = parse_docstring(fn.__doc__)
    summary = doc.summary or f"Call {fn.__name__}."
    parameters = function_schema(fn)
    return ToolDescription.new(name or fn.__name__, summary, parameters if parameters["properties"] else None)


def function_schema(fn: Callable[..., Any]) -> dict[str, Any]:
    """The JSON Schema of ``fn``'s keyword arguments (an ``object`` with one property per parameter)."""
    hints = typing.get_type_hints(fn)
    descriptions = parse_docstring(fn.__doc__).arguments
    properties: dict[str, Any] = {}
    required: list[str] = []
    for parameter in inspect.signature(fn).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD, parameter.POSITIONAL_ONLY):
            raise SchemaError(f"{fn.__name__}: parameter {parameter.name!r} must be passable by keyword")
        if parameter.name not in hints:
            raise SchemaError(f"{fn.__name__}: parameter {parameter.name!r} has no type annotation")
        default = parameter.default if parameter.default is not parameter.empty else dataclasses.MISSING
        properties[parameter.name] = _property_schema(
            hints[parameter.name], descriptions.get(parameter.name), default, f"{fn.__name__}({parameter.name})"
        )
        if default is dataclasses.MISSING:
            required.append(parameter.name)
    return _object(properties, required)


def annotation_schema(annotation: Any, where: str = "annotation") -> dict[str, Any]:
    """The JSON Schema of one Python annotation (see the module table); ``where`` names it in errors."""
    if annotation in _SCALARS:
        return {"type": _SCALARS[annotation]}
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return _enum_schema([member.value for member in annotation], where)
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        return _dataclass_schema(annotation)
    if typing.is_typeddict(annotation):
        return _typeddict_schema(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return _enum_schema(list(args), where)
    if origin in (list, tuple, typing.get_origin(typing.Sequence)) and (origin is not tuple or args[1:] == (...,)):
        return {"type": "array", "items": annotation_schema(args[0], f"{where}[]")}
    if origin is dict and args[:1] == (str,):
        return {"type": "object", "additionalProperties": annotation_schema(args[1], f"{where}{{}}")}
    if origin in (Union, types.UnionType):
        return _union_schema(args, where)
    raise SchemaError(f"{where}: no JSON Schema for annotation {annotation!r}")


def _property_schema(annotation: Any, description: str | None, default: Any, where: str) -> dict[str, Any]:
    """One property: the annotation's schema plus its description and JSON-encoded default."""
    schema = dict(annotation_schema(annotation, where))
    if description:
        schema["description"] = one_line(description)
    if default is not dataclasses.MISSING:
        schema["default"] = default.value if isinstance(default, enum.Enum) else default
    return schema


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """A closed object schema (unknown keys are errors)."""
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _enum_schema(values: list[Any], where: str) -> dict[str, Any]:
    """``{"type": ..., "enum": values}``; all values must share one JSON scalar type."""
    kinds = {_SCALARS.get(type(value)) for value in values}
    if len(kinds) != 1 or None in kinds:
        raise SchemaError(f"{where}: enum values {values!r} must all be str, or all int, or all float")
    return {"type": kinds.pop(), "enum": values}


def _union_schema(members: tuple[Any, ...], where: str) -> dict[str, Any]:
    """Scalars (and None) as a type list; otherwise ``oneOf`` of the members, ``nullable`` if None is one."""
    options = [annotation_schema(member, where) for member in members if member is not type(None)]
    nullable = len(options) < len(members)
    if all(set(option) == {"type"} and isinstance(option["type"], str) for option in options):
        return {"type": [option["type"] for option in options] + (["null"] if nullable else [])}
    schema = options[0] if len(options) == 1 else {"oneOf": options}
    return {**schema, "nullable": True} if nullable else schema


def _dataclass_schema(cls: type) -> dict[str, Any]:
    """A dataclass as a closed object; field descriptions from the class's ``Attributes:`` section."""
    hints = typing.get_type_hints(cls)
    descriptions = parse_docstring(cls.__doc__).arguments
    properties: dict[str, Any] = {}
    required: list[str] = []
    for item in dataclasses.fields(cls):
        default = item.default
        if item.default_factory is not dataclasses.MISSING:
            default = item.default_factory()
        properties[item.name] = _property_schema(
            hints[item.name], descriptions.get(item.name), default, f"{cls.__name__}.{item.name}"
        )
        if default is dataclasses.MISSING:
            required.append(item.name)
    return _object(properties, required)


def _typeddict_schema(cls: type) -> dict[str, Any]:
    """A ``TypedDict`` as a closed object; ``NotRequired`` / ``total=False`` keys are optional."""
    hints = typing.get_type_hints(cls)
    descriptions = parse_docstring(cls.__doc__).arguments
    properties = {
        name: _property_schema(hint, descriptions.get(name), dataclasses.MISSING, f"{cls.__name__}.{name}")
        for name, hint in hints.items()
    }
    required = [name for name in hints if name in cls.__required_keys__]
    return _object(properties, required)
