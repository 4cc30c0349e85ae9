"""Differential fuzz against ``openai_harmony``: 1,000 random conversations (seeded, so CI is
deterministic), with random ``oneOf``/``anyOf``-rich JSON-Schema tool parameters, random system and
developer contents, authors, channels, recipients and content types.

For each: the same JSON (``to_json``) and JSON round trip; the same tokens from
``render_conversation`` (auto-drop on and off), ``render_conversation_for_training``,
``render_conversation_for_completion`` (for a random next role) and ``render`` per message (with
or without function tools); the same messages parsed back (strict and not) from the rendering and from the last
assistant turn as a completion; and, token by token, the same streaming-parser trace (state,
role, channel, recipient, content type, delta, content, ``state_data``). Where one library
raises, the other must raise too, with ``openai_harmony``'s message first in ours.
"""
from __future__ import annotations

import json
import random

import pytest
from harmony_random import build, build_message, random_conversation

import gptoss_edu.harmony as ours

theirs = pytest.importorskip("openai_harmony")

CONVERSATIONS = 1000
BATCHES = 5


@pytest.fixture(scope="module")
def encodings():
    return (ours.load_harmony_encoding(ours.HarmonyEncodingName.HARMONY_GPT_OSS),
            theirs.load_harmony_encoding(theirs.HarmonyEncodingName.HARMONY_GPT_OSS))


def outcome(fn, *args):
    """("ok", value) or ("error", message): what ``fn(*args)`` gave."""
    try:
        return "ok", fn(*args)
    except (ours.HarmonyError, theirs.HarmonyError, RuntimeError, ValueError) as e:
        return "error", str(e)


def assert_same(got, want, what: str) -> None:
    """Equal values, or both raised and ours starts with openai_harmony's message."""
    if got[0] == want[0] == "error":
        assert got[1].startswith(want[1]), f"{what}: ours {got[1]!r} vs theirs {want[1]!r}"
    else:
        assert got == want, f"{what}:\nours   {got}\ntheirs {want}"


def plain(messages) -> str:
    return json.dumps([m.to_dict() for m in messages])


def parse(enc, lib, tokens, role, strict):
    return plain(enc.parse_messages_from_completion_tokens(tokens, None if role is None else lib.Role(role), strict=strict))


def trace(enc, lib, tokens, role, strict=True):
    """Per token: the parser's role, channel, recipient, content type and delta; every 8th token also
    its state and content, every 64th its state_data (openai_harmony rebuilds those from scratch)."""
    parser = lib.StreamableParser(enc, None if role is None else lib.Role(role), strict=strict)
    rows = []
    for i, token in enumerate(tokens):
        parser.process(token)
        role_now = parser.current_role
        row = [None if role_now is None else role_now.value, parser.current_channel,
               parser.current_recipient, parser.current_content_type, parser.last_content_delta]
        if i % 8 == 0:
            row += [parser.state.value, parser.current_content]
        if i % 64 == 0:
            row.append(parser.state_data)
        rows.append(row)
    parser.process_eos()
    return rows, plain(parser.messages)


def check_conversation(encodings, spec, rng: random.Random) -> int:
    """Run every comparison on one conversation spec (``rng`` picks the next role and render options);
    returns how many comparisons were made."""
    mine, ref = encodings
    conv_ours, conv_theirs = build(ours, spec), build(theirs, spec)
    assert conv_ours.to_json() == conv_theirs.to_json()
    assert ours.Conversation.from_json(conv_theirs.to_json()).to_json() == theirs.Conversation.from_json(conv_ours.to_json()).to_json()
    checks = 2
    configs = [(None, None), (ours.RenderConversationConfig(auto_drop_analysis=False),
                              theirs.RenderConversationConfig(auto_drop_analysis=False))]
    renders = {}
    for config_ours, config_theirs in configs:
        for name in ("render_conversation", "render_conversation_for_training"):
            got = outcome(getattr(mine, name), conv_ours, config_ours)
            want = outcome(getattr(ref, name), conv_theirs, config_theirs)
            assert_same(got, want, f"{name} auto_drop={config_ours is None}")
            renders[name, config_ours is None] = got
            checks += 1
    role = rng.choice(["assistant", "user", "tool"])
    got = outcome(mine.render_conversation_for_completion, conv_ours, ours.Role(role))
    want = outcome(ref.render_conversation_for_completion, conv_theirs, theirs.Role(role))
    assert_same(got, want, f"completion for {role}")
    checks += 1
    for message in spec:
        tools = rng.random() < 0.5
        got = outcome(mine.render, build_message(ours, message), ours.RenderOptions(conversation_has_function_tools=tools))
        want = outcome(ref.render, build_message(theirs, message), theirs.RenderOptions(conversation_has_function_tools=tools))
        assert_same(got, want, f"render {message}")
        checks += 1
    status, tokens = renders["render_conversation", True]
    if status == "ok":
        checks += check_parsing(encodings, tokens, None)
    status, tokens = renders["render_conversation_for_training", True]
    if status == "ok" and spec[-1]["kind"] == "assistant":
        head = [mine.special.start] + mine.encode("assistant")
        last = max(i for i in range(len(tokens)) if tokens[i:i + len(head)] == head)
        checks += check_parsing(encodings, tokens[last + len(head):], "assistant")
    return checks


def check_parsing(encodings, tokens, role) -> int:
    mine, ref = encodings
    for strict in (True, False):
        assert_same(outcome(parse, mine, ours, tokens, role, strict), outcome(parse, ref, theirs, tokens, role, strict),
                    f"parse strict={strict} role={role}")
    assert_same(outcome(trace, mine, ours, tokens, role), outcome(trace, ref, theirs, tokens, role), f"stream role={role}")
    return 3


@pytest.mark.parametrize("batch", range(BATCHES))
def test_random_conversations_match_openai_harmony(encodings, batch):
    rng = random.Random(1000 + batch)
    checks = sum(check_conversation(encodings, random_conversation(rng), rng) for _ in range(CONVERSATIONS // BATCHES))
    assert checks > 10 * CONVERSATIONS // BATCHES  # every conversation went through the whole comparison
