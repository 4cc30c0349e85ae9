"""The text inside system and developer messages: the sections the model was trained on.

System message, sections joined by a blank line::

    You are ChatGPT, a large language model trained by OpenAI.   (identity, cutoff, date:
    Knowledge cutoff: 2024-06                                      one block, one per line)
    Current date: 2025-06-28

    Reasoning: high

    # Tools                                                        (built-in tools, if any)
    ...

    # Valid channels: analysis, commentary, final. Channel must be included for every message.
    Calls to these tools must go to the commentary channel: 'functions'.   (only with function tools)

Developer message: ``# Instructions`` then the developer's text, and ``# Tools`` with the
``functions`` namespace rendered by :mod:`gptoss_edu.harmony.typescript`.
"""
from __future__ import annotations

from .types import DeveloperContent, SystemContent, ToolDescription, ToolNamespaceConfig
from .typescript import function_signature

FUNCTION_CALLS_LINE = "Calls to these tools must go to the commentary channel: 'functions'."


def system_text(content: SystemContent, has_function_tools: bool) -> str:
    """The body of a system message; ``has_function_tools`` adds the commentary-channel line."""
    facts = [
        content.model_identity,
        content.knowledge_cutoff and f"Knowledge cutoff: {content.knowledge_cutoff}",
        content.conversation_start_date and f"Current date: {content.conversation_start_date}",
    ]
    sections = [
        "\n".join(line for line in facts if line),
        content.reasoning_effort and f"Reasoning: {content.reasoning_effort.value.lower()}",
        content.tools and tools_section(content.tools),
        _channels_section(content, has_function_tools),
    ]
    return "\n\n".join(s for s in sections if s)


def _channels_section(content: SystemContent, has_function_tools: bool) -> str | None:
    config = content.channel_config
    if config is None or not config.valid_channels:
        return None
    line = f"# Valid channels: {', '.join(config.valid_channels)}."
    if config.channel_required:
        line += " Channel must be included for every message."
    if has_function_tools:
        line += "\n" + FUNCTION_CALLS_LINE
    return line


def developer_text(content: DeveloperContent) -> str:
    """The body of a developer message: instructions, then the tool namespaces."""
    sections = []
    if content.instructions is not None:
        sections.append(f"# Instructions\n\n{content.instructions}")
    if content.tools:
        sections.append(tools_section(content.tools))
    return "\n\n".join(sections)


def tools_section(namespaces: dict[str, ToolNamespaceConfig]) -> str:
    """``# Tools`` and one ``## name`` section per namespace, in alphabetical order of name."""
    return "# Tools\n\n" + "\n\n".join(namespace_text(namespaces[name]) for name in sorted(namespaces))


def namespace_text(namespace: ToolNamespaceConfig) -> str:
    """A namespace: its description (as comments when it has tools), then ``namespace x { ... }``."""
    text = f"## {namespace.name}\n"
    if namespace.description:
        described = _comment(namespace.description) if namespace.tools else namespace.description
        text += "\n" + described
    if namespace.tools:
        body = "".join(tool_text(tool) + "\n\n" for tool in namespace.tools)
        text += f"\nnamespace {namespace.name} {{\n\n{body}}} // namespace {namespace.name}"
    return text


def tool_text(tool: ToolDescription) -> str:
    """``// description`` lines and ``type name = (_: {...}) => any;``."""
    comment = _comment(tool.description) + "\n" if tool.description else ""
    return f"{comment}type {tool.name} = {function_signature(tool.parameters)};"


def _comment(text: str) -> str:
    return "\n".join(f"// {line}" for line in text.split("\n"))


def has_function_tools(content: DeveloperContent) -> bool:
    """Whether a developer message declares at least one tool in the ``functions`` namespace."""
    namespace = (content.tools or {}).get("functions")
    return bool(namespace and namespace.tools)
