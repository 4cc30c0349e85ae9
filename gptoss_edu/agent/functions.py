"""Developer functions as a tool namespace: describe, validate, bind and call.

:class:`FunctionTools` holds plain Python functions. It renders them for the
developer message (``functions`` namespace) and answers a call
``to=functions.NAME`` in four guarded steps, each of which turns a failure into a
:class:`ToolCallError` whose text goes back to the model:

1. the name must be a registered function;
2. the payload must be JSON (an empty payload means ``{}``), of bounded length and nesting depth;
3. the JSON must satisfy the function's schema (:func:`gptoss_edu.agent.validate.check_arguments`);
4. the function runs on arguments converted back to the annotated Python types
   (enums, dataclasses, tuples); an exception it raises is reported, not propagated.
"""
from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any, Union

from gptoss_edu.agent.schema import function_tool
from gptoss_edu.agent.validate import ArgumentError, check_arguments, decode_arguments
from gptoss_edu.harmony import DeveloperContent, SystemContent, ToolDescription


class ToolCallError(Exception):
    """A call the tool could not carry out; its text is what the model is told."""


class FunctionTools:
    """A registry of developer functions, callable as ``tools(name, payload) -> result text``."""

    namespace = "functions"

    def __init__(self, functions: Iterable[Callable[..., Any]]):
        self._functions: dict[str, Callable[..., Any]] = {}
        self._descriptions: dict[str, ToolDescription] = {}
        for fn in functions:
            description = function_tool(fn)
            self._functions[description.name] = fn
            self._descriptions[description.name] = description

    @property
    def descriptions(self) -> list[ToolDescription]:
        """The ``ToolDescription`` of every function, in registration order."""
        return list(self._descriptions.values())

    def add_to_prompt(self, system: SystemContent, developer: DeveloperContent) -> None:
        """Declare the functions in the developer message (harmony's ``namespace functions``)."""
        developer.with_function_tools(self.descriptions)

    def __call__(self, name: str, payload: str) -> str:
        """Run ``functions.{name}`` on the JSON ``payload``; raise :class:`ToolCallError` on a bad call."""
        if name not in self._functions:
            available = ", ".join(f"functions.{known}" for known in self._functions) or "none"
            raise ToolCallError(f"unknown function functions.{name}; available: {available}")
        arguments = _decode_arguments(name, payload)
        try:
            check_arguments(arguments, self._descriptions[name].parameters)
        except ArgumentError as error:
            raise ToolCallError(f"invalid arguments for functions.{name}: {error}") from error
        fn = self._functions[name]
        hints = typing.get_type_hints(fn)
        kwargs = {key: from_json(hints[key], value) for key, value in arguments.items()}
        try:
            result = fn(**kwargs)
        except Exception as error:  # the model should learn the call failed, the loop should go on
            raise ToolCallError(f"functions.{name} raised {type(error).__name__}: {error}") from error
        return result if isinstance(result, str) else json.dumps(to_json(result))


def from_json(annotation: Any, value: Any) -> Any:
    """Convert a validated JSON value to ``annotation``'s Python type (enum, dataclass, tuple, int)."""
    if value is None:
        return None
    if annotation is int:
        return int(value)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return annotation(value)
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        hints = typing.get_type_hints(annotation)
        return annotation(**{key: from_json(hints[key], item) for key, item in value.items()})
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        return from_json(_union_member_for(args, value), value)
    if isinstance(value, list):
        items = [from_json(args[0], item) for item in value] if args else value
        return tuple(items) if origin is tuple else list(items)
    if isinstance(value, dict) and origin is dict:
        return {key: from_json(args[1], item) for key, item in value.items()}
    return value


def to_json(value: Any) -> Any:
    """Make a function's return value JSON-encodable (dataclasses, enums, tuples)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {key: to_json(item) for key, item in dataclasses.asdict(value).items()}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_json(item) for key, item in value.items()}
    return value


def _decode_arguments(name: str, payload: str) -> Any:
    """Parse the call's payload as JSON, naming the function and the problem (syntax, length, depth)."""
    try:
        return decode_arguments(payload)
    except ValueError as error:
        raise ToolCallError(f"arguments to functions.{name} are {error}") from error


def _union_member_for(members: tuple[Any, ...], value: Any) -> Any:
    """The first non-None member of a union whose JSON shape fits ``value`` (dict, list or scalar)."""
    for member in members:
        if member is type(None):
            continue
        wants_object = dataclasses.is_dataclass(member) or typing.get_origin(member) is dict
        if isinstance(value, dict) == wants_object:
            return member
    return members[0]
