"""Reading a message header back: the text between ``<|start|>`` and ``<|message|>``.

A header is its role (or tool name), then in any order an optional `` to=RECIPIENT``, an
optional ``<|channel|>CHANNEL`` and an optional content type (``<|constrain|>json``, or a bare
word after the recipient)::

    assistant to=functions.get_weather<|channel|>commentary <|constrain|>json
    assistant<|channel|>commentary to=functions.get_weather <|constrain|>json

The rules follow what ``openai_harmony`` accepts: the channel is the word right after
``<|channel|>`` (up to whitespace or ``<``); the rest is trimmed and split into words on ASCII
whitespace (and before ``<|constrain|>``); with two or more words the last is the content type
unless it starts with ``to=``; the word before it is the recipient (``to=`` stripped); anything
left over is an error. An unknown role followed by more words is a tool's name
(``functions.get_weather to=assistant``). When the caller already knows the role, a leading
repeat of it is skipped.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .types import Author, HarmonyError, Role

CHANNEL_MARKER = "<|channel|>"
CONSTRAIN_MARKER = "<|constrain|>"
# Words are split on ASCII whitespace as Rust's split_ascii_whitespace defines it (no vertical tab);
# a channel name ends at, and the header is trimmed of, Unicode whitespace (Rust's char::is_whitespace).
ASCII_WHITESPACE = " \t\n\x0c\r"
UNICODE_WHITESPACE = ASCII_WHITESPACE + "\x0b\x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(
    chr(c) for c in range(0x2000, 0x200B))


@dataclass
class Header:
    """The parsed header of one message."""

    author: Author
    recipient: str | None = None
    channel: str | None = None
    content_type: str | None = None


def extract_channel(text: str) -> tuple[str | None, str]:
    """Split ``<|channel|>NAME`` out of ``text``; return ``(channel, text without it)``."""
    start = text.find(CHANNEL_MARKER)
    if start < 0:
        return None, text
    after = text[start + len(CHANNEL_MARKER):]
    length = 0
    while length < len(after) and after[length] not in UNICODE_WHITESPACE and after[length] != "<":
        length += 1
    if length == 0:
        raise HarmonyError(f"expected a channel name right after {CHANNEL_MARKER}")
    return after[:length], text[:start] + after[length:]


def split_header(text: str, role: Role | None) -> tuple[str | None, list[str]]:
    """The channel and the whitespace-separated words left, without a repeat of a known ``role``."""
    channel, rest = extract_channel(text)
    spaced = rest.replace(CONSTRAIN_MARKER, " " + CONSTRAIN_MARKER).strip(UNICODE_WHITESPACE)
    words = [w for w in re.split(f"[{ASCII_WHITESPACE}]+", spaced) if w]
    if role is not None and words[:1] == [role.value]:
        words.pop(0)  # the role repeated in a completion that already follows "<|start|>role"
    return channel, words


def parse_header(text: str, role: Role | None) -> Header:
    """Parse a decoded header; ``role`` is given when the caller already knows it (no ``<|start|>`` seen)."""
    channel, words = split_header(text, role)
    author = Author(role=role) if role is not None else _author(words)
    content_type = words.pop() if len(words) > 1 and not words[-1].startswith("to=") else None
    recipient = words.pop().removeprefix("to=") if words else None
    if words:
        raise HarmonyError(f"unexpected {' '.join(words)!r} before the recipient {recipient!r}")
    return Header(author=author, recipient=recipient, channel=channel, content_type=content_type)


def _author(words: list[str]) -> Author:
    """Take the role off the front of ``words``: a known role, or a tool name when more words follow."""
    if not words:
        raise HarmonyError("expected a role (user, assistant, system, developer, tool or a tool name)")
    name = words.pop(0)
    if name == Role.TOOL.value:
        return Author(role=Role.TOOL, name=name)
    if name in Role._value2member_map_:
        return Author(role=Role(name))
    if name.startswith("to=") or words:
        return Author(role=Role.TOOL, name=name)
    raise HarmonyError(f"unknown role {name!r} (a tool name must be followed by ' to=RECIPIENT')")
