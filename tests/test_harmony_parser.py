"""Parsing: completions parse to the same messages as with ``openai_harmony``; the streaming parser
agrees with the batch parser and, token by token, with the official streaming parser; malformed
streams raise ``HarmonyError`` naming the token position; fuzzed streams raise nothing else.
"""
from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_harmony_fuzz import assert_same, outcome, trace
from test_harmony_suite import completions, conversations

import gptoss_edu.harmony as ours

theirs = pytest.importorskip("openai_harmony")


@pytest.fixture(scope="module")
def encodings():
    return (ours.load_harmony_encoding(ours.HarmonyEncodingName.HARMONY_GPT_OSS),
            theirs.load_harmony_encoding(theirs.HarmonyEncodingName.HARMONY_GPT_OSS))


def as_plain(messages) -> list[dict]:
    """Messages as dicts with roles as strings, comparable across the two libraries."""
    return [{**m.to_dict(), "role": m.to_dict()["role"].value} for m in messages]


def parse_both(encodings, tokens, role, strict=True):
    """(ours, theirs): each the parsed messages as dicts, or "HarmonyError: " and openai_harmony's message."""
    mine, ref = encodings
    results = []
    for enc, lib in ((mine, ours), (ref, theirs)):
        try:
            results.append(as_plain(enc.parse_messages_from_completion_tokens(
                tokens, None if role is None else lib.Role(role), strict=strict)))
        except lib.HarmonyError as e:  # ours adds where: " (at token N, 'text')"
            results.append("HarmonyError: " + str(e).rsplit(" (at ", 1)[0])
    return results


def tokens_of(enc, text: str) -> list[int]:
    return enc.encode(text, allowed_special="all")


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("name", sorted(completions(ours)))
def test_completion_parses_like_openai_harmony(encodings, name, strict):
    tokens = tokens_of(encodings[0], completions(ours)[name])
    got, want = parse_both(encodings, tokens, "assistant", strict)
    assert isinstance(got, list) and got, f"{name} did not parse: {got}"
    assert got == want


@pytest.mark.parametrize("name", sorted(conversations(ours)))
def test_rendered_conversation_parses_back_like_openai_harmony(encodings, name):
    """A whole rendered conversation, parsed with no initial role, gives the same messages in both."""
    mine, _ = encodings
    tokens = mine.render_conversation(ours.Conversation.from_messages(conversations(ours)[name]))
    got, want = parse_both(encodings, tokens, None)
    assert got == want


def stream_trace(parser_cls, enc, role, tokens):
    """The parser's observable state after each token, as plain values."""
    parser = parser_cls(enc, role)
    trace = []
    for token in tokens:
        parser.process(token)
        trace.append((parser.state.value, parser.current_role and parser.current_role.value, parser.current_channel,
                       parser.current_recipient, parser.current_content_type, parser.current_content,
                       parser.last_content_delta))
    parser.process_eos()
    return trace, as_plain(parser.messages), list(parser.tokens)


@pytest.mark.parametrize("name", sorted(completions(ours)))
def test_streaming_parser_matches_batch_and_official_stream(encodings, name):
    mine, ref = encodings
    tokens = tokens_of(mine, completions(ours)[name])
    trace, messages, seen = stream_trace(ours.StreamableParser, mine, ours.Role.ASSISTANT, tokens)
    ref_trace, ref_messages, _ = stream_trace(theirs.StreamableParser, ref, theirs.Role.ASSISTANT, tokens)
    assert messages == as_plain(mine.parse_messages_from_completion_tokens(tokens, ours.Role.ASSISTANT))
    assert seen == tokens
    assert trace == ref_trace
    assert messages == ref_messages


def test_stream_deltas_rebuild_each_message(encodings):
    """Concatenated deltas give each message's text, whole characters only (the emoji spans 2 tokens)."""
    mine, _ = encodings
    tokens = tokens_of(mine, completions(ours)["analysis_then_final"] + "<|start|>assistant<|channel|>final<|message|>👍🏽 ok")
    parser = ours.StreamableParser(mine, ours.Role.ASSISTANT)
    texts: dict[int, str] = {}
    for token in tokens:
        parser.process(token)
        if parser.last_content_delta is not None:
            assert "\ufffd" not in parser.last_content_delta
            texts[len(parser.messages)] = texts.get(len(parser.messages), "") + parser.last_content_delta
    parser.process_eos()
    assert [texts[i] for i in range(len(parser.messages))] == [m.text() for m in parser.messages]


MALFORMED = {
    "text_before_start": ("<|channel|>final<|message|>a<|end|>oops<|start|>assistant<|message|>b<|end|>", 5),
    "content_after_end": ("<|channel|>final<|message|>a<|end|><|end|>", 5),
    "unknown_role": ("<|channel|>final<|message|>a<|end|><|start|>wizard<|message|>b<|end|>", 7),
    "two_recipients": ("<|channel|>final to=a to=b<|message|>x<|end|>", 6),
    "empty_channel": ("<|channel|> final<|message|>x<|end|>", 2),
    "no_role_after_start": ("<|channel|>a<|message|>x<|end|><|start|><|message|>y<|end|>", 6),
    "header_not_utf8": ("<|start|>assistant\xff<|message|>x<|end|>", 3),
    "forgot_message_token": ("I must refuse<|end|><|start|>assistant<|channel|>analysis<|message|>We must<|end|>", 8),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_stream_raises_openai_message_with_position(encodings, name):
    """Our message is openai_harmony's, followed by the position of the token that broke the stream."""
    text, position = MALFORMED[name]
    mine, ref = encodings
    tokens = tokens_of(mine, text)
    if "\xff" in text:  # a header byte that is not UTF-8: token 0xff of the byte-level vocabulary
        tokens = [t for p in text.split("\xff") for t in tokens_of(mine, p) + [mine.tokenizer.encode_single_token(b"\xff")]][:-1]
    with pytest.raises(theirs.HarmonyError) as want:
        ref.parse_messages_from_completion_tokens(tokens, theirs.Role.ASSISTANT)
    with pytest.raises(ours.HarmonyError) as got:
        mine.parse_messages_from_completion_tokens(tokens, ours.Role.ASSISTANT)
    shown = mine.decode([tokens[position]])
    assert str(got.value) == f"{want.value} (at token {position}, {shown!r})"


@pytest.mark.parametrize("bad_id", [201089, 10**9, 2**32 - 1])
def test_token_outside_vocabulary_ends_the_content_as_openai_harmony(encodings, bad_id):
    """openai_harmony waits for an undecodable id to decode, so the rest of the message becomes one U+FFFD."""
    mine, ref = encodings
    tokens = tokens_of(mine, "<|channel|>final<|message|>ok") + [bad_id] + tokens_of(mine, "lost<|end|>")
    got, want = parse_both(encodings, tokens, "assistant")
    assert got == want and got[0]["content"][0]["text"] == "ok\ufffd"


def test_end_of_stream_inside_header_raises(encodings):
    mine, _ = encodings
    with pytest.raises(ours.HarmonyError, match=r"^Unexpected EOS while waiting for message header to complete "
                                                r"\(at the end of the stream, after 2 tokens\)$"):
        mine.parse_messages_from_completion_tokens(tokens_of(mine, "<|channel|>final"), ours.Role.ASSISTANT)


@pytest.mark.parametrize("text, role", [
    ("<|channel|>final<|end|>", "assistant"),
    ("forgot the message token<|end|><|start|>user<|message|>u<|end|>", "assistant"),
    ("<|channel|>c json<|return|>", "assistant"),
    ("<|channel|>a<|message|>x<|end|><|start|>assistant<|channel|>c<|end|>", "assistant"),
    ("<|end|>", "assistant"),
    ("<|start|>assistant<|channel|>final<|end|><|start|>assistant<|message|>y<|end|>", None),
])
def test_non_strict_recovers_like_openai_harmony(encodings, text, role):
    tokens = tokens_of(encodings[0], text)
    strict, _ = parse_both(encodings, tokens, role, strict=True)
    got, want = parse_both(encodings, tokens, role, strict=False)
    assert got == want
    assert isinstance(got, list) and got != strict


# -- fuzzing -----------------------------------------------------------------------------------

INTERESTING_TEXT = ["assistant", "user", "tool", "functions.f", "wizard", " to=", "to=python", "final", "analysis", " json",
                    " ", "hello", "é", "😀", "\n", "\t", "\x0b", "\u00a0", "<x", "<|constrain|>", "<|channel|>", "<|message|>", "<|start|>",
                    "<|end|>", "<|return|>", "<|call|>", "<|endoftext|>", "<|reserved_200017|>"]


def fuzz_tokens(enc):
    pieces = [tokens_of(enc, text) for text in INTERESTING_TEXT]
    any_token = st.one_of(st.integers(min_value=0, max_value=201088), st.sampled_from([201089, 2**32 - 1])).map(lambda t: [t])
    return st.lists(st.one_of(st.sampled_from(pieces), any_token), max_size=30).map(lambda ps: [t for p in ps for t in p])


@pytest.fixture(scope="module")
def valid_completions(encodings):
    mine, _ = encodings
    return [tokens_of(mine, text) for text in completions(ours).values()]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), strict=st.booleans(), role=st.sampled_from(["assistant", None]))
def test_random_streams_only_raise_harmony_error_and_agree(encodings, data, strict, role):
    tokens = data.draw(fuzz_tokens(encodings[0]))
    got, want = parse_both(encodings, tokens, role, strict)
    assert got == want, f"tokens {tokens}"
    mine, ref = encodings
    assert_same(outcome(trace, mine, ours, tokens, role, strict), outcome(trace, ref, theirs, tokens, role, strict),
                f"stream of {tokens}")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), strict=st.booleans())
def test_mutated_completions_only_raise_harmony_error_and_agree(encodings, valid_completions, data, strict):
    tokens = list(data.draw(st.sampled_from(valid_completions)))
    special = encodings[0].special
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(tokens)))
        op = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        token = data.draw(st.sampled_from([special.start, special.end, special.message, special.channel, special.call,
                                           special.return_, special.constrain, 220, 1428, 173781]))
        if op == "insert":
            tokens.insert(at, token)
        elif tokens[at:at + 1]:
            tokens[at:at + 1] = [] if op == "delete" else [token]
    got, want = parse_both(encodings, tokens, "assistant", strict)
    assert got == want, f"tokens {tokens}"


# -- speed: linear in the message length ---------------------------------------------------------

def _timed_parse(enc, tokens) -> tuple[float, list]:
    start = time.perf_counter()
    messages = enc.parse_messages_from_completion_tokens(tokens, ours.Role.ASSISTANT)
    return time.perf_counter() - start, messages


def test_parsing_time_grows_linearly_with_message_length(encodings):
    """A 1M-token message parses in about 10x the time of a 100k one (quadratic would be 100x).

    A ratio of two measurements in the same test, not a time; the best of three for the short one.
    """
    mine, _ = encodings
    head = tokens_of(mine, "<|channel|>final<|message|>")
    body = tokens_of(mine, "Linear time, please. Ünïcödé 😀 日本語 ")

    def message(n):
        return head + (body * (n // len(body) + 1))[:n] + [mine.special.end]

    short = min(_timed_parse(mine, message(100_000))[0] for _ in range(3))
    long, messages = _timed_parse(mine, message(1_000_000))
    assert long / short < 30, f"1M tokens took {long / short:.1f}x as long as 100k"
    assert len(messages) == 1 and messages[0].text().startswith("Linear time, please.")
