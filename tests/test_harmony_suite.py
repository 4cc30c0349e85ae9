"""Conformance of rendering: our harmony renders every conversation of a suite token for token as
``openai_harmony`` does, through all three render functions and message by message.

Each builder takes the library module (``openai_harmony`` or ``gptoss_edu.harmony``) and returns
the same conversation in that library's types, so the two renderings can be compared. The
completions at the end are shared with ``test_harmony_parser.py``.
"""
from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gptoss_edu.harmony as ours

theirs = pytest.importorskip("openai_harmony")

WEATHER = {
    "type": "object",
    "properties": {
        "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
        "format": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
    },
    "required": ["location"],
}

SCHEMAS = {
    "primitives": {"type": "object", "properties": {
        "i": {"type": "integer"}, "n": {"type": "number", "default": 1.5}, "b": {"type": "boolean", "default": True},
        "s": {"type": "string", "default": "hi there"}, "z": {"type": "null"}, "anything": {}}, "required": ["i"]},
    "enums_and_lists": {"type": "object", "properties": {
        "mode": {"type": "string", "enum": ["fast", "slow", "very slow"], "description": "How fast."},
        "level": {"type": "integer", "enum": [1, 2, 3]}, "maybe": {"type": ["string", "null"]},
        "nullable": {"type": "string", "nullable": True}}},
    "arrays": {"type": "object", "properties": {
        "tags": {"type": "array", "items": {"type": "string"}, "default": []},
        "matrix": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
        "untyped": {"type": "array"},
        "choices": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
        "points": {"type": "array", "description": "Points.", "items": {"type": "object", "properties": {
            "x": {"type": "number"}, "y": {"type": "number", "description": "Height."}}, "required": ["x", "y"]}}},
        "required": ["tags"]},
    "nested": {"type": "object", "properties": {
        "filter": {"type": "object", "description": "What to keep.", "properties": {
            "after": {"type": "string", "description": "ISO date"},
            "limits": {"type": "object", "properties": {"max": {"type": "integer", "default": 10}}},
        }, "required": ["after"]},
        "empty": {"type": "object"}}},
    "one_of": {"type": "object", "properties": {
        "id": {"oneOf": [{"type": "string", "description": "a name"}, {"type": "integer", "default": 0}],
               "description": "Name or number.", "default": "me"}}},
    "nullable": {"type": "object", "properties": {
        "list": {"type": "array", "items": {"type": "string"}, "nullable": True},
        "obj": {"type": "object", "properties": {"x": {"type": "integer"}}, "nullable": True},
        "already": {"type": ["string", "null"], "nullable": True}, "word": {"type": "string", "enum": ["nullify"], "nullable": True},
        "variants": {"oneOf": [{"type": "string", "nullable": True}, {"type": "number"}]}}},
    "titles_and_unicode": {"type": "object", "properties": {
        "città": {"type": "string", "title": "City", "description": "Nome della città ✓"}}, "required": ["città"]},
    "top_level_description": {"type": "object", "description": "Arguments.", "properties": {"q": {"type": "string"}}},
    "not_an_object": {"type": "string"},
    "empty_schema": {},
}


def system(h, **changes):
    content = h.SystemContent.new()
    for method, arg in changes.items():
        content = getattr(content, method)(*([] if arg is None else [arg]))
    return h.Message.from_role_and_content(h.Role.SYSTEM, content)


def developer(h, instructions=None, tools=None):
    content = h.DeveloperContent.new()
    if instructions is not None:
        content = content.with_instructions(instructions)
    if tools is not None:
        content = content.with_function_tools([h.ToolDescription.new(*t) for t in tools])
    return h.Message.from_role_and_content(h.Role.DEVELOPER, content)


def user(h, text):
    return h.Message.from_role_and_content(h.Role.USER, text)


def assistant(h, text, channel=None, recipient=None, content_type=None):
    message = h.Message.from_role_and_content(h.Role.ASSISTANT, text)
    if channel is not None:
        message = message.with_channel(channel)
    if recipient is not None:
        message = message.with_recipient(recipient)
    if content_type is not None:
        message = message.with_content_type(content_type)
    return message


def tool(h, name, text, channel="commentary"):
    message = h.Message.from_author_and_content(h.Author.new(h.Role.TOOL, name), text).with_recipient("assistant")
    return message.with_channel(channel) if channel else message


def _weather_call(h):
    return [
        assistant(h, "Need the weather.", "analysis"),
        assistant(h, '{"location":"Tokyo"}', "commentary", "functions.get_weather", "<|constrain|>json"),
        tool(h, "functions.get_weather", '{"temperature": 20, "sunny": true}'),
    ]


def conversations(h) -> dict[str, list]:
    """name -> list of messages; every one is rendered by all three render functions in the tests."""
    weather = [("get_weather", "Gets the current weather in a location.", WEATHER)]
    return {
        "default_system": [system(h), user(h, "Hi")],
        "reasoning_low": [system(h, with_reasoning_effort=h.ReasoningEffort.LOW), user(h, "Hi")],
        "reasoning_high_with_date": [
            system(h, with_reasoning_effort=h.ReasoningEffort.HIGH, with_conversation_start_date="2025-06-28"),
            user(h, "What day is it?")],
        "identity_and_cutoff": [
            system(h, with_model_identity="You are a terse assistant.\nAnswer briefly.", with_knowledge_cutoff="2025-01"),
            user(h, "Hi")],
        "required_channels": [system(h, with_required_channels=["analysis", "final"]), user(h, "Hi")],
        "browser_tool": [system(h, with_browser_tool=None), user(h, "Find news")],
        "python_tool": [system(h, with_python_tool=None), user(h, "Compute 2**100")],
        "browser_and_python": [system(h, with_browser_tool=None, with_python_tool=None), user(h, "x")],
        "developer_instructions": [system(h), developer(h, "Always answer in French.\n\nBe kind."), user(h, "Hello")],
        "developer_empty_instructions": [system(h), developer(h, ""), user(h, "Hello")],
        "functions": [system(h), developer(h, "Use tools.", weather), user(h, "Weather in Tokyo?")],
        "no_arg_function": [system(h), developer(h, None, [("get_time", "Current time.", None),
                                                            ("ping", "", None), ("multi", "Line one.\nLine two.", None)]),
                            user(h, "time?")],
        **{f"schema_{name}": [system(h), developer(h, None, [(name, f"Tool {name}.", schema)]), user(h, "go")]
           for name, schema in SCHEMAS.items()},
        "all_schemas_one_namespace": [
            system(h), developer(h, "x", [(name, name, schema) for name, schema in SCHEMAS.items()]), user(h, "go")],
        "tool_call_pending": [system(h), developer(h, None, weather), user(h, "Weather?"), *_weather_call(h)],
        "tool_round_trip_final": [
            system(h), developer(h, None, weather), user(h, "Weather?"), *_weather_call(h),
            assistant(h, "Got it.", "analysis"), assistant(h, "It is 20°C and sunny.", "final")],
        "multi_turn_dropped_analysis": [
            system(h), user(h, "2+2?"), assistant(h, "Simple sum.", "analysis"), assistant(h, "4", "final"),
            user(h, "and 3+3?"), assistant(h, "Another sum.", "analysis"), assistant(h, "6", "final")],
        "multi_turn_ends_with_user": [
            system(h), user(h, "2+2?"), assistant(h, "Simple sum.", "analysis"), assistant(h, "4", "final"),
            user(h, "and 3+3?")],
        "ends_mid_thought": [
            system(h), user(h, "2+2?"), assistant(h, "Simple.", "analysis"), assistant(h, "4", "final"),
            user(h, "more"), assistant(h, "Hmm.", "analysis")],
        "preamble_and_python_call": [
            system(h, with_python_tool=None), user(h, "run it"),
            assistant(h, "I will run code.", "commentary"),
            assistant(h, "print(2**100)", "analysis", "python", "code"),
            tool(h, "python", "1267650600228229401496703205376", channel=None)],
        "browser_call": [
            system(h, with_browser_tool=None), user(h, "news?"),
            assistant(h, '{"query": "news"}', "analysis", "browser.search"),
            tool(h, "browser.search", "【0†Headline】", channel="analysis")],
        "unicode_and_lookalikes": [
            system(h), user(h, "日本語 ✓ emoji 😀👍🏽 Ελληνικά\n\ttabs  and <|end|> typed by a user"),
            assistant(h, "Text with <|channel|> inside", "final")],
        "empty_user_and_named_author": [
            system(h), user(h, ""), h.Message.from_author_and_content(h.Author.new(h.Role.USER, "alice"), "hi")],
        "recipient_without_channel": [system(h), user(h, "x"), assistant(h, "{}", None, "functions.f", "json")],
        "no_system": [user(h, "hi"), assistant(h, "hello", "final")],
    }


def completions(h) -> dict[str, str]:
    """name -> completion text (special tokens allowed), parsed with role=ASSISTANT in the tests."""
    return {
        "final_only": "<|channel|>final<|message|>Hello!<|return|>",
        "analysis_then_final": "<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|channel|>final<|message|>Done.<|return|>",
        "tool_call_recipient_first": ' to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>{"location":"Paris"}<|call|>',
        "tool_call_recipient_after_channel": '<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"a":1}<|call|>',
        "constrain_without_space": "<|channel|>commentary to=functions.f<|constrain|>json<|message|>{}<|call|>",
        "bare_content_type": "<|channel|>analysis to=python code<|message|>print(1)<|call|>",
        "preamble_then_call": "<|channel|>commentary<|message|>Checking.<|end|><|start|>assistant to=browser.search<|channel|>analysis<|message|>{}<|call|>",
        "cut_at_eos": "<|channel|>analysis<|message|>I was cut o",
        "empty_content": "<|channel|>final<|message|><|end|>",
        "no_channel": "<|message|>plain<|end|>",
        "unicode": "<|channel|>final<|message|>日本語 😀👍🏽 ✓<|return|>",
        "specials_in_content": "<|channel|>final<|message|>a<|start|>b<|constrain|>c<|endoftext|><|end|>",
        "tool_result_then_answer": ("<|channel|>final<|message|>x<|end|><|start|>functions.lookup to=assistant<|channel|>commentary"
                                    "<|message|>{}<|end|><|start|>assistant<|channel|>final<|message|>y<|return|>"),
        "role_repeated_after_prompt": "assistant<|channel|>final<|message|>The prompt already said assistant.<|end|>",
        "unknown_author_with_recipient_is_a_tool": "<|channel|>final<|message|>x<|end|><|start|>python to=assistant<|message|>4<|end|>",
        "other_roles": "<|channel|>final<|message|>x<|end|><|start|>user<|message|>u<|end|><|start|>tool<|message|>t<|end|>",
    }


@pytest.fixture(scope="module")
def encodings():
    return (ours.load_harmony_encoding(ours.HarmonyEncodingName.HARMONY_GPT_OSS),
            theirs.load_harmony_encoding(theirs.HarmonyEncodingName.HARMONY_GPT_OSS))


def _first_difference(enc, got: list[int], want: list[int]) -> str:
    at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    return (f"first difference at token {at} of {len(got)} (ours) / {len(want)} (openai_harmony): "
            f"ours {enc.decode(got[at - 8:at + 8])!r} vs theirs {enc.decode(want[at - 8:at + 8])!r}")


def assert_same_tokens(enc, got: list[int], want: list[int]) -> None:
    assert got == want, _first_difference(enc, got, want)


NAMES = sorted(conversations(ours))


@pytest.mark.parametrize("name", NAMES)
def test_conversation_renders_like_openai_harmony(encodings, name):
    mine, ref = encodings
    ours_conv = ours.Conversation.from_messages(conversations(ours)[name])
    ref_conv = theirs.Conversation.from_messages(conversations(theirs)[name])
    assert_same_tokens(mine, mine.render_conversation(ours_conv), ref.render_conversation(ref_conv))
    assert_same_tokens(mine, mine.render_conversation_for_training(ours_conv), ref.render_conversation_for_training(ref_conv))
    for role in (ours.Role.ASSISTANT, ours.Role.USER):
        got = mine.render_conversation_for_completion(ours_conv, role)
        assert_same_tokens(mine, got, ref.render_conversation_for_completion(ref_conv, theirs.Role(role.value)))


@pytest.mark.parametrize("name", NAMES)
def test_auto_drop_off_renders_like_openai_harmony(encodings, name):
    mine, ref = encodings
    got = mine.render_conversation(ours.Conversation.from_messages(conversations(ours)[name]),
                                   ours.RenderConversationConfig(auto_drop_analysis=False))
    want = ref.render_conversation(theirs.Conversation.from_messages(conversations(theirs)[name]),
                                   theirs.RenderConversationConfig(auto_drop_analysis=False))
    assert_same_tokens(mine, got, want)


@pytest.mark.parametrize("name", NAMES)
def test_each_message_renders_like_openai_harmony(encodings, name):
    mine, ref = encodings
    for with_functions in (False, True):
        for a, b in zip(conversations(ours)[name], conversations(theirs)[name]):
            got = mine.render(a, ours.RenderOptions(conversation_has_function_tools=with_functions))
            assert_same_tokens(mine, got, ref.render(b, theirs.RenderOptions(conversation_has_function_tools=with_functions)))


def test_suite_exercises_the_rules_it_claims(encodings):
    """Guard against a vacuous suite: the dropped-analysis, <|call|> and <|return|> rules all fire."""
    mine, _ = encodings
    conv = ours.Conversation.from_messages(conversations(ours)["tool_round_trip_final"])
    full = mine.render_conversation(conv, ours.RenderConversationConfig(auto_drop_analysis=False))
    dropped = mine.render_conversation(conv)
    training = mine.render_conversation_for_training(conv)
    assert len(dropped) < len(full)
    assert mine.special.call in dropped
    assert training[-1] == mine.special.return_ and dropped[-1] == mine.special.end


def test_encoding_basics_match(encodings):
    mine, ref = encodings
    assert mine.stop_tokens() == sorted(ref.stop_tokens())  # openai_harmony returns them in set order
    assert mine.stop_tokens_for_assistant_actions() == sorted(ref.stop_tokens_for_assistant_actions())
    text = "Hello <|end|> wörld"
    assert mine.encode(text, allowed_special="all") == ref.encode(text, allowed_special="all")
    assert mine.encode(text, disallowed_special=()) == ref.encode(text, disallowed_special=())
    ids = ref.encode(text, allowed_special="all")
    assert mine.decode(ids) == ref.decode(ids) == text


def test_rendering_uses_our_tokenizer():
    from gptoss_edu.tokenizer import Tokenizer

    assert isinstance(ours.load_harmony_encoding(ours.HarmonyEncodingName.HARMONY_GPT_OSS).tokenizer, Tokenizer)


@pytest.mark.parametrize("build, problem", [
    (lambda h: [h.Message.from_role_and_content(h.Role.TOOL, "no name")], "Tools should have a name!"),
    (lambda h: [h.Message.from_role_and_content(h.Role.USER, h.SystemContent.new())],
     "SystemContent may only appear in system messages, found in User"),
    (lambda h: [h.Message.from_role_and_content(h.Role.SYSTEM, h.DeveloperContent.new())],
     "DeveloperContent may only appear in developer messages, found in System"),
])
def test_unrenderable_conversations_raise_like_openai_harmony(encodings, build, problem):
    """Same message; openai_harmony raises a plain RuntimeError here, ours a HarmonyError (a RuntimeError)."""
    mine, ref = encodings
    with pytest.raises(ours.HarmonyError, match=re.escape(problem)):
        mine.render_conversation(ours.Conversation.from_messages(build(ours)))
    with pytest.raises(RuntimeError, match=re.escape(problem)):
        ref.render_conversation(theirs.Conversation.from_messages(build(theirs)))


FIELD_TEXT = st.lists(st.sampled_from(list("ab z.=_é😀\n\t") + ["<|end|>", "<|constrain|>", "<|channel|>", " to="]),
                      max_size=6).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(role=st.sampled_from(["user", "assistant", "system", "developer", "tool"]), name=st.none() | FIELD_TEXT.filter(bool),
       channel=st.none() | FIELD_TEXT, recipient=st.none() | FIELD_TEXT, content_type=st.none() | FIELD_TEXT,
       text=FIELD_TEXT, final=st.booleans())
def test_random_message_fields_render_like_openai_harmony(encodings, role, name, channel, recipient, content_type,
                                                          text, final):
    """Any author name, channel, recipient, content type and text (special-token look-alikes included)."""
    if role == "tool" and name is None:
        name = "functions.f"

    def build(h):
        message = h.Message.from_author_and_content(h.Author(role=h.Role(role), name=name), text)
        for field, value in (("channel", channel), ("recipient", recipient), ("content_type", content_type)):
            if value is not None:
                message = getattr(message, f"with_{field}")(value)
        return [message, h.Message.from_role_and_content(h.Role.ASSISTANT, "x").with_channel("final")] if final else [message]

    mine, ref = encodings
    got = mine.render_conversation_for_training(ours.Conversation.from_messages(build(ours)))
    assert_same_tokens(mine, got, ref.render_conversation_for_training(theirs.Conversation.from_messages(build(theirs))))
