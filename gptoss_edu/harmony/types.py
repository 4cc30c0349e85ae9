"""The harmony data model: roles, authors, contents, messages, conversations.

Plain dataclasses with the same names and builder methods as ``openai_harmony``, so a
learner can swap ``from openai_harmony import ...`` for ``from gptoss_edu.harmony import ...``.
As there, the ``with_*`` builders set the field on the object itself and return it, so
calls chain: ``Message.from_role_and_content(Role.ASSISTANT, "hi").with_channel("final")``.

``to_dict`` gives the same dictionaries as ``openai_harmony``'s ``to_dict``, which is how the
conformance tests compare parsed messages between the two libraries.
"""
from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class HarmonyError(RuntimeError):
    """A conversation that cannot be rendered, or tokens that do not parse as harmony."""


class Role(Enum):
    """Who wrote a message. Tool results use ``Role.TOOL`` with the tool's name as author name."""

    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"
    DEVELOPER = "developer"
    TOOL = "tool"


class ReasoningEffort(Enum):
    """How long the model should think; rendered as ``Reasoning: low|medium|high``."""

    LOW = "Low"
    MEDIUM = "Medium"
    HIGH = "High"


@dataclass
class Author:
    """A role plus an optional name (a tool's author name is the tool, e.g. ``functions.get_weather``)."""

    role: Role
    name: str | None = None

    @classmethod
    def new(cls, role: Role, name: str) -> Author:
        return cls(role=role, name=name)


@dataclass
class TextContent:
    """Plain text, rendered as is."""

    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"type": "text", "text": self.text}


@dataclass
class ToolDescription:
    """One callable tool: a name, a description and an optional JSON Schema for its argument."""

    name: str
    description: str
    parameters: dict | None = None

    @classmethod
    def new(cls, name: str, description: str, parameters: dict | None = None) -> ToolDescription:
        return cls(name=name, description=description, parameters=parameters)


@dataclass
class ToolNamespaceConfig:
    """A namespace of tools (``functions``, ``browser``, ``python``), rendered as a ``## name`` section."""

    name: str
    description: str | None
    tools: list[ToolDescription]

    @staticmethod
    def browser() -> ToolNamespaceConfig:
        from .builtin_tools import browser_namespace

        return browser_namespace()

    @staticmethod
    def python() -> ToolNamespaceConfig:
        from .builtin_tools import python_namespace

        return python_namespace()


@dataclass
class ChannelConfig:
    """The channels the model may use and whether every assistant message must name one."""

    valid_channels: list[str]
    channel_required: bool

    @classmethod
    def require_channels(cls, channels: Sequence[str]) -> ChannelConfig:
        return cls(valid_channels=list(channels), channel_required=True)


DEFAULT_IDENTITY = "You are ChatGPT, a large language model trained by OpenAI."
DEFAULT_KNOWLEDGE_CUTOFF = "2024-06"
DEFAULT_CHANNELS = ("analysis", "commentary", "final")


@dataclass
class SystemContent:
    """The system message: identity, dates, reasoning effort, built-in tools, valid channels."""

    model_identity: str | None = DEFAULT_IDENTITY
    reasoning_effort: ReasoningEffort | None = ReasoningEffort.MEDIUM
    conversation_start_date: str | None = None
    knowledge_cutoff: str | None = DEFAULT_KNOWLEDGE_CUTOFF
    channel_config: ChannelConfig | None = field(default_factory=lambda: ChannelConfig.require_channels(DEFAULT_CHANNELS))
    tools: dict[str, ToolNamespaceConfig] | None = None

    @classmethod
    def new(cls) -> SystemContent:
        return cls()

    def with_model_identity(self, model_identity: str) -> SystemContent:
        self.model_identity = model_identity
        return self

    def with_reasoning_effort(self, reasoning_effort: ReasoningEffort) -> SystemContent:
        self.reasoning_effort = reasoning_effort
        return self

    def with_conversation_start_date(self, conversation_start_date: str) -> SystemContent:
        self.conversation_start_date = conversation_start_date
        return self

    def with_knowledge_cutoff(self, knowledge_cutoff: str) -> SystemContent:
        self.knowledge_cutoff = knowledge_cutoff
        return self

    def with_channel_config(self, channel_config: ChannelConfig) -> SystemContent:
        self.channel_config = channel_config
        return self

    def with_required_channels(self, channels: Sequence[str]) -> SystemContent:
        return self.with_channel_config(ChannelConfig.require_channels(channels))

    def with_tools(self, ns_config: ToolNamespaceConfig) -> SystemContent:
        self.tools = {**(self.tools or {}), ns_config.name: ns_config}
        return self

    def with_browser_tool(self) -> SystemContent:
        return self.with_tools(ToolNamespaceConfig.browser())

    def with_python_tool(self) -> SystemContent:
        return self.with_tools(ToolNamespaceConfig.python())


@dataclass
class DeveloperContent:
    """The developer message: instructions and the function tools the model may call."""

    instructions: str | None = None
    tools: dict[str, ToolNamespaceConfig] | None = None

    @classmethod
    def new(cls) -> DeveloperContent:
        return cls()

    def with_instructions(self, instructions: str) -> DeveloperContent:
        self.instructions = instructions
        return self

    def with_tools(self, ns_config: ToolNamespaceConfig) -> DeveloperContent:
        self.tools = {**(self.tools or {}), ns_config.name: ns_config}
        return self

    def with_function_tools(self, tools: Sequence[ToolDescription]) -> DeveloperContent:
        return self.with_tools(ToolNamespaceConfig(name="functions", description=None, tools=list(tools)))


Content = TextContent | SystemContent | DeveloperContent


def _as_content(content: str | Content) -> Content:
    if isinstance(content, str):
        return TextContent(text=content)
    if isinstance(content, (TextContent, SystemContent, DeveloperContent)):
        return content
    raise HarmonyError(f"message content must be a str, TextContent, SystemContent or DeveloperContent, got {type(content).__name__}")


@dataclass
class Message:
    """One harmony message: author, contents, and the optional channel, recipient and content type."""

    author: Author
    content: list[Content]
    channel: str | None = None
    recipient: str | None = None
    content_type: str | None = None

    @classmethod
    def from_author_and_content(cls, author: Author, content: str | Content) -> Message:
        return cls(author=author, content=[_as_content(content)])

    @classmethod
    def from_role_and_content(cls, role: Role, content: str | Content) -> Message:
        return cls.from_author_and_content(Author(role=role), content)

    @classmethod
    def from_role_and_contents(cls, role: Role, contents: Sequence[Content]) -> Message:
        return cls(author=Author(role=role), content=[_as_content(c) for c in contents])

    def adding_content(self, content: str | Content) -> Message:
        self.content.append(_as_content(content))
        return self

    def with_channel(self, channel: str) -> Message:
        self.channel = channel
        return self

    def with_recipient(self, recipient: str) -> Message:
        self.recipient = recipient
        return self

    def with_content_type(self, content_type: str) -> Message:
        self.content_type = content_type
        return self

    def text(self) -> str:
        """The concatenated text of the message's ``TextContent`` parts."""
        return "".join(c.text for c in self.content if isinstance(c, TextContent))

    def to_dict(self) -> dict[str, Any]:
        """Same layout as ``openai_harmony.Message.to_dict`` for text messages (used to compare parses)."""
        out: dict[str, Any] = {"role": self.author.role, "name": self.author.name}
        out["content"] = [c.to_dict() if isinstance(c, TextContent) else copy.deepcopy(c) for c in self.content]
        for key in ("channel", "recipient", "content_type"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass
class Conversation:
    """An ordered list of messages."""

    messages: list[Message]

    @classmethod
    def from_messages(cls, messages: Sequence[Message]) -> Conversation:
        return cls(messages=list(messages))


@dataclass
class RenderConversationConfig:
    """``auto_drop_analysis``: leave out earlier chain of thought once a final answer follows it."""

    auto_drop_analysis: bool = True


@dataclass
class RenderOptions:
    """``conversation_has_function_tools``: the system message then routes function calls to commentary."""

    conversation_has_function_tools: bool = False
