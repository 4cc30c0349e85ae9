"""Harmony speed: rendering and parsing with ours (pure Python) against openai-harmony (Rust).

Cases, each checked equal between the two libraries before it is timed:

- render: a typical agent conversation (system with the browser tool, developer instructions and
  two function tools, user, analysis, a tool call, its result, a final answer), through
  ``render_conversation_for_completion`` and ``render_conversation_for_training``;
- parse: the assistant's reply of that conversation (analysis, tool call, final) as a completion,
  in one call and token by token through ``StreamableParser``;
- long messages: one message of 100k and of 1M content tokens, parsed in one call (the parser
  is linear: ten times the tokens should take about ten times as long).

Times are medians of ``--repeats`` runs on one thread; the table gives ours/theirs (below 1 means
ours is faster). Run: ``python benchmarks/harmony.py [--repeats 20] [--long 100000 1000000]``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import openai_harmony as theirs

import gptoss_edu.harmony as ours

WEATHER = {"type": "object", "properties": {
    "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
    "when": {"oneOf": [{"type": "string", "description": "ISO date"}, {"type": "integer", "description": "days ahead"}]}},
    "required": ["location"]}
SEARCH = {"type": "object", "properties": {"query": {"type": "string"}, "limit": {"type": "integer", "default": 5}}}


def conversation(h) -> list:
    """A typical tool-using conversation in library ``h``."""
    tools = [h.ToolDescription.new("get_weather", "Gets the current weather.", WEATHER),
             h.ToolDescription.new("search_docs", "Searches the documentation.", SEARCH)]
    assistant = h.Role.ASSISTANT
    return [
        h.Message.from_role_and_content(h.Role.SYSTEM, h.SystemContent.new().with_browser_tool()
                                        .with_conversation_start_date("2025-06-28")),
        h.Message.from_role_and_content(h.Role.DEVELOPER, h.DeveloperContent.new()
                                        .with_instructions("Answer briefly and cite sources.").with_function_tools(tools)),
        h.Message.from_role_and_content(h.Role.USER, "What is the weather in Tokyo tomorrow, and should I pack an umbrella?"),
        h.Message.from_role_and_content(assistant, "The user wants tomorrow's weather in Tokyo; call get_weather.")
        .with_channel("analysis"),
        h.Message.from_role_and_content(assistant, '{"location": "Tokyo, Japan", "when": 1}').with_channel("commentary")
        .with_recipient("functions.get_weather").with_content_type("<|constrain|>json"),
        h.Message.from_author_and_content(h.Author.new(h.Role.TOOL, "functions.get_weather"),
                                          '{"temperature": 21, "rain_probability": 0.7}').with_channel("commentary")
        .with_recipient("assistant"),
        h.Message.from_role_and_content(assistant, "70% chance of rain: recommend an umbrella.").with_channel("analysis"),
        h.Message.from_role_and_content(assistant, "Tomorrow in Tokyo: about 21°C with a 70% chance of rain — "
                                        "yes, pack an umbrella ☂️.").with_channel("final"),
    ]


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def stream(enc, lib, tokens: list[int]) -> list:
    parser = lib.StreamableParser(enc, lib.Role.ASSISTANT)
    for token in tokens:
        parser.process(token)
    return parser.process_eos().messages


def cases(mine, ref, long_sizes: list[int]) -> list[tuple[str, Callable, Callable]]:
    """(name, ours, theirs) call pairs, checked to give equal results."""
    conv_ours = ours.Conversation.from_messages(conversation(ours))
    conv_theirs = theirs.Conversation.from_messages(conversation(theirs))
    training = mine.render_conversation_for_training(conv_ours)
    reply = training[training.index(mine.special.start, len(mine.render_conversation(
        ours.Conversation.from_messages(conversation(ours)[:3])))) + 2:]  # after the user turn's "<|start|>assistant"
    out = [
        ("render for completion", lambda: mine.render_conversation_for_completion(conv_ours, ours.Role.ASSISTANT),
         lambda: ref.render_conversation_for_completion(conv_theirs, theirs.Role.ASSISTANT)),
        ("render for training", lambda: mine.render_conversation_for_training(conv_ours),
         lambda: ref.render_conversation_for_training(conv_theirs)),
        (f"parse a reply ({len(reply)} tokens)", lambda: mine.parse_messages_from_completion_tokens(reply, ours.Role.ASSISTANT),
         lambda: ref.parse_messages_from_completion_tokens(reply, theirs.Role.ASSISTANT)),
        ("stream the same reply", lambda: stream(mine, ours, reply), lambda: stream(ref, theirs, reply)),
    ]
    head = mine.encode("<|channel|>final<|message|>", allowed_special="all")
    body = mine.encode("The quick brown fox jumps over the lazy dog. Ünïcödé 😀 日本語 ")
    for n in long_sizes:
        tokens = head + (body * (n // len(body) + 1))[:n] + [mine.special.end]
        out.append((f"parse one {n:,}-token message",
                    lambda t=tokens: mine.parse_messages_from_completion_tokens(t, ours.Role.ASSISTANT),
                    lambda t=tokens: ref.parse_messages_from_completion_tokens(t, theirs.Role.ASSISTANT)))
    return out


def same(a: object, b: object) -> bool:
    """Equal token lists, or equal messages (compared as JSON)."""
    if isinstance(a, list) and a and hasattr(a[0], "to_json"):
        return [m.to_json() for m in a] == [m.to_json() for m in b]  # type: ignore[union-attr]
    return a == b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--long", type=int, nargs="*", default=[100_000, 1_000_000])
    args = parser.parse_args()
    mine = ours.load_harmony_encoding(ours.HarmonyEncodingName.HARMONY_GPT_OSS)
    ref = theirs.load_harmony_encoding(theirs.HarmonyEncodingName.HARMONY_GPT_OSS)

    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; medians of {args.repeats} runs (3 for long)")
    print(f"{'case':<38}{'ours ms':>12}{'openai-harmony ms':>20}{'ours/theirs':>14}")
    for name, mine_fn, ref_fn in cases(mine, ref, args.long):
        assert same(mine_fn(), ref_fn()), f"{name}: results differ"
        repeats = 3 if "-token message" in name else args.repeats
        ours_s, theirs_s = median_seconds(mine_fn, repeats), median_seconds(ref_fn, repeats)
        print(f"{name:<38}{ours_s * 1e3:>12.2f}{theirs_s * 1e3:>20.2f}{ours_s / theirs_s:>13.2f}x")


if __name__ == "__main__":
    main()
