"""Reading a message header back: the text between ``<|start|>`` and ``<|message|>``.

A header is its role (or tool name), then in any order an optional `` to=RECIPIENT``, an
optional ``<|channel|>CHANNEL`` and an optional content type (``<|constrain|>json``, or a bare
word after the recipient)::

    assistant to=functions.get_weather<|channel|>commentary <|constrain|>json
    assistant<|channel|>commentary to=functions.get_weather <|constrain|>json

The rules follow what ``openai_harmony`` accepts: the channel is the word right after
``<|channel|>`` (up to whitespace or ``<``); the rest is trimmed and split into words on ASCII
whitespace (and before ``<|constrain|>``); a word ``to=X`` at the end is the recipient; with two
or more words the last is otherwise the content type and the word before it the recipient
(``to=`` stripped), and a single word is the recipient. Anything left over is an error. An
unknown role followed by more words is a tool's name (``functions.get_weather to=assistant``).
A leading repeat of the role is skipped (a completion after ``<|start|>assistant`` may say it again).
Error messages are ``openai_harmony``'s.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .types import Author, HarmonyError, Role

CHANNEL_MARKER = "<|channel|>"
CONSTRAIN_MARKER = "<|constrain|>"
# Words are split on ASCII whitespace as Rust's split_ascii_whitespace defines it (no vertical tab);
# a channel name ends at, and the header is trimmed of, Unicode whitespace (Rust's char::is_whitespace).
ASCII_WHITESPACE = " \t\n\x0c\r"
UNICODE_WHITESPACE = ASCII_WHITESPACE + "\x0b\x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(
    chr(c) for c in range(0x2000, 0x200B))
CHANNEL_END = re.compile(f"[{re.escape(UNICODE_WHITESPACE)}<]")
ASCII_WORDS = re.compile(f"[^{ASCII_WHITESPACE}]+")


@dataclass
class Header:
    """The parsed header of one message."""

    author: Author
    recipient: str | None = None
    channel: str | None = None
    content_type: str | None = None

    def to_dict(self) -> dict:
        """As ``openai_harmony``'s parser state shows it (the author's name only when set)."""
        author: dict = {"role": self.author.role.value}
        if self.author.name is not None:
            author["name"] = self.author.name
        return {"author": author, "recipient": self.recipient, "channel": self.channel,
                "content_type": self.content_type}


def extract_channel(text: str) -> tuple[str | None, str]:
    """Split ``<|channel|>NAME`` out of ``text``; return ``(channel, text without it)``."""
    start = text.find(CHANNEL_MARKER)
    if start < 0:
        return None, text
    after = text[start + len(CHANNEL_MARKER):]
    end = CHANNEL_END.search(after)
    length = end.start() if end else len(after)
    if length == 0:
        raise HarmonyError("channel marker present but no channel value found in header")
    return after[:length], text[:start] + after[length:]


def parse_header(text: str, role: Role | None, *, with_recipient: bool = True) -> tuple[Header, str | None]:
    """Parse a decoded header; ``role`` is given when the caller already knows it (no ``<|start|>`` seen).

    Returns the header and the words left over (joined by spaces), or None. Without
    ``with_recipient`` (a header a stop token cut short) no recipient or content type is read:
    every word after the role is left over.
    """
    channel, rest = extract_channel(text)
    rest = rest.strip(UNICODE_WHITESPACE)
    if CONSTRAIN_MARKER in rest:
        rest = rest.replace(CONSTRAIN_MARKER, " " + CONSTRAIN_MARKER).strip(UNICODE_WHITESPACE)
    words = ASCII_WORDS.findall(rest)
    author = Author(role=role) if role is not None else _author(words)
    if words and words[0] == author.role.value:
        words.pop(0)
    recipient = content_type = None
    if with_recipient and words:
        last = words.pop()
        if last.startswith("to="):
            recipient = last[3:]
        elif not words:
            recipient = last
        else:
            content_type = last
            recipient = words.pop().removeprefix("to=")
    header = Header(author=author, recipient=recipient, channel=channel, content_type=content_type)
    return header, (" ".join(words) if words else None)


def _author(words: list[str]) -> Author:
    """Take the role off the front of ``words`` (kept there for a known role; see ``parse_header``)."""
    if not words:
        raise HarmonyError("message header did not contain a role")
    first = words[0]
    if first in Role._value2member_map_:
        role = Role(first)
        return Author(role=role, name=first if role is Role.TOOL else None)
    if len(words) > 1 or first.startswith("to="):
        words.pop(0)
        return Author(role=Role.TOOL, name=first)
    raise HarmonyError(f"Unknown role: {first}")


RUST_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}


def rust_debug(text: str) -> str:
    """``text`` quoted as Rust's ``{:?}`` shows a string (used in ``openai_harmony``'s messages):
    backslash escapes, and ``\\u{...}`` for unprintable characters and combining marks. Python's
    Unicode tables decide both, so about 80 rare code points (spacing marks that Rust counts as
    grapheme extenders, characters newer than Python's Unicode) are shown differently."""
    return '"' + "".join(RUST_ESCAPES.get(c) or (f"\\u{{{ord(c):x}}}" if _escaped(c) else c) for c in text) + '"'


def _escaped(char: str) -> bool:
    return (not char.isprintable() and char != " ") or unicodedata.category(char) in ("Mn", "Me")
