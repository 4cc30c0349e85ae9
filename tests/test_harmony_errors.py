"""Errors and the rest of the API, against ``openai_harmony``: every failure a caller can cause
raises ``HarmonyError`` (or, where openai-harmony's pydantic models reject a value at
construction, ``HarmonyValidationError``, which is also a ``ValueError``), with openai-harmony's
message; ``special_tokens_set``, ``state_data`` and the JSON round trips give what it gives.
"""
from __future__ import annotations

import json
import re

import pytest

import gptoss_edu.harmony as ours
from gptoss_edu.harmony.types import HarmonyValidationError

theirs = pytest.importorskip("openai_harmony")


@pytest.fixture(scope="module")
def encodings():
    return (ours.load_harmony_encoding(ours.HarmonyEncodingName.HARMONY_GPT_OSS),
            theirs.load_harmony_encoding(theirs.HarmonyEncodingName.HARMONY_GPT_OSS))


def error_of(fn, *args, **kwargs) -> tuple[type, str]:
    try:
        fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - the test compares whatever was raised
        return type(e), str(e)
    raise AssertionError(f"{fn} did not raise")


def assert_same_error(encodings, method: str, *args, **kwargs) -> str:
    """Both encodings raise their HarmonyError from ``method`` with the same message."""
    mine, ref = encodings
    got, want = error_of(getattr(mine, method), *args, **kwargs), error_of(getattr(ref, method), *args, **kwargs)
    assert got[0] is ours.HarmonyError and want[0] is theirs.HarmonyError
    assert got[1] == want[1]
    return got[1]


# -- tokens and text -----------------------------------------------------------------------------

@pytest.mark.parametrize("tokens", [[99999999], [201089], [5, 2**32 - 1], [200006, 10**9, 1]])
def test_decoding_an_unknown_id_raises_openai_message(encodings, tokens):
    message = assert_same_error(encodings, "decode_utf8", tokens)
    assert message.startswith("Could not decode tokens: Invalid token error: Invalid token for decoding: ")
    assert assert_same_error(encodings, "decode", tokens).startswith("Invalid token for decoding: ")


@pytest.mark.parametrize("bad", [[-1], ["a"], [1.5], [None]])
def test_decoding_a_non_id_raises_harmony_error(encodings, bad):
    mine, _ = encodings
    with pytest.raises(ours.HarmonyError, match="Invalid token for decoding"):
        mine.decode_utf8(bad)


@pytest.mark.parametrize("token", [199998, 200014, 200018, 201087, 201088])
def test_reserved_and_named_specials_decode_as_openai_harmony(encodings, token):
    mine, ref = encodings
    assert mine.decode_utf8([token]) == ref.decode_utf8([token])
    assert mine.is_special_token(token) and ref.is_special_token(token)
    assert mine.decode_utf8([201088]) == "<|reserved_201088|>"


def test_special_tokens_set_and_is_special_token_match(encodings):
    mine, ref = encodings
    assert mine.special_tokens_set == ref.special_tokens_set
    assert "<|endofprompt|>" not in mine.special_tokens_set  # harmony calls 200018 <|reserved_200018|>
    for token in [0, 24912, 199997, 199998, 200012, 200018, 201087, 201088, 201089, 10**9]:
        assert mine.is_special_token(token) == ref.is_special_token(token), token


@pytest.mark.parametrize("text", ["<|start|>", "hi <|end|> there", "<|reserved_201088|>", "x<|return|><|call|>"])
def test_disallowed_special_text_raises_openai_message(encodings, text):
    message = assert_same_error(encodings, "encode", text)
    assert message.startswith("Encountered text corresponding to disallowed special token")


@pytest.mark.parametrize("text, kwargs", [
    ("<|start|>x<|end|>", {"allowed_special": "all"}),
    ("<|start|>x<|end|>", {"allowed_special": {"<|start|>"}, "disallowed_special": ()}),
    ("<|start|>", {"disallowed_special": ()}),
    ("<|endofprompt|> is plain text to harmony", {"allowed_special": "all"}),
    ("<|reserved_201088|>", {"allowed_special": "all"}),
    ("lone \ud800 surrogate and a pair \ud83d\ude00", {}),
    ("hello world", {}),
])
def test_encode_matches_openai_harmony(encodings, text, kwargs):
    mine, ref = encodings
    assert mine.encode(text, **kwargs) == ref.encode(text, **kwargs)


@pytest.mark.parametrize("tokens", [[132990, 9552], [9552], [9552, 9552, 55], [9552, 9552], [200006, 9552]])
def test_invalid_utf8_raises_openai_message_and_decode_replaces(encodings, tokens):
    """Token 9552 is a space and the first two bytes of a four-byte character: cut short at the end
    ("incomplete utf-8 byte sequence"), or followed by something else ("invalid utf-8 sequence of 2 bytes")."""
    mine, ref = encodings
    assert assert_same_error(encodings, "decode_utf8", tokens).startswith("Could not decode tokens: Invalid utf-8 sequence: ")
    assert mine.decode(tokens) == ref.decode(tokens)


def test_unknown_names_raise_value_errors_like_openai_harmony():
    for lib in (ours, theirs):
        with pytest.raises(ValueError, match=re.escape("Unknown role: 'wizard'")):
            lib.Role("wizard")
        with pytest.raises(ValueError, match="Invalid HarmonyEncodingName: bogus"):
            lib.load_harmony_encoding("bogus")


# -- constructors --------------------------------------------------------------------------------

def test_content_where_a_message_belongs_is_rejected_at_construction():
    phrase = "Input should be a valid dictionary or instance of Message"
    with pytest.raises(ValueError, match=phrase):  # pydantic's ValidationError is a ValueError
        theirs.Conversation.from_messages([theirs.SystemContent.new()])
    with pytest.raises(HarmonyValidationError, match=phrase) as err:
        ours.Conversation.from_messages([ours.SystemContent.new()])
    assert isinstance(err.value, ours.HarmonyError) and isinstance(err.value, ValueError)
    assert "messages.0" in str(err.value) and "SystemContent" in str(err.value)


@pytest.mark.parametrize("content", [5, None, ["text"]])
def test_a_non_content_is_rejected_like_openai_harmony(content):
    phrase = "Input should be a valid dictionary or instance of Content"
    with pytest.raises(ValueError, match=phrase):
        theirs.Message.from_role_and_content(theirs.Role.USER, content)
    with pytest.raises(HarmonyValidationError, match=phrase):
        ours.Message.from_role_and_content(ours.Role.USER, content)


def test_tool_parameters_must_be_an_object():
    with pytest.raises(ValueError, match="valid dictionary"):
        theirs.ToolDescription.new("f", "d", True)
    with pytest.raises(HarmonyValidationError, match="valid dictionary"):
        ours.ToolDescription.new("f", "d", True)


def test_a_conversation_accepts_messages_in_dict_form():
    message = ours.Message.from_role_and_content(ours.Role.USER, "hi")
    assert ours.Conversation.from_messages([message.to_dict()]).messages == [message]


def test_unknown_content_variant_raises_value_error():
    for lib in (ours, theirs):
        with pytest.raises(ValueError, match="Unknown content variant"):
            lib.Message.from_dict({"role": "user", "content": [{"type": "image", "url": "x"}]})


# -- JSON ----------------------------------------------------------------------------------------

def everything(h) -> list:
    """Messages using every content type and field, in library ``h``."""
    system = (h.SystemContent.new().with_reasoning_effort(h.ReasoningEffort.HIGH).with_conversation_start_date("2025-06-28")
              .with_browser_tool().with_python_tool().with_required_channels(["analysis", "final"]))
    developer = h.DeveloperContent.new().with_instructions("Be kind.").with_function_tools([
        h.ToolDescription.new("f", "Does f.", {"type": "object", "properties": {"a": {"oneOf": [{"type": "string"}]}}}),
        h.ToolDescription.new("g", "No parameters.")])
    return [
        h.Message.from_role_and_content(h.Role.SYSTEM, system),
        h.Message.from_role_and_content(h.Role.DEVELOPER, developer),
        h.Message.from_author_and_content(h.Author.new(h.Role.USER, "alice"), "héllo 😀").adding_content("second part"),
        h.Message.from_role_and_content(h.Role.ASSISTANT, '{"a": "x"}').with_channel("commentary")
        .with_recipient("functions.f").with_content_type("<|constrain|>json"),
        h.Message.from_author_and_content(h.Author.new(h.Role.TOOL, "functions.f"), "ok").with_recipient("assistant"),
    ]


def test_json_matches_openai_harmony_and_round_trips(encodings):
    mine, ref = encodings
    conv_ours, conv_theirs = ours.Conversation.from_messages(everything(ours)), theirs.Conversation.from_messages(everything(theirs))
    assert conv_ours.to_json() == conv_theirs.to_json()
    assert conv_ours.to_dict() == conv_theirs.to_dict()
    for a, b in zip(conv_ours.messages, conv_theirs.messages):
        assert a.to_json() == b.to_json() and a.to_dict() == b.to_dict()
        assert ours.Message.from_dict(b.to_dict()) == a == ours.Message.from_json(a.to_json())
        for content_ours, content_theirs in zip(a.content, b.content):
            assert content_ours.to_dict() == content_theirs.to_dict()
            assert type(content_ours).from_dict(content_theirs.to_dict()) == content_ours
            assert type(content_ours).from_json(content_ours.to_json()) == content_ours
    back = ours.Conversation.from_json(conv_theirs.to_json())
    assert back == conv_ours == ours.Conversation.from_dict(json.loads(conv_ours.to_json()))
    assert mine.render_conversation(back) == ref.render_conversation(theirs.Conversation.from_json(conv_ours.to_json()))


def test_a_plain_string_content_reads_as_one_text():
    assert ours.Message.from_dict({"role": "user", "content": "hi"}) == ours.Message.from_role_and_content(ours.Role.USER, "hi")


# -- streaming state -----------------------------------------------------------------------------

@pytest.mark.parametrize("text, role", [
    ('<|start|>functions.x to=assistant<|channel|>commentary json<|message|>héllo 😀 wörld<|end|>', None),
    ("<|channel|>analysis<|message|>think<|end|><|start|>assistant<|channel|>final<|message|>done ✓<|return|>", "assistant"),
    ("<|message|>no channel", "assistant"),
])
def test_state_data_matches_openai_harmony_token_by_token(encodings, text, role):
    mine, ref = encodings
    tokens = mine.encode(text, allowed_special="all")
    parsers = (ours.StreamableParser(mine, role and ours.Role(role)), theirs.StreamableParser(ref, role and theirs.Role(role)))
    for token in tokens:
        for parser in parsers:
            parser.process(token)
        assert parsers[0].state_data == parsers[1].state_data
        assert parsers[0].state.value == parsers[1].state.value
        assert parsers[0].tokens == parsers[1].tokens


# -- numbers in tool schemas ---------------------------------------------------------------------

def _tool_message(h, default):
    tool = h.ToolDescription.new("f", "d", {"type": "object", "properties": {"a": {"type": "number", "default": default}}})
    return h.Message.from_role_and_content(h.Role.DEVELOPER, h.DeveloperContent.new().with_function_tools([tool]))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), 10**400, -(10**400)])
def test_numbers_json_cannot_carry_are_refused_like_openai_harmony(encodings, value):
    mine, ref = encodings
    with pytest.raises(ValueError, match="invalid message JSON"):
        ref.render(_tool_message(theirs, value))
    with pytest.raises(HarmonyValidationError, match="invalid JSON") as err:
        mine.render(_tool_message(ours, value))
    assert "tool 'f'" in str(err.value)


@pytest.mark.parametrize("value", [10**300, -(10**300), 1.7e308, 2**64, 2**64 - 1, -(2**63) - 1, 5e-324, 1e-320, 1e-310])
def test_extreme_numbers_render_like_openai_harmony(encodings, value):
    mine, ref = encodings
    assert mine.render(_tool_message(ours, value)) == ref.render(_tool_message(theirs, value))


def test_non_text_fields_are_refused_with_a_clear_error(encodings):
    mine, _ = encodings
    with pytest.raises(HarmonyValidationError, match="valid string"):
        ours.TextContent(text=5)
    message = ours.Message.from_role_and_content(ours.Role.ASSISTANT, "x").with_channel(5)
    with pytest.raises(HarmonyValidationError, match="channel must be a str"):
        mine.render(message)
    with pytest.raises(ValueError):  # openai_harmony: invalid message JSON (its Rust side wants a string)
        encodings[1].render(theirs.Message.from_role_and_content(theirs.Role.ASSISTANT, "x").with_channel(5))
