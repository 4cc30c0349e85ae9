"""An offline ``browser`` tool: search, open and find over a :class:`~gptoss_edu.agent.corpus.Corpus`.

It follows the contract harmony's browser section states to the model (rendered by
``SystemContent.with_browser_tool()``):

* every display gets a new ``cursor`` and starts with ``[{cursor}]``;
* displayed lines are numbered ``L{n}:`` (from 0), and the model cites them as
  ``【{cursor}†L{start}-L{end}】`` or ``【{cursor}†L{line}】``;
* links in a display look like ``【{id}†{text}】``; ``open(id=..., cursor=...)``
  follows one, ``open(id="url")`` opens a document directly, ``open()`` without
  ``id`` scrolls the current page to ``loc``;
* ``find(pattern)`` lists exact (case-insensitive) matches as links into the page.

Markdown links ``[text](target)`` in documents become browser links (found by a pattern that
cannot backtrack across brackets, so hostile documents cost linear time); long lines are
wrapped so line citations stay precise. Nothing the model sends is echoed unbounded: string
arguments are limited to :data:`MAX_ARGUMENT_CHARS`, and queries, patterns and snippets shown
in a display are clipped. :func:`parse_citations` and
:meth:`Browser.quote` turn an answer's citations back into the cited lines.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

from gptoss_edu.agent.corpus import Corpus, Document
from gptoss_edu.agent.functions import ToolCallError
from gptoss_edu.agent.validate import ArgumentError, check_arguments, decode_arguments
from gptoss_edu.harmony import DeveloperContent, SystemContent, ToolNamespaceConfig

CITATION = re.compile(r"【(\d+)†L(\d+)(?:-L(\d+))?】")
_MARKDOWN_LINK = re.compile(r"\[([^\[\]\n]+)\]\(([^()\s]+)\)")  # no class can run past the next bracket
_WRAP = 100
MAX_ARGUMENT_CHARS = 2000
_ECHO_CHARS = 100
_SNIPPET_CHARS = 300



def browser_schemas() -> dict[str, dict]:
    """Harmony's argument schemas of ``search``/``open``/``find``, closed, with whole numbers for ids and lines."""
    schemas = {}
    for tool in ToolNamespaceConfig.browser().tools:
        schema = copy.deepcopy(tool.parameters)
        schema["additionalProperties"] = False
        for item in schema["properties"].values():
            kinds = [item["type"]] if isinstance(item["type"], str) else item["type"]
            item["type"] = [kind.replace("number", "integer") for kind in kinds]
        schemas[tool.name] = schema
    return schemas


@dataclass(frozen=True)
class Citation:
    """``【cursor†Lstart-Lend】``: lines ``start`` to ``end`` (inclusive) of the display ``cursor``."""

    cursor: int
    start: int
    end: int

    def __str__(self) -> str:
        lines = f"L{self.start}" if self.start == self.end else f"L{self.start}-L{self.end}"
        return f"【{self.cursor}†{lines}】"


def parse_citations(text: str) -> list[Citation]:
    """Every citation in ``text``, in order of appearance."""
    return [Citation(int(cursor), int(start), int(end or start)) for cursor, start, end in CITATION.findall(text)]


def clip(text: str, limit: int = _ECHO_CHARS) -> str:
    """``text`` shortened to ``limit`` characters with an ellipsis, for echoing model input or long lines."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


@dataclass(frozen=True)
class Link:
    """Where a link points: a url and the line to position the viewport at (-1: default)."""

    url: str
    loc: int = -1


@dataclass
class Page:
    """A displayable page: numbered lines and the links their ``【id†text】`` markers refer to."""

    url: str
    title: str
    lines: list[str]
    links: list[Link] = field(default_factory=list)


def document_page(document: Document, view_source: bool = False) -> Page:
    """A document as a page: Markdown links turned into numbered browser links, long lines wrapped."""
    links: list[Link] = []

    def to_marker(match: re.Match) -> str:
        links.append(Link(match.group(2)))
        return f"【{len(links) - 1}†{match.group(1)}】"

    text = document.text if view_source else _MARKDOWN_LINK.sub(to_marker, document.text)
    return Page(document.url, document.title, wrap_lines(text), links)


def wrap_lines(text: str, width: int = _WRAP) -> list[str]:
    """Split into lines, wrapping any longer than ``width`` at spaces (blank lines and indentation kept).

    Greedy and linear in the length of the line; a word longer than ``width`` gets a line of its own.
    """
    lines: list[str] = []
    for line in text.splitlines():
        if len(line) <= width:
            lines.append(line.rstrip())
            continue
        current = line[:len(line) - len(line.lstrip())]  # the first line keeps its indentation
        for word in line.split():
            if current.strip() and len(current) + 1 + len(word) > width:
                lines.append(current)
                current = word
            else:
                current = f"{current} {word}" if current.strip() else current + word
        lines.append(current)
    return lines


class Browser:
    """The ``browser`` tool namespace over a corpus; ``browser(function, payload) -> display text``."""

    namespace = "browser"

    def __init__(self, corpus: Corpus, view_lines: int = 40):
        self.corpus = corpus
        self.view_lines = view_lines
        self.displays: list[tuple[Page, int, int]] = []  # cursor -> (page, first line, last line shown)

    def add_to_prompt(self, system: SystemContent, developer: DeveloperContent) -> None:
        """Declare harmony's standard ``## browser`` section in the system message."""
        system.with_browser_tool()

    def __call__(self, name: str, payload: str) -> str:
        """Dispatch ``browser.search`` / ``browser.open`` / ``browser.find`` with JSON arguments."""
        schemas = browser_schemas()
        if name not in schemas:
            raise ToolCallError(f"unknown function browser.{name}; available: browser.search, browser.open, browser.find")
        try:
            arguments = decode_arguments(payload)
            check_arguments(arguments, schemas[name])
        except (ValueError, ArgumentError) as error:
            raise ToolCallError(f"invalid arguments for browser.{name}: {error}") from error
        for key, value in arguments.items():
            if isinstance(value, str) and len(value) > MAX_ARGUMENT_CHARS:
                raise ToolCallError(f"invalid arguments for browser.{name}: {key} is {len(value)} characters long "
                                    f"(at most {MAX_ARGUMENT_CHARS})")
        whole = {key: int(value) if isinstance(value, float) else value for key, value in arguments.items()}
        return getattr(self, name)(**whole)

    def search(self, query: str, topn: int = 10, source: str | None = None) -> str:
        """Rank the corpus for ``query`` and display the results as links."""
        hits = self.corpus.search(query, topn)
        lines, links = [], []
        for hit in hits:
            lines += [f"* 【{len(links)}†{clip(hit.document.title)}†{hit.document.url}】",
                      f"  {clip(hit.snippet, _SNIPPET_CHARS)}"]
            links.append(Link(hit.document.url))
        if not hits:
            lines = [f"No results for `{clip(query)}`."]
        return self._display(Page(f"search:{clip(query)}", f"Search results for `{clip(query)}`", lines, links), 0)

    def open(self, id: int | str = -1, cursor: int = -1, loc: int = -1, num_lines: int = -1,
             view_source: bool = False, source: str | None = None) -> str:
        """Follow link ``id`` of display ``cursor``, open a url, or scroll the current page to ``loc``."""
        if isinstance(id, str):
            page = self._page_at_url(id, view_source)
        elif id >= 0:
            link = self._link(cursor, id)
            page = self._page_at_url(link.url, view_source)
            loc = link.loc if loc < 0 else loc
        else:
            page = self._display_at(cursor)[0]
        return self._display(page, max(loc, 0), num_lines)

    def find(self, pattern: str, cursor: int = -1) -> str:
        """Display every line of page ``cursor`` that contains ``pattern`` (case-insensitive) as a link."""
        page = self._display_at(cursor)[0]
        lines, links = [], []
        for number, line in enumerate(page.lines):
            if pattern.lower() in line.lower():
                lines += [f"* 【{len(links)}†match at L{number}】", f"  {clip(line.strip(), _SNIPPET_CHARS)}"]
                links.append(Link(page.url, number))
        if not links:
            lines = [f"No matches for `{clip(pattern)}`."]
        shown = clip(pattern)
        return self._display(Page(f"{page.url}#find={shown}", f"Find results for `{shown}` in `{clip(page.title)}`",
                                  lines, links), 0)

    def quote(self, citation: Citation) -> str:
        """The lines a citation points at, joined by newlines (raises if it points outside the display)."""
        page, first, last = self._display_at(citation.cursor)
        if not first <= citation.start <= citation.end <= last:
            raise ValueError(f"citation {citation} is outside the lines L{first}-L{last} shown at cursor {citation.cursor}")
        return "\n".join(page.lines[citation.start:citation.end + 1])

    def _display(self, page: Page, loc: int, num_lines: int = -1) -> str:
        """Record a new cursor for ``page`` from line ``loc`` and render what the model sees."""
        count = self.view_lines if num_lines <= 0 else num_lines
        first = min(loc, max(len(page.lines) - 1, 0))
        last = min(first + count, len(page.lines)) - 1
        self.displays.append((page, first, last))
        cursor = len(self.displays) - 1
        header = [f"[{cursor}] {page.title}", f"({page.url})", f"**viewing lines [{first} - {last}] of {len(page.lines) - 1}**", ""]
        body = [f"L{number}: {page.lines[number]}" for number in range(first, last + 1)]
        return "\n".join(header + body)

    def _display_at(self, cursor: int) -> tuple[Page, int, int]:
        """The display at ``cursor`` (-1: the latest)."""
        if not self.displays:
            raise ToolCallError("no page is open yet; call browser.search or browser.open with an id first")
        if cursor >= len(self.displays) or cursor < -1:
            raise ToolCallError(f"no display with cursor {cursor}; valid cursors are 0 to {len(self.displays) - 1}")
        return self.displays[cursor]

    def _link(self, cursor: int, link_id: int) -> Link:
        """Link ``link_id`` of display ``cursor``."""
        page = self._display_at(cursor)[0]
        if link_id >= len(page.links):
            raise ToolCallError(f"display {cursor} has no link {link_id}; it has {len(page.links)} links")
        return page.links[link_id]

    def _page_at_url(self, url: str, view_source: bool) -> Page:
        """A corpus document by url, or a page displayed before (e.g. search results)."""
        document = self.corpus.get(url)
        if document is not None:
            return document_page(document, view_source)
        for page, _, _ in reversed(self.displays):
            if page.url == url:
                return page
        raise ToolCallError(f"no document at {clip(url)!r}; use browser.search to find one")
