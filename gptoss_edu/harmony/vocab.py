"""The token table harmony renders and parses with, on top of the o200k_harmony tokenizer.

``openai_harmony`` carries its own list of special tokens, which differs from tiktoken's
``o200k_harmony`` in two places: id 200018 is ``<|reserved_200018|>`` (tiktoken also calls it
``<|endofprompt|>``, which harmony encodes as plain text), and there is one more reserved
token, ``<|reserved_201088|>``, one past the tokenizer's vocabulary (the model has 201088
embedding rows, so it is never sampled, but it decodes). The named tokens below 200014
(``<|start|>``, ``<|channel|>``, ...) are the tokenizer's.

Errors are ``HarmonyError`` with ``openai_harmony``'s messages, e.g. ``Invalid token for
decoding: 99999999`` or ``Could not decode tokens: Invalid utf-8 sequence: ...``.
"""
from __future__ import annotations

import operator
import re
from collections.abc import Collection, Sequence
from collections.abc import Set as AbstractSet
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

from .types import HarmonyError

if TYPE_CHECKING:
    from gptoss_edu.tokenizer import Tokenizer

FIRST_RESERVED = 200014
LAST_RESERVED = 201088


@lru_cache(maxsize=8)
def _special_regex(tokens: frozenset[str]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True)))


def disallowed_special_error(token: str) -> HarmonyError:
    """``openai_harmony``'s (and tiktoken's) message for special-token text that ``encode`` refuses."""
    return HarmonyError(
        f"Encountered text corresponding to disallowed special token {token!r}.\n"
        "If you want this text to be encoded as a special token, "
        f"pass it to `allowed_special`, e.g. `allowed_special={{'{token}', ...}}`.\n"
        "If you want this text to be encoded as normal text, disable the check for this token "
        f"by passing `disallowed_special=(enc.special_tokens_set - {{'{token}'}})`.\n"
        "To disable this check for all special tokens, pass `disallowed_special=()`.\n")


def utf8_error_text(error: UnicodeDecodeError) -> str:
    """A UTF-8 error as Rust's ``Utf8Error`` describes it (the two libraries agree on where and how long)."""
    if error.reason == "unexpected end of data":
        return f"incomplete utf-8 byte sequence from index {error.start}"
    return f"invalid utf-8 sequence of {error.end - error.start} bytes from index {error.start}"


class HarmonyVocab:
    """Encode and decode with harmony's special tokens; ``table[id]`` is the bytes of token ``id``."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        named = {name: i for name, i in tokenizer.special_tokens.items() if i < FIRST_RESERVED}
        reserved = {f"<|reserved_{i}|>": i for i in range(FIRST_RESERVED, LAST_RESERVED + 1)}
        self.special_tokens: dict[str, int] = {**named, **reserved}
        self.special_ids = frozenset(self.special_tokens.values())
        table: list[bytes | None] = [None] * (LAST_RESERVED + 1)
        for token, rank in tokenizer.mergeable_ranks.items():
            table[rank] = token
        for name, i in self.special_tokens.items():
            table[i] = name.encode()
        self.table = table

    def token_bytes(self, token: int) -> bytes | None:
        """The bytes of one token, or None for an id outside the table."""
        try:
            index = operator.index(token)
        except TypeError:
            return None
        return self.table[index] if 0 <= index <= LAST_RESERVED else None

    def decode_bytes(self, tokens: Sequence[int]) -> bytes:
        table = self.table
        try:
            return b"".join([table[t] if t >= 0 else None for t in tokens])  # type: ignore[misc]
        except (IndexError, TypeError):
            bad = next(t for t in tokens if self.token_bytes(t) is None)
            raise HarmonyError(f"Invalid token for decoding: {bad}") from None

    def decode_utf8(self, tokens: Sequence[int]) -> str:
        try:
            raw = self.decode_bytes(tokens)
        except HarmonyError as e:
            raise HarmonyError(f"Could not decode tokens: Invalid token error: {e}") from None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise HarmonyError(f"Could not decode tokens: Invalid utf-8 sequence: {utf8_error_text(e)}") from None

    def encode(self, text: str, *, allowed_special: Literal["all"] | AbstractSet[str] = frozenset(),
               disallowed_special: Literal["all"] | Collection[str] = "all") -> list[int]:
        """tiktoken's rules: text spelling a disallowed special token raises, an allowed one becomes it."""
        specials = self.special_tokens.keys()
        allowed = set(specials) if allowed_special == "all" else set(allowed_special)
        disallowed = set(specials) - allowed if disallowed_special == "all" else disallowed_special
        if disallowed:
            found = _special_regex(frozenset(disallowed)).search(text)
            if found:
                raise disallowed_special_error(found.group())
        text = _without_lone_surrogates(text)
        allowed &= specials
        encode = self.tokenizer.encode_ordinary
        if not allowed:
            return encode(text)
        ids: list[int] = []
        start = 0
        for special in _special_regex(frozenset(allowed)).finditer(text):
            ids += encode(text[start:special.start()])
            ids.append(self.special_tokens[special.group()])
            start = special.end()
        return ids + encode(text[start:])


def _without_lone_surrogates(text: str) -> str:
    """Pair up surrogates and replace lone ones with U+FFFD, as ``openai_harmony.encode`` does."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text
