"""Documents for the offline browser, and a small BM25 search over them.

The default corpus is the course itself: the Markdown files of the repository, the
Markdown cells of its notebooks and the docstrings of the library (read with
:mod:`ast`, so nothing is imported). Any folder of ``.md`` / ``.txt`` files works
too (:func:`load_folder`). Each :class:`Document` has a ``url`` (its path relative
to the folder it came from) by which the browser opens it.
"""
from __future__ import annotations

import ast
import json
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

PACKAGE = Path(str(resources.files("gptoss_edu")))  # the library's own files, wherever it is installed
REPOSITORY = PACKAGE.parent  # the course checkout in a source install; a wheel brings the package alone
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Document:
    """A page the browser can open: where it lives, its title and its Markdown text."""

    url: str
    title: str
    text: str


@dataclass(frozen=True)
class SearchHit:
    """One search result: the document, its BM25 score and its best-matching line."""

    document: Document
    score: float
    snippet: str


def words(text: str) -> list[str]:
    """Lower-case word tokens, the unit both documents and queries are indexed by."""
    return _WORD.findall(text.lower())


class Corpus:
    """Documents indexed for BM25 ranking (k1 = 1.2, b = 0.75), looked up by url."""

    def __init__(self, documents: Iterable[Document], k1: float = 1.2, b: float = 0.75):
        self.documents = {document.url: document for document in documents}
        self._counts = {url: Counter(words(document.title + "\n" + document.text))
                        for url, document in self.documents.items()}
        self._lengths = {url: sum(counts.values()) for url, counts in self._counts.items()}
        self._mean_length = sum(self._lengths.values()) / max(len(self._lengths), 1)
        self._document_frequency = Counter(word for counts in self._counts.values() for word in counts)
        self.k1, self.b = k1, b

    def __len__(self) -> int:
        return len(self.documents)

    def get(self, url: str) -> Document | None:
        """The document at ``url``, or None."""
        return self.documents.get(url)

    def search(self, query: str, topn: int = 10) -> list[SearchHit]:
        """The ``topn`` best documents for ``query`` (documents matching no query word are left out)."""
        terms = set(words(query))
        scored = [(self._score(url, terms), url) for url in self.documents]
        ranked = sorted((item for item in scored if item[0] > 0), key=lambda item: (-item[0], item[1]))
        return [SearchHit(self.documents[url], score, _best_line(self.documents[url].text, terms))
                for score, url in ranked[:topn]]

    def _score(self, url: str, terms: set[str]) -> float:
        """BM25 score of one document for a set of query terms."""
        counts, length, total = self._counts[url], self._lengths[url], len(self.documents)
        score = 0.0
        for term in terms:
            frequency = counts.get(term, 0)
            if frequency:
                df = self._document_frequency[term]
                idf = math.log(1 + (total - df + 0.5) / (df + 0.5))
                norm = frequency + self.k1 * (1 - self.b + self.b * length / self._mean_length)
                score += idf * frequency * (self.k1 + 1) / norm
        return score


def _best_line(text: str, terms: set[str]) -> str:
    """The line of ``text`` containing the most distinct query terms (prose before headings, then the first)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    return max(lines, key=lambda line: (len(terms & set(words(line))), not line.startswith("#")))


def load_folder(folder: str | Path, patterns: tuple[str, ...] = ("*.md", "*.txt")) -> list[Document]:
    """Every file under ``folder`` matching ``patterns``; the title is its first Markdown heading."""
    root = Path(folder)
    paths = sorted({path for pattern in patterns for path in root.rglob(pattern) if path.is_file()})
    return [_markdown_document(path.relative_to(root).as_posix(), path.read_text(encoding="utf-8"))
            for path in paths if not any(part.startswith(".") for part in path.relative_to(root).parts)]


def notebook_documents(folder: str | Path) -> list[Document]:
    """The Markdown cells of each notebook in ``folder`` as one document per notebook."""
    root = Path(folder)
    documents = []
    for path in sorted(root.glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        markdown = ["".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
                    for cell in cells if cell.get("cell_type") == "markdown"]
        if markdown:
            documents.append(_markdown_document(f"notebooks/{path.name}", "\n\n".join(markdown)))
    return documents


def docstring_documents(package: str | Path = PACKAGE) -> list[Document]:
    """One document per module of ``package``: the module docstring, then each public definition's."""
    root = Path(package)
    documents = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module = ".".join(path.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__")
        sections = [f"# {module}", ast.get_docstring(tree) or ""]
        for node in tree.body:
            is_definition = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            if is_definition and not node.name.startswith("_") and ast.get_docstring(node):
                sections += [f"## {module}.{node.name}", ast.get_docstring(node)]
        if any(sections[1:]):
            documents.append(Document(path.relative_to(root.parent).as_posix(), module, "\n\n".join(sections)))
    return documents


def default_corpus(repository: str | Path = REPOSITORY) -> Corpus:
    """The course's Markdown files, notebook Markdown cells and library docstrings.

    Outside a course checkout (a wheel installs the package alone) only the docstrings remain.
    """
    root = Path(repository)
    if not (root / "notebooks").is_dir():
        return Corpus(docstring_documents(PACKAGE))
    markdown = [document for document in load_folder(root, ("*.md",))
                if not document.url.startswith(("build/", "dist/"))]
    return Corpus(markdown + notebook_documents(root / "notebooks") + docstring_documents(root / "gptoss_edu"))


def _markdown_document(url: str, text: str) -> Document:
    """A document titled by its first ``#`` heading, or by its url when it has none."""
    heading = next((line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")), "")
    return Document(url, heading or url, text)
