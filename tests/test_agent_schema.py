"""Functions as tools: docstring parsing, JSON Schema generation, validation, binding and every bad-call path."""
from __future__ import annotations

import dataclasses
import enum
import json
from typing import Literal, Optional, TypedDict

import pytest

from gptoss_edu.agent.docstrings import parse_docstring
from gptoss_edu.agent.functions import FunctionTools, ToolCallError
from gptoss_edu.agent.schema import SchemaError, annotation_schema, function_schema, function_tool
from gptoss_edu.agent.validate import ArgumentError, Issue, check_arguments, validate


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


@dataclasses.dataclass
class Point:
    """A point on the map.

    Attributes:
        lat: Latitude in degrees.
        lon: Longitude in degrees.
    """

    lat: float
    lon: float


class Window(TypedDict):
    """A time window.

    Args:
        start: First day.
        days: How many days.
    """

    start: str
    days: int


def forecast(location: str, days: int = 3, unit: Unit = Unit.CELSIUS, detailed: bool = False,
             hours: list[int] | None = None, mode: Literal["rain", "wind"] = "rain",
             near: Optional[Point] = None,  # noqa: UP045 (the typing spelling is supported too)
             window: Window | None = None, threshold: float = 0.5) -> dict:
    """Forecast the weather.

    Longer explanation that is part of the summary.

    Args:
        location (str): City name,
            for example "Paris".
        days: Number of days.
        unit: Temperature unit.
        detailed: Include hourly data.
        hours: Hours of interest.
        mode: What to forecast.
        near: A nearby point.
        window: The time window.
        threshold: Probability cut-off.

    Returns:
        The forecast.
    """
    return {"location": location, "days": days, "unit": unit.value, "near": near, "hours": hours, "window": window}


def numpy_style(a: int, b: float = 1.5) -> float:
    """Add two numbers.

    Parameters
    ----------
    a : int
        The first number,
        an integer.
    b : float
        The second number.

    Returns
    -------
    float
    """
    return a + b


def test_google_docstring_summary_and_multiline_arguments():
    doc = parse_docstring(forecast.__doc__)
    assert doc.summary == "Forecast the weather.\n\nLonger explanation that is part of the summary."
    assert doc.arguments["location"] == 'City name, for example "Paris".'
    assert doc.arguments["threshold"] == "Probability cut-off."
    assert "Returns" not in doc.summary and "The forecast." not in doc.arguments.values()


def test_numpy_docstring_arguments():
    doc = parse_docstring(numpy_style.__doc__)
    assert doc.summary == "Add two numbers."
    assert doc.arguments == {"a": "The first number, an integer.", "b": "The second number."}


def test_schema_of_scalars_defaults_and_descriptions():
    schema = function_schema(forecast)
    properties = schema["properties"]
    assert schema["type"] == "object" and schema["required"] == ["location"] and schema["additionalProperties"] is False
    assert properties["location"] == {"type": "string", "description": 'City name, for example "Paris".'}
    assert properties["days"] == {"type": "integer", "description": "Number of days.", "default": 3}
    assert properties["detailed"]["type"] == "boolean" and properties["detailed"]["default"] is False
    assert properties["threshold"]["type"] == "number"


def test_schema_of_enum_literal_list_and_optional():
    properties = function_schema(forecast)["properties"]
    assert properties["unit"]["enum"] == ["celsius", "fahrenheit"] and properties["unit"]["default"] == "celsius"
    assert properties["mode"] == {"type": "string", "enum": ["rain", "wind"], "description": "What to forecast.",
                                  "default": "rain"}
    assert properties["hours"] == {"type": "array", "items": {"type": "integer"}, "nullable": True,
                                   "description": "Hours of interest.", "default": None}
    assert annotation_schema(int | str) == {"type": ["integer", "string"]}
    assert annotation_schema(list[int] | Point)["oneOf"] == [annotation_schema(list[int]), annotation_schema(Point)]
    assert annotation_schema(Optional[str]) == {"type": ["string", "null"]}  # noqa: UP045
    assert annotation_schema(tuple[float, ...]) == {"type": "array", "items": {"type": "number"}}
    assert annotation_schema(dict[str, int]) == {"type": "object", "additionalProperties": {"type": "integer"}}


def test_schema_of_nested_dataclass_and_typeddict():
    point = annotation_schema(Point)
    assert point["required"] == ["lat", "lon"] and point["additionalProperties"] is False
    assert point["properties"]["lat"] == {"type": "number", "description": "Latitude in degrees."}
    window = annotation_schema(Window)
    assert window["properties"]["days"] == {"type": "integer", "description": "How many days."}
    assert sorted(window["required"]) == ["days", "start"]
    near = function_schema(forecast)["properties"]["near"]
    assert near == {**point, "nullable": True, "description": "A nearby point.", "default": None}


def test_unsupported_signatures_name_the_culprit():
    def untyped(x):
        """No annotation."""

    def varargs(*values: int):
        """Star arguments."""

    def mixed(x: Literal["a", 1]):
        """Mixed literal."""

    with pytest.raises(SchemaError, match=r"untyped: parameter 'x' has no type annotation"):
        function_schema(untyped)
    with pytest.raises(SchemaError, match=r"varargs: parameter 'values'"):
        function_schema(varargs)
    with pytest.raises(SchemaError, match=r"mixed\(x\)"):
        function_schema(mixed)
    with pytest.raises(SchemaError, match="set"):
        annotation_schema(set[int])


def developer_text(library, descriptions) -> str:
    """The developer message declaring ``descriptions``, rendered and decoded by ``library``."""
    encoding = library.load_harmony_encoding(library.HarmonyEncodingName.HARMONY_GPT_OSS)
    tools = [library.ToolDescription.new(d.name, d.description, d.parameters) for d in descriptions]
    developer = library.DeveloperContent.new().with_function_tools(tools)
    return encoding.decode(encoding.render(library.Message.from_role_and_content(library.Role.DEVELOPER, developer)))


def test_tool_descriptions_render_as_harmony_typescript_in_both_libraries():
    import openai_harmony

    import gptoss_edu.harmony

    descriptions = [function_tool(numpy_style)]
    text = developer_text(gptoss_edu.harmony, descriptions)
    assert text == developer_text(openai_harmony, descriptions)
    assert descriptions[0].name == "numpy_style" and descriptions[0].description == "Add two numbers."
    assert "type numpy_style = (_: {\n// The first number, an integer.\na: number,\n" in text
    assert "b?: number, // default: 1.5" in text


def test_optional_lists_and_objects_render_with_null_in_openai_harmony():
    import openai_harmony

    text = developer_text(openai_harmony, [function_tool(forecast)])
    assert "hours?: number[] | null, // default: null" in text and "} | null, // default: null" in text


def test_optional_lists_and_objects_render_the_same_in_both_libraries():
    import openai_harmony

    import gptoss_edu.harmony

    descriptions = [function_tool(forecast)]
    assert developer_text(gptoss_edu.harmony, descriptions) == developer_text(openai_harmony, descriptions)


def test_function_without_parameters_has_no_schema():
    def ping() -> str:
        """Check the service."""
        return "pong"

    assert function_tool(ping).parameters is None
    assert FunctionTools([ping])("ping", "") == "pong"


def test_validator_accepts_conforming_arguments():
    schema = function_schema(forecast)
    check_arguments({"location": "Oslo", "days": 2.0, "hours": [1, 2], "near": {"lat": 1, "lon": 2.5},
                     "window": None, "threshold": 1}, schema)


@pytest.mark.parametrize(("arguments", "expected"), [
    ({}, [Issue("location", "missing required argument (string)")]),
    ({"location": 3}, [Issue("location", "expected string, got integer")]),
    ({"location": "x", "days": True}, [Issue("days", "expected integer, got boolean")]),
    ({"location": "x", "days": 1.5}, [Issue("days", "expected integer, got number")]),
    ({"location": "x", "unit": "kelvin"}, [Issue("unit", 'expected one of "celsius", "fahrenheit", got "kelvin"')]),
    ({"location": "x", "hours": [1, "2"]}, [Issue("hours[1]", "expected integer, got string")]),
    ({"location": "x", "hours": "9"}, [Issue("hours", "expected array or null, got string")]),
    ({"location": "x", "near": [1, 2]}, [Issue("near", "expected object or null, got array")]),
    ({"location": "x", "colour": "red"}, [Issue("colour", "unexpected argument (known: location, days, unit, "
                                                          "detailed, hours, mode, near, window, threshold)")]),
    ({"location": "x", "window": {"start": "mon"}}, [Issue("window.days", "missing required argument (integer)")]),
])
def test_validator_reports_each_problem_with_its_path(arguments, expected):
    assert validate(arguments, function_schema(forecast)) == expected


def test_validator_paths_inside_nested_objects_and_arrays():
    schema = {"type": "object", "properties": {"points": {"type": "array", "items": annotation_schema(Point)}}}
    issues = validate({"points": [{"lat": 1, "lon": 2}, {"lat": "n", "lon": 2, "alt": 3}, {}]}, schema)
    assert [str(issue) for issue in issues] == [
        "points[1].lat: expected number, got string",
        "points[1].alt: unexpected argument (known: lat, lon)",
        "points[2].lat: missing required argument (number)",
        "points[2].lon: missing required argument (number)",
    ]
    with pytest.raises(ArgumentError, match=r"\(arguments\): expected object, got array"):
        check_arguments([], schema)


def test_calls_bind_enums_dataclasses_and_tuples():
    tools = FunctionTools([forecast])
    result = json.loads(tools("forecast", json.dumps(
        {"location": "Oslo", "days": 2.0, "unit": "fahrenheit", "near": {"lat": 1, "lon": 2}})))
    assert result == {"location": "Oslo", "days": 2, "unit": "fahrenheit", "near": {"lat": 1, "lon": 2},
                      "hours": None, "window": None}


@pytest.mark.parametrize(("name", "payload", "message"), [
    ("forcast", "{}", "unknown function functions.forcast; available: functions.forecast, functions.explode"),
    ("forecast", '{"location": "Oslo",}', "arguments to functions.forecast are not valid JSON: Expecting "
                                           "property name enclosed in double quotes: line 1 column 21"),
    ("forecast", '{"days": 2}', "invalid arguments for functions.forecast: location: missing required argument"),
    ("forecast", '{"location": ["Oslo"]}', "location: expected string, got array"),
    ("explode", '{"reason": "test"}', "functions.explode raised RuntimeError: boom: test"),
])
def test_every_bad_call_raises_a_tool_call_error_with_a_helpful_message(name, payload, message):
    def explode(reason: str) -> None:
        """Always fails."""
        raise RuntimeError(f"boom: {reason}")

    with pytest.raises(ToolCallError) as caught:
        FunctionTools([forecast, explode])(name, payload)
    assert message in str(caught.value)
