"""The two built-in tools of gpt-oss, as the model saw them in training: ``browser`` and ``python``.

The wording is part of the prompt format (the model was trained on exactly these bytes), so it
is data here, checked token for token against ``openai_harmony`` by the conformance tests.
"""
from __future__ import annotations

from .types import ToolDescription, ToolNamespaceConfig

BROWSER_DESCRIPTION = """Tool for browsing.
The `cursor` appears in brackets before each browsing display: `[{cursor}]`.
Cite information from the tool using the following format:
`【{cursor}†L{line_start}(-L{line_end})?】`, for example: `【6†L9-L11】` or `【8†L3】`.
Do not quote more than 10 words directly from the tool output.
sources=web (default: web)"""

OPEN_DESCRIPTION = """Opens the link `id` from the page indicated by `cursor` starting at line number `loc`, showing `num_lines` lines.
Valid link ids are displayed with the formatting: `【{id}†.*】`.
If `cursor` is not provided, the most recent page is implied.
If `id` is a string, it is treated as a fully qualified URL associated with `source`.
If `loc` is not provided, the viewport will be positioned at the beginning of the document or centered on the most relevant passage, if available.
Use this function without `id` to scroll to a new location of an opened page."""

PYTHON_DESCRIPTION = (
    "Use this tool to execute Python code in your chain of thought. The code will not be shown to the user. "
    "This tool should be used for internal reasoning, but not for code that is intended to be visible to the user "
    "(e.g. when creating plots, tables, or files).\n\n"
    "When you send a message containing Python code to python, it will be executed in a stateful Jupyter notebook "
    "environment. python will respond with the output of the execution or time out after 120.0 seconds. "
    "The drive at '/mnt/data' can be used to save and persist user files. "
    "Internet access for this session is UNKNOWN. Depends on the cluster."
)


def _object(properties: dict, required: list[str] | None = None) -> dict:
    schema: dict = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def browser_namespace() -> ToolNamespaceConfig:
    """The ``browser`` namespace: ``search``, ``open`` and ``find``."""
    cursor = {"type": "number", "default": -1}
    search = ToolDescription.new(
        "search",
        "Searches for information related to `query` and displays `topn` results.",
        _object({"query": {"type": "string"}, "topn": {"type": "number", "default": 10}, "source": {"type": "string"}},
                ["query"]),
    )
    open_ = ToolDescription.new(
        "open",
        OPEN_DESCRIPTION,
        _object({
            "id": {"type": ["number", "string"], "default": -1},
            "cursor": cursor,
            "loc": {"type": "number", "default": -1},
            "num_lines": {"type": "number", "default": -1},
            "view_source": {"type": "boolean", "default": False},
            "source": {"type": "string"},
        }),
    )
    find = ToolDescription.new(
        "find",
        "Finds exact matches of `pattern` in the current page, or the page given by `cursor`.",
        _object({"pattern": {"type": "string"}, "cursor": cursor}, ["pattern"]),
    )
    return ToolNamespaceConfig(name="browser", description=BROWSER_DESCRIPTION, tools=[search, open_, find])


def python_namespace() -> ToolNamespaceConfig:
    """The ``python`` namespace: no functions, only a description (the model writes code to it)."""
    return ToolNamespaceConfig(name="python", description=PYTHON_DESCRIPTION, tools=[])
