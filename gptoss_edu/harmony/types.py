"""The harmony data model: roles, authors, contents, messages, conversations.

Plain dataclasses with the same names and builder methods as ``openai_harmony``, so a
learner can swap ``from openai_harmony import ...`` for ``from gptoss_edu.harmony import ...``.
As there, the ``with_*`` builders set the field on the object itself and return it, so
calls chain: ``Message.from_role_and_content(Role.ASSISTANT, "hi").with_channel("final")``.

``to_dict``/``to_json`` give the same dictionaries and JSON text as ``openai_harmony``'s, and
``from_dict``/``from_json`` read them back (contents, messages, conversations), so the two
libraries can exchange conversations. Where ``openai_harmony``'s pydantic models reject a value at
construction (a content where a message belongs), these raise ``HarmonyValidationError`` with
pydantic's wording.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class HarmonyError(RuntimeError):
    """A conversation that cannot be rendered, or tokens that do not parse as harmony."""


class HarmonyValidationError(HarmonyError, ValueError):
    """A value of the wrong kind given to a constructor (``openai_harmony`` raises pydantic's
    ``ValidationError``, a ``ValueError``, there; this is both a ``HarmonyError`` and a ``ValueError``)."""


class JsonMixin:
    """``to_json``/``from_json`` through ``to_dict``/``from_dict`` (``json.dumps`` defaults, as in ``openai_harmony``)."""

    def to_json(self) -> str:
        return json.dumps(self.to_dict())  # type: ignore[attr-defined]

    @classmethod
    def from_json(cls, payload: str) -> Any:
        return cls.from_dict(json.loads(payload))  # type: ignore[attr-defined]


class Role(StrEnum):
    """Who wrote a message. Tool results use ``Role.TOOL`` with the tool's name as author name."""

    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"
    DEVELOPER = "developer"
    TOOL = "tool"

    @classmethod
    def _missing_(cls, value: object) -> Role:
        raise ValueError(f"Unknown role: {value!r}")


class ReasoningEffort(StrEnum):
    """How long the model should think; rendered as ``Reasoning: low|medium|high``."""

    LOW = "Low"
    MEDIUM = "Medium"
    HIGH = "High"


@dataclass
class Author:
    """A role plus an optional name (a tool's author name is the tool, e.g. ``functions.get_weather``)."""

    role: Role
    name: str | None = None

    def __post_init__(self) -> None:
        self.role = Role(self.role)

    @classmethod
    def new(cls, role: Role, name: str) -> Author:
        return cls(role=role, name=name)


@dataclass
class TextContent(JsonMixin):
    """Plain text, rendered as is."""

    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise HarmonyValidationError(f"TextContent.text: Input should be a valid string, got {type(self.text).__name__}")

    def to_dict(self) -> dict[str, Any]:
        return {"type": "text", "text": self.text}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> TextContent:
        return cls(text=raw["text"])


@dataclass
class ToolDescription:
    """One callable tool: a name, a description and an optional JSON Schema for its argument."""

    name: str
    description: str
    parameters: dict | None = None

    def __post_init__(self) -> None:
        if self.parameters is not None and not isinstance(self.parameters, dict):
            raise HarmonyValidationError(f"ToolDescription {self.name!r}: parameters: Input should be a valid dictionary "
                                         f"(a JSON Schema object), got {type(self.parameters).__name__}")

    @classmethod
    def new(cls, name: str, description: str, parameters: dict | None = None) -> ToolDescription:
        return cls(name=name, description=description, parameters=parameters)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ToolDescription:
        return cls(name=raw["name"], description=raw["description"], parameters=raw.get("parameters"))


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

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ToolNamespaceConfig:
        return cls(name=raw["name"], description=raw.get("description"),
                   tools=[ToolDescription.from_dict(t) for t in raw["tools"]])


@dataclass
class ChannelConfig:
    """The channels the model may use and whether every assistant message must name one."""

    valid_channels: list[str]
    channel_required: bool

    @classmethod
    def require_channels(cls, channels: Sequence[str]) -> ChannelConfig:
        return cls(valid_channels=list(channels), channel_required=True)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ChannelConfig:
        return cls(valid_channels=list(raw["valid_channels"]), channel_required=raw["channel_required"])


def _dump(value: Any) -> Any:
    """Plain data, as pydantic's ``model_dump(exclude_none=True)``: fields that are None left out
    (inside user data such as a schema, None stays)."""
    if hasattr(value, "__dataclass_fields__"):
        return {f: _dump(v) for f in value.__dataclass_fields__ if (v := getattr(value, f)) is not None}
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_dump(v) for v in value]
    return value


def _namespaces(raw: Mapping[str, Any] | None) -> dict[str, ToolNamespaceConfig] | None:
    return None if raw is None else {name: ToolNamespaceConfig.from_dict(ns) for name, ns in raw.items()}


DEFAULT_IDENTITY = "You are ChatGPT, a large language model trained by OpenAI."
DEFAULT_KNOWLEDGE_CUTOFF = "2024-06"
DEFAULT_CHANNELS = ("analysis", "commentary", "final")


@dataclass
class SystemContent(JsonMixin):
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

    def to_dict(self) -> dict[str, Any]:
        return {**_dump(self), "type": "system_content"}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> SystemContent:
        """The fields present in ``raw`` (others keep their defaults; ``type`` is ignored)."""
        fields = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        if fields.get("reasoning_effort") is not None:
            fields["reasoning_effort"] = ReasoningEffort(fields["reasoning_effort"])
        if fields.get("channel_config") is not None:
            fields["channel_config"] = ChannelConfig.from_dict(fields["channel_config"])
        if "tools" in fields:
            fields["tools"] = _namespaces(fields["tools"])
        return cls(**fields)


@dataclass
class DeveloperContent(JsonMixin):
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

    def to_dict(self) -> dict[str, Any]:
        return {**_dump(self), "type": "developer_content"}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> DeveloperContent:
        return cls(instructions=raw.get("instructions"), tools=_namespaces(raw.get("tools")))


Content = TextContent | SystemContent | DeveloperContent
CONTENT_TYPES = {"text": TextContent, "system_content": SystemContent, "developer_content": DeveloperContent}


def _as_content(content: str | Content, where: str) -> Content:
    if isinstance(content, str):
        return TextContent(text=content)
    if isinstance(content, (TextContent, SystemContent, DeveloperContent)):
        return content
    raise HarmonyValidationError(f"{where}: Input should be a valid dictionary or instance of Content "
                                 f"(TextContent, SystemContent, DeveloperContent or a str), got {type(content).__name__}")


def content_from_dict(raw: Mapping[str, Any]) -> Content:
    """A content from its ``to_dict`` form, chosen by its ``type``."""
    kind = CONTENT_TYPES.get(raw.get("type")) if isinstance(raw, Mapping) else None
    if kind is None:
        raise ValueError(f"Unknown content variant: {raw}")
    return kind.from_dict(raw)


@dataclass
class Message(JsonMixin):
    """One harmony message: author, contents, and the optional channel, recipient and content type."""

    author: Author
    content: list[Content]
    channel: str | None = None
    recipient: str | None = None
    content_type: str | None = None

    @classmethod
    def from_author_and_content(cls, author: Author, content: str | Content) -> Message:
        return cls(author=author, content=[_as_content(content, "Message.content.0")])

    @classmethod
    def from_role_and_content(cls, role: Role, content: str | Content) -> Message:
        return cls.from_author_and_content(Author(role=role), content)

    @classmethod
    def from_role_and_contents(cls, role: Role, contents: Sequence[Content]) -> Message:
        return cls(author=Author(role=role), content=[_as_content(c, f"Message.content.{i}") for i, c in enumerate(contents)])

    def adding_content(self, content: str | Content) -> Message:
        self.content.append(_as_content(content, f"Message.content.{len(self.content)}"))
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
        """``{"role", "name", "content": [...]}`` plus the channel, recipient and content type when set."""
        out: dict[str, Any] = {"role": self.author.role, "name": self.author.name,
                               "content": [c.to_dict() for c in self.content]}
        for key in ("channel", "recipient", "content_type"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        """Read ``to_dict``'s form back; a plain string stands for one text content."""
        raw_content = data["content"]
        if isinstance(raw_content, str):
            raw_content = [{"type": "text", "text": raw_content}]
        return cls(author=Author(role=Role(data["role"]), name=data.get("name")),
                   content=[content_from_dict(raw) for raw in raw_content], channel=data.get("channel"),
                   recipient=data.get("recipient"), content_type=data.get("content_type"))


@dataclass
class Conversation(JsonMixin):
    """An ordered list of messages (a dictionary in ``Message.to_dict`` form is read as a message)."""

    messages: list[Message]

    def __post_init__(self) -> None:
        self.messages = [_as_message(m, i) for i, m in enumerate(self.messages)]

    @classmethod
    def from_messages(cls, messages: Sequence[Message]) -> Conversation:
        return cls(messages=list(messages))

    def __iter__(self) -> Iterator[Message]:
        return iter(self.messages)

    def to_dict(self) -> dict[str, Any]:
        return {"messages": [m.to_dict() for m in self.messages]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Conversation:
        return cls(messages=[Message.from_dict(m) for m in data["messages"]])


def _as_message(message: Message | Mapping[str, Any], index: int) -> Message:
    if isinstance(message, Message):
        return message
    if isinstance(message, Mapping):
        return Message.from_dict(message)
    raise HarmonyValidationError(f"Conversation.messages.{index}: Input should be a valid dictionary or instance of "
                                 f"Message, got {type(message).__name__}")


@dataclass
class RenderConversationConfig:
    """``auto_drop_analysis``: leave out earlier chain of thought once a final answer follows it."""

    auto_drop_analysis: bool = True


@dataclass
class RenderOptions:
    """``conversation_has_function_tools``: the system message then routes function calls to commentary."""

    conversation_has_function_tools: bool = False
