"""Turning model output back into messages, one token at a time.

The parser is a three-state machine::

    EXPECT_START --<|start|>--> HEADER --<|message|>--> CONTENT --<|end|>/<|return|>/<|call|>--> EXPECT_START

It starts in HEADER when told the role of the first message (a completion begins right after
the prompt's ``<|start|>assistant``), else in EXPECT_START. Content is decoded incrementally, so
``last_content_delta`` only ever holds whole characters (an emoji split over two tokens shows
up when its last byte arrives); that is what a chat UI streams, channel by channel.

Strict mode (the default) treats every token other than ``<|message|>`` inside a header as header
text. Non-strict mode also accepts a header that a stop token ends early (the model forgot
``<|message|>``): after a given first role the header's words become the content, after
``<|start|>`` the broken message is dropped, as ``openai_harmony`` does. Both modes raise
``HarmonyError`` for a token other than ``<|start|>`` between messages and for an end of stream
inside a header, and for an id outside the vocabulary (``openai_harmony`` would show one inside
content as a replacement character); the message names the token position and what was expected.
"""
from __future__ import annotations

import codecs
from enum import Enum
from typing import TYPE_CHECKING

from .header import Header, parse_header, split_header
from .types import Author, HarmonyError, Message, Role, TextContent

if TYPE_CHECKING:
    from .encoding import HarmonyEncoding


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
        self._role = role
        self._header_tokens: list[int] = []
        self._header: Header | None = None
        self._content = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.state = StreamState.HEADER if role is not None else StreamState.EXPECT_START

    @property
    def current_role(self) -> Role | None:
        return self._header.author.role if self._header else self._role

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
        return self._content

    def process(self, token: int) -> StreamableParser:
        """Consume one token; raises ``HarmonyError`` where no harmony stream could continue."""
        self.tokens.append(token)
        self.last_content_delta = None
        piece = self._token_bytes(token)
        specials = self.encoding.special
        if self.state is StreamState.EXPECT_START:
            if token != specials.start:
                raise self._error(token, f"after a finished message: expected <|start|> ({specials.start}) to open the next one")
            self._begin_header(role=None)
        elif self.state is StreamState.HEADER:
            if token == specials.message:
                self._open_content(token)
            elif not self.strict and token in specials.message_ends:
                self._recover_unterminated_header()
            else:
                self._header_tokens.append(token)
        elif token in specials.message_ends:
            self._finish_message()
        else:
            self._append_content(piece)
        return self

    def process_eos(self) -> StreamableParser:
        """The stream ended: keep a message cut off inside its content; a cut-off header is an error."""
        if self.state is StreamState.HEADER:
            where = len(self.tokens)
            raise HarmonyError(f"token {where} (end of stream): expected the rest of the message header and <|message|>, "
                               f"got end of stream after header {self._header_text()!r}")
        if self.state is StreamState.CONTENT:
            self._finish_message()
        return self

    def _begin_header(self, role: Role | None) -> None:
        self._role = role
        self._header_tokens = []
        self.state = StreamState.HEADER

    def _open_content(self, token: int) -> None:
        text = self._header_text()
        try:
            self._header = parse_header(text, self._role)
        except HarmonyError as e:
            raise self._error(token, f"closes the header {text!r}, which is invalid: {e}") from None
        self._content = ""
        self._decoder.reset()
        self.state = StreamState.CONTENT

    def _append_content(self, piece: bytes) -> None:
        delta = self._decoder.decode(piece)
        self._content += delta
        self.last_content_delta = delta or None

    def _finish_message(self) -> None:
        self._content += self._decoder.decode(b"", final=True)
        assert self._header is not None
        self._emit(self._header, self._content)

    def _recover_unterminated_header(self) -> None:
        """Non-strict: a stop token ended the header. Keep it as content only for the given first role."""
        if self._role is not None and self._header_tokens:
            channel, words = split_header(self._header_text(), self._role)
            self._emit(Header(author=Author(role=self._role), channel=channel), " ".join(words))
        else:
            self._role = None
            self.state = StreamState.EXPECT_START

    def _emit(self, header: Header, text: str) -> None:
        self.messages.append(Message(author=header.author, content=[TextContent(text=text)], channel=header.channel,
                                     recipient=header.recipient, content_type=header.content_type))
        self._header = None
        self._role = None
        self._content = ""
        self.state = StreamState.EXPECT_START

    def _header_text(self) -> str:
        """The header so far; it must be valid UTF-8 (a role or a channel is never half a character)."""
        raw = self.encoding.tokenizer.decode_bytes(self._header_tokens)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise HarmonyError(f"token {len(self.tokens) - 1}: the message header {raw!r} is not valid UTF-8 ({e.reason})") from None

    def _token_bytes(self, token: int) -> bytes:
        try:
            return self.encoding.tokenizer.decode_bytes([token])
        except (KeyError, ValueError, TypeError, OverflowError):
            raise HarmonyError(f"token {len(self.tokens) - 1}: id {token!r} is not in the vocabulary "
                               f"(0 to {self.encoding.tokenizer.n_vocab - 1})") from None

    def _error(self, token: int, problem: str) -> HarmonyError:
        shown = self.encoding.tokenizer.decode([token])
        return HarmonyError(f"token {len(self.tokens) - 1} (id {token}, {shown!r}) {problem}")
