"""Turning model output back into messages, one token at a time, in time linear in the tokens.

The parser is a three-state machine::

    EXPECT_START --<|start|>--> HEADER --<|message|>--> CONTENT --<|end|>/<|return|>/<|call|>--> EXPECT_START

It starts in HEADER when told the role of the first message (a completion begins right after
the prompt's ``<|start|>assistant``), else in EXPECT_START. Every behaviour is ``openai_harmony``'s:

- content is decoded as it arrives: ``last_content_delta`` holds whole characters only (an emoji
  split over two tokens shows up with its last byte). Bytes that can never be UTF-8 become one
  U+FFFD each time a token brings some, the bytes after them waiting for the next token. A token
  id that does not decode makes the rest of the message wait; the message then ends with U+FFFD.
- strict mode (the default) treats every token inside a header, stop tokens included, as header
  text, so a header the model forgot to close fails at the next ``<|message|>``. Non-strict mode
  ends such a header at a stop token: after a given first role its words become the content,
  otherwise the broken message is dropped.
- ``HarmonyError``, with ``openai_harmony``'s message and the token position, for a token other
  than ``<|start|>`` between messages, a header that does not decode or parse, and an end of
  stream inside a header.

Content is kept as a list of decoded pieces and joined once per message, so a message of n tokens
costs O(n), where appending to one growing string would cost O(n^2).
"""
from __future__ import annotations

import operator
from enum import Enum
from typing import TYPE_CHECKING, Any

from .header import Header, parse_header, rust_debug
from .types import HarmonyError, Message, Role, TextContent

if TYPE_CHECKING:
    from .encoding import HarmonyEncoding

REPLACEMENT = "\ufffd"


class StreamState(Enum):
    EXPECT_START = "ExpectStart"
    HEADER = "Header"
    CONTENT = "Content"


class StreamableParser:
    """Feed tokens with ``process``; read ``messages`` and the ``current_*`` fields as they change."""

    def __init__(self, encoding: HarmonyEncoding, role: Role | None, *, strict: bool = True) -> None:
        self.encoding = encoding
        self.strict = strict
        self.tokens: list[int] = []
        self.messages: list[Message] = []
        self.last_content_delta: str | None = None
        self._next_role = None if role is None else Role(role)
        self._header_tokens: list[int] = []
        self._header: Header | None = None
        self._pieces: list[str] = []  # decoded content of the current message, one piece per delta
        self._joined = ("", 0)  # the pieces joined so far, and how many
        self._pending = b""  # bytes of an unfinished UTF-8 character (or after an invalid one)
        self._stuck = False  # a token in this content did not decode: the rest waits for the end
        special = encoding.special
        self._start, self._message = special.start, special.message
        self._stops = special.message_ends
        self._table = encoding.vocab.table
        self.state = StreamState.HEADER if role is not None else StreamState.EXPECT_START

    # -- what a UI reads ------------------------------------------------------------------------

    @property
    def current_role(self) -> Role | None:
        return self._header.author.role if self._header else self._next_role

    @property
    def current_channel(self) -> str | None:
        return self._header.channel if self._header else None

    @property
    def current_recipient(self) -> str | None:
        return self._header.recipient if self._header else None

    @property
    def current_content_type(self) -> str | None:
        return self._header.content_type if self._header else None

    @property
    def current_content(self) -> str:
        """The content decoded so far (joined on demand, from where the last read stopped)."""
        text, count = self._joined
        if count < len(self._pieces):
            text += "".join(self._pieces[count:])
            self._joined = (text, len(self._pieces))
        return text

    @property
    def state_data(self) -> dict[str, Any]:
        """The state as ``openai_harmony`` reports it: ``{"state": ...}`` with the header tokens, or the
        parsed header and ``content_tokens`` (the decoded content pieces encoded again, piece by piece)."""
        if self.state is StreamState.EXPECT_START:
            return {"state": StreamState.EXPECT_START.value}
        if self.state is StreamState.HEADER:
            return {"state": StreamState.HEADER.value, "header_tokens": list(self._header_tokens)}
        assert self._header is not None
        encode = self.encoding.tokenizer.encode_ordinary
        content_tokens = [t for piece in self._pieces for t in encode(piece)]
        return {"state": StreamState.CONTENT.value, "header": self._header.to_dict(), "content_tokens": content_tokens}

    # -- feeding --------------------------------------------------------------------------------

    def process(self, token: int) -> StreamableParser:
        """Consume one token; raises ``HarmonyError`` where no harmony stream could continue."""
        token = operator.index(token)
        self.tokens.append(token)
        if self.state is StreamState.CONTENT:
            if token in self._stops:
                self._finish_message()
            else:
                self._append_content(token)
        elif self.state is StreamState.HEADER:
            if token == self._message:
                self._open_content()
            elif not self.strict and token in self._stops:
                self._recover_unterminated_header()
            else:
                self._header_tokens.append(token)
        elif token == self._start:
            self._header_tokens = []
            self.state = StreamState.HEADER
        else:
            raise self._error(f"Unexpected token {token} while expecting start token {self._start}")
        return self

    def process_eos(self) -> StreamableParser:
        """The stream ended: keep a message cut off inside its content; a cut-off header is an error."""
        if self.state is StreamState.HEADER:
            raise self._error("Unexpected EOS while waiting for message header to complete", at_end=True)
        if self.state is StreamState.CONTENT:
            self._finish_message()
        return self

    # -- content --------------------------------------------------------------------------------

    def _append_content(self, token: int) -> None:
        piece = self._table[token] if 0 <= token < len(self._table) and not self._stuck else None
        if piece is None:  # an id outside the vocabulary: openai_harmony waits for it to decode, forever
            self._stuck = True
            self.last_content_delta = None
            return
        if not self._pending:
            try:
                delta = piece.decode("utf-8")
            except UnicodeDecodeError:
                delta = self._decode_partial(piece)
        else:
            delta = self._decode_partial(self._pending + piece)
        if delta:
            self._pieces.append(delta)
        self.last_content_delta = delta or None

    def _decode_partial(self, raw: bytes) -> str:
        """Decode what can be: the valid prefix, then U+FFFD for an invalid sequence (the bytes
        after it wait), or keep an unfinished character's bytes for the next token."""
        try:
            self._pending = b""
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            valid = raw[:e.start].decode("utf-8")
            if e.reason == "unexpected end of data":
                self._pending = raw[e.start:]
                return valid
            self._pending = raw[e.end:]
            return valid + REPLACEMENT

    def _finish_message(self) -> None:
        text = self.current_content + (REPLACEMENT if self._stuck else "")
        text += self._pending.decode("utf-8", errors="replace")
        assert self._header is not None
        self._emit(self._header, text)
        self.last_content_delta = None

    # -- headers --------------------------------------------------------------------------------

    def _open_content(self) -> None:
        try:
            text = self.encoding.vocab.decode_utf8(self._header_tokens)
        except HarmonyError:
            raise self._error("could not decode header") from None
        try:
            header, leftover = parse_header(text, self._next_role)
        except HarmonyError as e:
            raise self._error(str(e)) from None
        if leftover is not None:
            raise self._error(f"unexpected tokens remaining in message header: Some({rust_debug(leftover)})")
        self._next_role = None
        self._header = header
        self._reset_content()
        self.state = StreamState.CONTENT

    def _recover_unterminated_header(self) -> None:
        """Non-strict: a stop token ended the header. Keep its words as content only for the given first role."""
        role = self._next_role
        if role is not None and self._header_tokens:
            try:
                header, words = parse_header(self.encoding.vocab.decode_utf8(self._header_tokens), role,
                                             with_recipient=False)
            except HarmonyError as e:
                raise self._error(str(e)) from None
            self._emit(header, words or "")
        self._next_role = None
        self.state = StreamState.EXPECT_START

    def _emit(self, header: Header, text: str) -> None:
        self.messages.append(Message(author=header.author, content=[TextContent(text=text)], channel=header.channel,
                                     recipient=header.recipient, content_type=header.content_type))
        self._header = None
        self._reset_content()
        self.state = StreamState.EXPECT_START

    def _reset_content(self) -> None:
        self._pieces, self._joined = [], ("", 0)
        self._pending, self._stuck = b"", False

    def _error(self, message: str, at_end: bool = False) -> HarmonyError:
        """``openai_harmony``'s message, then where: the token just read (and its text), or the end of the stream."""
        if at_end:
            return HarmonyError(f"{message} (at the end of the stream, after {len(self.tokens)} tokens)")
        raw = self.encoding.vocab.token_bytes(self.tokens[-1])
        shown = "" if raw is None else f", {raw.decode('utf-8', errors='replace')!r}"
        return HarmonyError(f"{message} (at token {len(self.tokens) - 1}{shown})")
