"""Read a function's summary and per-argument descriptions from its docstring.

Two common layouts are understood:

* Google style: a section header ``Args:`` (or ``Arguments:``, ``Parameters:``,
  ``Attributes:``) followed by indented ``name (type): text`` entries, continuation
  lines indented deeper.
* NumPy style: a header ``Parameters`` (or ``Attributes``) underlined with dashes,
  followed by ``name : type`` lines and indented description lines.

The summary is everything before the first section header (``Returns:``,
``Raises:``, ... also end it). Descriptions are joined into one line because the
harmony TypeScript rendering prints each description as ``// ...`` comments.
"""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

_ARG_SECTIONS = {"args", "arguments", "parameters", "params", "attributes", "keyword args", "keyword arguments"}
_GOOGLE_HEADER = re.compile(r"^\s*([A-Za-z][A-Za-z ]*):\s*$")
_GOOGLE_ENTRY = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?:\s*(.*)$")
_NUMPY_ENTRY = re.compile(r"^(\*{0,2}\w+)(?:\s+:.*)?$")


@dataclass
class Docstring:
    """A parsed docstring: one summary text and a description per argument name."""

    summary: str = ""
    arguments: dict[str, str] = field(default_factory=dict)


def parse_docstring(doc: str | None) -> Docstring:
    """Split ``doc`` into a summary and argument descriptions (Google or NumPy style)."""
    lines = inspect.cleandoc(doc or "").splitlines()
    summary: list[str] = []
    arguments: dict[str, str] = {}
    i = 0
    in_summary = True
    while i < len(lines):
        header = _section_header(lines, i)
        if header is None:
            if in_summary:
                summary.append(lines[i])
            i += 1
            continue
        name, body_start = header
        in_summary = False
        body, i = _section_body(lines, body_start)
        if name in _ARG_SECTIONS:
            arguments.update(_parse_entries(body))
    return Docstring(summary="\n".join(summary).strip(), arguments=arguments)


def one_line(text: str) -> str:
    """Collapse all runs of whitespace (newlines included) into single spaces."""
    return " ".join(text.split())


def _section_header(lines: list[str], i: int) -> tuple[str, int] | None:
    """``(section name, first body line)`` if line ``i`` starts a Google or NumPy section."""
    line = lines[i]
    if line[:1].isspace():
        return None
    google = _GOOGLE_HEADER.match(line)
    if google:
        return google.group(1).strip().lower(), i + 1
    underline = lines[i + 1].strip() if i + 1 < len(lines) else ""
    if line.strip() and underline and set(underline) == {"-"}:
        return line.strip().lower(), i + 2
    return None


def _section_body(lines: list[str], start: int) -> tuple[list[str], int]:
    """Lines of a section up to the next section header; returns them and the next index."""
    end = start
    while end < len(lines) and _section_header(lines, end) is None:
        end += 1
    return lines[start:end], end


def _parse_entries(body: list[str]) -> dict[str, str]:
    """Argument entries of one section body: the least-indented lines start entries."""
    indents = [len(line) - len(line.lstrip()) for line in body if line.strip()]
    if not indents:
        return {}
    entry_indent = min(indents)
    entries: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in body:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        start = _entry_start(line.strip()) if indent == entry_indent else None
        if start is not None:
            name, first_text = start
            current = entries.setdefault(name.lstrip("*"), [])
            if first_text:
                current.append(first_text)
        elif current is not None:
            current.append(line.strip())
    return {name: one_line(" ".join(parts)) for name, parts in entries.items()}


def _entry_start(text: str) -> tuple[str, str] | None:
    """``(name, text after the colon)`` of an entry line, or None for a stray line.

    NumPy entries are ``name`` or ``name : type`` (their text follows on indented lines);
    Google entries are ``name: text`` or ``name (type): text``.
    """
    numpy = _NUMPY_ENTRY.match(text)
    if numpy:
        return numpy.group(1), ""
    google = _GOOGLE_ENTRY.match(text)
    if google:
        return google.group(1), google.group(2).strip()
    return None
