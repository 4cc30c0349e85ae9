"""JSON Schema to TypeScript: worked examples, and random schemas rendered exactly as ``openai_harmony``
renders them (hypothesis draws nested objects, arrays, enums, defaults, descriptions, titles,
examples, nullable, oneOf).
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gptoss_edu.harmony as ours
from gptoss_edu.harmony.typescript import format_default, function_signature, type_expression

theirs = pytest.importorskip("openai_harmony")


def test_worked_example_reads_like_typescript():
    schema = {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name"},
        "unit": {"type": "string", "enum": ["c", "f"], "default": "c"},
        "days": {"type": "array", "items": {"type": "integer"}}}, "required": ["city"]}
    assert function_signature(schema) == (
        '(_: {\n// City name\ncity: string,\nunit?: "c" | "f", // default: c\ndays?: number[],\n}) => any')
    assert function_signature(None) == "() => any"


@pytest.mark.parametrize("schema, expected", [
    ({"type": "integer"}, "number"),
    ({"type": ["string", "null"]}, "string | null"),
    ({"type": "array"}, "Array<any>"),
    ({"type": "object", "properties": {"x": {"type": "boolean"}}}, "{\n    x?: boolean,\n    }"),
    ({}, "any"),
])
def test_type_expression_cases(schema, expected):
    assert type_expression(schema, 1) == expected


@pytest.mark.parametrize("schema, shown", [
    ({"default": "a", "enum": ["a"]}, "a"), ({"default": "a"}, '"a"'), ({"default": 2.0}, "2.0"),
    ({"default": 1e20}, "1e20"), ({"default": [1, "x"]}, '[1,"x"]'), ({"default": None}, "null"),
])
def test_default_formats(schema, shown):
    assert format_default(schema) == shown


WORDS = st.text(alphabet="abcxyz_ é✓", min_size=1, max_size=8).filter(lambda s: s.strip() == s)
NAMES = st.text(alphabet="abcdefgh_", min_size=1, max_size=6)


def _decorate(base):
    """Add an optional description, title and default to a schema strategy."""
    extras = st.fixed_dictionaries({}, optional={
        "description": WORDS, "title": WORDS, "default": st.one_of(st.integers(-5, 5), WORDS, st.booleans()),
        "examples": st.lists(st.one_of(WORDS, st.integers()), max_size=3)})
    return st.tuples(base, extras).map(lambda pair: {**pair[0], **pair[1]})


PRIMITIVE = st.one_of(
    st.sampled_from([{"type": t} for t in ("string", "integer", "number", "boolean")]),
    st.lists(WORDS, min_size=1, max_size=3, unique=True).map(lambda values: {"type": "string", "enum": values}),
    st.just({"type": ["string", "null"]}),
    st.sampled_from([{"type": "integer", "nullable": True}, {"type": "string", "enum": ["x"], "nullable": True}]),
)


def _objects(children):
    return st.dictionaries(NAMES, children, max_size=3).flatmap(lambda props: st.fixed_dictionaries(
        {"type": st.just("object"), "properties": st.just(props)},
        optional={"required": st.lists(st.sampled_from(sorted(props) or ["none"]), unique=True)}))


SCHEMA = st.recursive(
    _decorate(PRIMITIVE),
    lambda children: _decorate(st.one_of(
        _objects(children),
        children.map(lambda items: {"type": "array", "items": items}),
        children.map(lambda items: {"type": "array", "items": items, "nullable": True}),
        st.lists(PRIMITIVE, min_size=2, max_size=3).map(lambda variants: {"oneOf": variants}),
    )),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def encodings():
    return (ours.load_harmony_encoding(ours.HarmonyEncodingName.HARMONY_GPT_OSS),
            theirs.load_harmony_encoding(theirs.HarmonyEncodingName.HARMONY_GPT_OSS))


def _render_developer(lib, enc, schema):
    content = lib.DeveloperContent.new().with_function_tools([lib.ToolDescription.new("tool", "A tool.", schema)])
    return enc.render(lib.Message.from_role_and_content(lib.Role.DEVELOPER, content))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(properties=st.dictionaries(NAMES, SCHEMA, min_size=1, max_size=3))
def test_random_schemas_render_like_openai_harmony(encodings, properties):
    schema = {"type": "object", "properties": properties, "required": sorted(properties)[:1]}
    mine, ref = encodings
    got, want = _render_developer(ours, mine, schema), _render_developer(theirs, ref, schema)
    assert got == want, f"ours:\n{mine.decode(got)}\ntheirs:\n{ref.decode(want)}"


def _union(variants, **extra):
    return {"oneOf": variants, **extra}


CONSTRUCTS = {
    "described union hides nothing of its variants": {"p": _union([{"type": "integer"}, {"type": "boolean", "description": "V"}],
                                                                  description="P")},
    "variant with description and default": {"p": _union([{"type": "string", "description": "name", "default": "me"},
                                                          {"type": "integer", "default": 3}])},
    "union described like its first variant": {"p": _union([{"type": "string", "description": "same"}, {"type": "number"}],
                                                           description="same")},
    "variants described like the union": {"p": _union([{"type": "string", "description": "D"},
                                                       {"type": "number", "description": "D"}], description="X")},
    "union default and enum default": {"p": _union([{"type": "string", "enum": ["a", "b"], "default": "a"}],
                                                   default={"k": [1, 2.5]}),
                                       "q": _union([{"type": "string"}], type="string", enum=["x"], default="x")},
    "nested unions": {"p": _union([_union([{"type": "string"}, {"type": "null"}], description="inner"), {"type": "integer"}])},
    "object variants": {"p": _union([{"type": "object", "description": "Obj", "properties": {
        "a": {"type": "string"}, "b": _union([{"type": "object", "properties": {"c": {"type": "number"}}}, {"type": "string"}])},
        "required": ["a"]}, {"type": "boolean"}])},
    "union under array items": {"p": {"type": "array", "items": _union([{"type": "string", "description": "s"},
                                                                        {"type": "object", "properties": {"x": {"type": "integer"}}}]),
                                      "description": "list"}},
    "arrays of objects": {"p": {"type": "array", "items": {"type": "object", "properties": {
        "q": {"type": "array", "items": {"type": "object", "properties": {"r": {"type": "string"}}}}}}}},
    "nullable everywhere": {"p": _union([{"type": "string", "nullable": True}, {"type": ["number", "null"], "nullable": True}]),
                            "q": {"type": "object", "nullable": True, "properties": {}}},
    "anyOf, allOf, $ref and const are any": {"a": {"anyOf": [{"type": "string"}, {"type": "number"}], "description": "A"},
                                             "b": {"allOf": [{"type": "string"}]}, "c": {"$ref": "#/$defs/node"},
                                             "d": {"const": "fixed", "default": "fixed"}},
    "titles examples and defaults": {"p": {"type": "string", "title": "T", "examples": ["x", 1, "y"], "default": 'say "hi"'},
                                     "q": {"type": "number", "default": 1e-5}, "r": {"type": "integer", "default": 2**70},
                                     "s": {"type": "number", "default": 1.2345678901234567e-7}},
    "recursion without $ref": {"tree": {"type": "object", "properties": {"children": {"type": "array", "items": {
        "type": "object", "properties": {"children": {"type": "array", "items": {"type": "object", "properties": {
            "leaf": _union([{"type": "string"}, {"type": "object", "properties": {"v": {"type": "number"}}}])}}}}}}}}},
    "odd schemas": {"t": True, "e": {"type": "string", "enum": []}, "l": {"type": []}, "m": {"type": ["integer", 5, "weird"]},
                    "o": {"oneOf": "not a list", "description": "skipped", "default": 1}, "n": {"type": "object", "properties": []}},
}


@pytest.mark.parametrize("name", sorted(CONSTRUCTS))
def test_every_construct_renders_like_openai_harmony(encodings, name):
    properties = CONSTRUCTS[name]
    schema = {"type": "object", "description": name, "properties": properties, "required": sorted(properties)[:1] + ["absent"]}
    mine, ref = encodings
    got, want = _render_developer(ours, mine, schema), _render_developer(theirs, ref, schema)
    assert got == want, f"ours:\n{mine.decode(got)}\ntheirs:\n{ref.decode(want)}"
