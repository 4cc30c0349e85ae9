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

from .types import DeveloperContent, ReasoningEffort, SystemContent, ToolNamespaceConfig
from .typescript import check_json_numbers, function_signature

FUNCTION_CALLS_LINE = "Calls to these tools must go to the commentary channel: 'functions'."


def system_text(content: SystemContent, has_function_tools: bool) -> str:
    """The body of a system message; ``has_function_tools`` adds the commentary-channel line.

    A field that is set is shown even when empty (``model_identity=""`` leaves an empty line).
    """
    facts = [
        content.model_identity,
        None if content.knowledge_cutoff is None else f"Knowledge cutoff: {content.knowledge_cutoff}",
        None if content.conversation_start_date is None else f"Current date: {content.conversation_start_date}",
    ]
    shown = [line for line in facts if line is not None]
    effort = content.reasoning_effort
    sections = [
        "\n".join(shown) if shown else None,
        None if effort is None else f"Reasoning: {ReasoningEffort(effort).value.lower()}",
        tools_section(content.tools) if content.tools else None,
        _channels_section(content, has_function_tools),
    ]
    return "\n\n".join(s for s in sections if s is not None)


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
    lines = [f"## {namespace.name}\n"]
    commented = bool(namespace.tools)
    lines += [f"// {line}" if commented else line for line in text_lines(namespace.description or "")]
    if namespace.tools:
        lines.append(f"namespace {namespace.name} {{\n")
        for tool in namespace.tools:
            check_json_numbers(tool.parameters, tool.name)
            lines += [f"// {line}" for line in text_lines(tool.description)]
            lines.append(f"type {tool.name} = {function_signature(tool.parameters)};\n")
        lines.append(f"}} // namespace {namespace.name}")
    return "\n".join(lines)


def text_lines(text: str) -> list[str]:
    """Lines as Rust's ``str::lines`` gives them: split at ``\\n``, a ``\\r`` before it dropped, no empty
    last line for a trailing newline (so ``""`` has no lines)."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def has_function_tools(content: DeveloperContent) -> bool:
    """Whether a developer message declares at least one tool in the ``functions`` namespace."""
    namespace = (content.tools or {}).get("functions")
    return bool(namespace and namespace.tools)
