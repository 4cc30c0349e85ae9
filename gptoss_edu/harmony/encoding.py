"""Harmony rendering on the from-scratch tokenizer: messages and conversations to token ids.

One message is::

    <|start|>{author}[ to={recipient}][<|channel|>{channel}][ {content type}]<|message|>{content}{end}

where ``{author}`` is the role (``user``), ``role:name`` for a named author, or the tool's name
for a tool result (``functions.get_weather``); the recipient ``all`` (everyone) is not written;
``{end}`` is ``<|call|>`` for an assistant message with a recipient (a tool call), else
``<|end|>``, and ``<|return|>`` for the final answer that closes a training example. Every text
piece is encoded as ordinary text (a ``<|end|>`` typed by a user stays seven characters), except
``<|constrain|>`` at the start of a content type. Tokens are decoded with harmony's own table of
special tokens (:mod:`gptoss_edu.harmony.vocab`); errors are ``HarmonyError`` with
``openai_harmony``'s messages.

Conversations add one rule: once the last assistant message is a final answer, analysis
messages before the first final answer are dropped (chain of thought is not kept in history).
"""
from __future__ import annotations

from collections.abc import Collection, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Literal

from .header import CONSTRAIN_MARKER
from .parser import StreamableParser
from .sections import developer_text, has_function_tools, system_text
from .types import (
    Content,
    Conversation,
    DeveloperContent,
    HarmonyError,
    HarmonyValidationError,
    Message,
    RenderConversationConfig,
    RenderOptions,
    Role,
    SystemContent,
    TextContent,
)
from .vocab import HarmonyVocab

if TYPE_CHECKING:
    from gptoss_edu.tokenizer import Tokenizer


class HarmonyEncodingName(StrEnum):
    HARMONY_GPT_OSS = "HarmonyGptOss"


@dataclass(frozen=True)
class SpecialIds:
    """The ids of the harmony control tokens in a tokenizer."""

    start: int
    end: int
    message: int
    channel: int
    constrain: int
    call: int
    return_: int

    @property
    def message_ends(self) -> frozenset[int]:
        return frozenset((self.end, self.return_, self.call))


class HarmonyEncoding:
    """Renders and parses harmony on a tiktoken-compatible tokenizer (ours by default)."""

    def __init__(self, tokenizer: Tokenizer, name: str = HarmonyEncodingName.HARMONY_GPT_OSS.value) -> None:
        self.tokenizer = tokenizer
        self.name = name

    @cached_property
    def vocab(self) -> HarmonyVocab:
        """Harmony's token table (its special tokens differ a little from the tokenizer's)."""
        return HarmonyVocab(self.tokenizer)

    @cached_property
    def special(self) -> SpecialIds:
        ids = {name: self.vocab.special_tokens[f"<|{name}|>"]
               for name in ("start", "end", "message", "channel", "constrain", "call", "return")}
        return SpecialIds(return_=ids.pop("return"), **ids)

    @cached_property
    def special_tokens_set(self) -> set[str]:
        """The names of all special tokens, ``<|start|>`` to ``<|reserved_201088|>``."""
        return set(self.vocab.special_tokens)

    # -- tokens and text ------------------------------------------------------------------------

    def encode(self, text: str, *, allowed_special: Literal["all"] | AbstractSet[str] = frozenset(),
               disallowed_special: Literal["all"] | Collection[str] = "all") -> list[int]:
        """Token ids of ``text``; tiktoken's rules for text that spells a special token (by default
        it raises ``HarmonyError``; ``allowed_special`` makes it the token, ``disallowed_special=()`` plain text)."""
        return self.vocab.encode(text, allowed_special=allowed_special, disallowed_special=disallowed_special)

    def decode(self, tokens: Sequence[int], errors: str = "replace") -> str:
        """The text of ``tokens``; invalid UTF-8 handled by ``errors`` (``"replace"``: U+FFFD)."""
        return self.vocab.decode_bytes(tokens).decode("utf-8", errors=errors)

    def decode_utf8(self, tokens: Sequence[int]) -> str:
        """The text of ``tokens``, raising ``HarmonyError`` for an unknown id or invalid UTF-8."""
        return self.vocab.decode_utf8(tokens)

    def is_special_token(self, token: int) -> bool:
        return token in self.vocab.special_ids

    def stop_tokens(self) -> list[int]:
        """Tokens that end generation (sorted): a finished answer, a finished message, a tool call."""
        return sorted([self.special.call, self.special.end, self.special.return_])

    def stop_tokens_for_assistant_actions(self) -> list[int]:
        """Tokens after which the assistant hands over (sorted): the final answer or a tool call."""
        return sorted([self.special.return_, self.special.call])

    # -- rendering ----------------------------------------------------------------------------

    def render(self, message: Message, render_options: RenderOptions | None = None) -> list[int]:
        """One message, closed with ``<|call|>`` for an assistant tool call and ``<|end|>`` otherwise."""
        options = render_options or RenderOptions()
        return self._render_message(message, options.conversation_has_function_tools, final_return=False)

    def render_conversation(self, conversation: Conversation, config: RenderConversationConfig | None = None) -> list[int]:
        """All messages, as they go into the model's context (earlier analysis dropped, see module doc)."""
        return self._render_messages(conversation, config, final_return=False)

    def render_conversation_for_completion(self, conversation: Conversation, next_turn_role: Role,
                                           config: RenderConversationConfig | None = None) -> list[int]:
        """The prompt for the next turn: the conversation, then ``<|start|>`` and the next role."""
        prompt = self.render_conversation(conversation, config)
        return prompt + [self.special.start] + self.tokenizer.encode_ordinary(Role(next_turn_role).value)

    def render_conversation_for_training(self, conversation: Conversation,
                                         config: RenderConversationConfig | None = None) -> list[int]:
        """Like ``render_conversation``, but a closing final answer ends with ``<|return|>``."""
        return self._render_messages(conversation, config, final_return=True)

    def _render_messages(self, conversation: Conversation, config: RenderConversationConfig | None,
                         final_return: bool) -> list[int]:
        config = config or RenderConversationConfig()
        messages = conversation.messages
        with_functions = any(
            isinstance(c, DeveloperContent) and has_function_tools(c) for m in messages for c in m.content
        )
        drop_before = _analysis_dropped_before(messages) if config.auto_drop_analysis else 0
        kept = [m for i, m in enumerate(messages) if not (i < drop_before and m.channel == "analysis")]
        tokens: list[int] = []
        for i, message in enumerate(kept):
            tokens += self._render_message(message, with_functions, final_return and i == len(kept) - 1)
        return tokens

    def _render_message(self, message: Message, has_functions: bool, final_return: bool) -> list[int]:
        _check_header_fields(message)
        return self._header_tokens(message) + self._content_tokens(message, has_functions) + [self._end_token(message, final_return)]

    def _header_tokens(self, message: Message) -> list[int]:
        encode, special = self.tokenizer.encode_ordinary, self.special
        tokens = [special.start] + encode(author_text(message))
        if message.author.role is not Role.TOOL and message.author.name is not None:
            tokens += encode(f":{message.author.name}")
        if message.recipient is not None and message.recipient != "all":  # "all" is everyone: no recipient
            tokens += encode(f" to={message.recipient}")
        if message.channel is not None:
            tokens += [special.channel] + encode(message.channel)
        if message.content_type is not None:
            tokens += self._content_type_tokens(message.content_type)
        return tokens + [special.message]

    def _content_type_tokens(self, content_type: str) -> list[int]:
        """A space and the content type, as text, except a leading ``<|constrain|>`` (the control token)."""
        encode = self.tokenizer.encode_ordinary
        if content_type.startswith(CONSTRAIN_MARKER):
            return encode(" ") + [self.special.constrain] + encode(content_type.removeprefix(CONSTRAIN_MARKER))
        return encode(" " + content_type)

    def _content_tokens(self, message: Message, has_functions: bool) -> list[int]:
        tokens: list[int] = []
        for content in message.content:
            tokens += self.tokenizer.encode_ordinary(content_text(message, content, has_functions))
        return tokens

    def _end_token(self, message: Message, final_return: bool) -> int:
        if message.author.role is not Role.ASSISTANT:
            return self.special.end
        if final_return and message.channel == "final":
            return self.special.return_
        return self.special.call if message.recipient is not None else self.special.end

    # -- parsing ------------------------------------------------------------------------------

    def parse_messages_from_completion_tokens(self, tokens: Sequence[int], role: Role | None = None, *,
                                              strict: bool = True) -> list[Message]:
        """Messages in a completion; ``role`` is the role of the first one when its ``<|start|>role`` was in the prompt."""
        parser = StreamableParser(self, role, strict=strict)
        for token in tokens:
            parser.process(token)
        return parser.process_eos().messages


def _analysis_dropped_before(messages: Sequence[Message]) -> int:
    """Analysis messages before this index go: the first final answer's index, once the last
    assistant message is a final answer (else 0: nothing goes)."""
    last_assistant = next((m for m in reversed(messages) if m.author.role is Role.ASSISTANT), None)
    if last_assistant is None or last_assistant.channel != "final":
        return 0
    return next(i for i, m in enumerate(messages) if m.channel == "final")


def _check_header_fields(message: Message) -> None:
    """The author's name, channel, recipient and content type are text (or None)."""
    fields = {"author.name": message.author.name, "channel": message.channel, "recipient": message.recipient,
              "content_type": message.content_type}
    for field, value in fields.items():
        if value is not None and not isinstance(value, str):
            raise HarmonyValidationError(f"message {field} must be a str or None, got {type(value).__name__} {value!r}")


def author_text(message: Message) -> str:
    """The role (a name follows as ``:name``), or the bare name for a tool (its name says which tool answered)."""
    author = message.author
    if author.role is Role.TOOL:
        if author.name is None:
            raise HarmonyError("Tools should have a name! (e.g. Author.new(Role.TOOL, 'functions.get_weather'))")
        return author.name
    return author.role.value


def content_text(message: Message, content: Content, has_functions: bool) -> str:
    """The text of one content part; system and developer contents only belong in their own messages."""
    role = message.author.role
    if isinstance(content, TextContent):
        return content.text
    if isinstance(content, SystemContent):
        if role is not Role.SYSTEM:
            raise HarmonyError(f"SystemContent may only appear in system messages, found in {role.name.title()}")
        return system_text(content, has_functions)
    if isinstance(content, DeveloperContent):
        if role is not Role.DEVELOPER:
            raise HarmonyError(f"DeveloperContent may only appear in developer messages, found in {role.name.title()}")
        return developer_text(content)
    raise HarmonyError(f"unknown content type {type(content).__name__} in a {role.value} message")


def load_harmony_encoding(name: HarmonyEncodingName | str = HarmonyEncodingName.HARMONY_GPT_OSS) -> HarmonyEncoding:
    """The gpt-oss harmony encoding on our from-scratch o200k_harmony tokenizer."""
    if str(name) != HarmonyEncodingName.HARMONY_GPT_OSS.value:
        raise HarmonyValidationError(f"Invalid HarmonyEncodingName: {name}")
    from gptoss_edu.tokenizer import o200k_harmony

    return HarmonyEncoding(o200k_harmony())
