"""Harmony, the chat format of gpt-oss: rendering conversations to tokens and parsing them back.

The names mirror ``openai_harmony`` so that a learner can swap one import for the other::

    from gptoss_edu.harmony import (Conversation, DeveloperContent, HarmonyEncodingName, Message, Role,
                                    SystemContent, load_harmony_encoding)

    enc = load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)
    prompt = enc.render_conversation_for_completion(conversation, Role.ASSISTANT)

Modules: ``types`` (the data model), ``sections`` (system and developer message text),
``typescript`` (JSON Schema to the function signatures in the prompt), ``builtin_tools``
(browser and python), ``vocab`` (harmony's special tokens, encoding and decoding), ``encoding``
(rendering), ``header`` and ``parser`` (parsing, streaming, in linear time), ``html`` (a
coloured view of rendered tokens for notebooks).
"""
from .encoding import HarmonyEncoding, HarmonyEncodingName, load_harmony_encoding
from .html import render_tokens_html
from .parser import StreamableParser, StreamState
from .types import (
    Author,
    ChannelConfig,
    Conversation,
    DeveloperContent,
    HarmonyError,
    HarmonyValidationError,
    Message,
    ReasoningEffort,
    RenderConversationConfig,
    RenderOptions,
    Role,
    SystemContent,
    TextContent,
    ToolDescription,
    ToolNamespaceConfig,
)

__all__ = [
    "Author",
    "ChannelConfig",
    "Conversation",
    "DeveloperContent",
    "HarmonyEncoding",
    "HarmonyEncodingName",
    "HarmonyError",
    "HarmonyValidationError",
    "Message",
    "ReasoningEffort",
    "RenderConversationConfig",
    "RenderOptions",
    "Role",
    "StreamState",
    "StreamableParser",
    "SystemContent",
    "TextContent",
    "ToolDescription",
    "ToolNamespaceConfig",
    "load_harmony_encoding",
    "render_tokens_html",
]
