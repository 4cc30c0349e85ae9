"""Student edition: the course notebooks with the worked solutions taken out.

Exercise cells are tagged ``solution`` and hold a working answer, so CI can run every
notebook end to end. The student edition keeps each top-level function of such a cell
(decorators, signature, docstring) and the cell's imports, and replaces every body with
``# YOUR CODE HERE`` and ``raise NotImplementedError``; a solution cell of plain assignments
(a quiz's answers) keeps its names set to ``None``, and any other cell without functions becomes
the two stub lines alone. The checker cell that follows then tells the learner their
function is "not written yet". All other cells are copied unchanged, outputs and execution
counts are cleared, and the result is validated against the nbformat schema.

Usage::

    python -m gptoss_edu.exercises.student_edition notebooks/ out/          # every notebook in a folder
    python -m gptoss_edu.exercises.student_edition notebooks/03_attention.ipynb out/03.ipynb
    python -m gptoss_edu.exercises.student_edition --reset notebooks/03_attention.ipynb out/   # a fresh copy

From the command line a learner's existing copy is kept (``--reset`` moves it to ``.backup/``).
"""
from __future__ import annotations

import argparse
import ast
import copy
import sys
import time
from pathlib import Path

import nbformat

SOLUTION_TAG = "solution"
STUB_LINES = ("# YOUR CODE HERE", "raise NotImplementedError")
ANSWER_MARK = "# YOUR ANSWER HERE"
REMOVED_TEXT = "*The worked solution is left out of the student edition.*"


class StudentEditionError(ValueError):
    """A notebook cannot be turned into a student edition; the message names the cell."""


def is_solution_cell(cell: dict) -> bool:
    """True for a cell tagged ``solution`` (cell metadata ``"tags": ["solution"]``)."""
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def stub_solution(source: str, where: str = "solution cell") -> str:
    """Return ``source`` with every top-level function body replaced by the stub lines.

    Kept, in their original order and spelling: comment lines before the first statement,
    imports, each function's decorators, signature and docstring, and each class's header,
    docstring and stubbed methods. Everything else (bodies, other top-level statements) is
    solution code and goes. A cell with neither functions nor classes becomes the stub lines.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        raise StudentEditionError(f"{where} does not parse as Python (line {e.lineno}: {e.msg})") from None
    lines = source.splitlines()
    definitions = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    if not definitions and tree.body and all(isinstance(n, ast.Assign) for n in tree.body):
        return "\n".join(f"{ast.unparse(t)} = None  {ANSWER_MARK}" for n in tree.body for t in n.targets)
    if not definitions:
        return "\n".join(STUB_LINES)
    comments = [line for line in lines[: _first_line(tree.body[0]) - 1] if line.lstrip().startswith("#")]
    text = "\n".join(comments)
    previous = "comments" if comments else None
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            kind, chunk = "import", "\n".join(lines[node.lineno - 1 : node.end_lineno])
        elif isinstance(node, ast.ClassDef):
            kind, chunk = "definition", _class_stub(node, lines)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            kind, chunk = "definition", _function_stub(node, lines)
        else:
            continue
        if previous is not None:  # imports stay together; two blank lines before and between definitions
            text += "\n" if previous == "comments" or kind == previous == "import" else "\n\n\n"
        text += chunk
        previous = kind
    return text


def _first_line(node: ast.stmt) -> int:
    """First source line of a statement, decorators included (1-based)."""
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno] + [d.lineno for d in decorators])


def _function_stub(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> str:
    """Decorators, signature and docstring of ``node`` followed by the indented stub lines."""
    return "\n".join(_header(node, lines) + [_body_indent(node) + line for line in STUB_LINES])


def _class_stub(node: ast.ClassDef, lines: list[str]) -> str:
    """Header and docstring of a class, then its methods as stubs (the stub lines if it has none)."""
    methods = [n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if not methods:
        return _function_stub(node, lines)
    return "\n".join(_header(node, lines)) + "\n\n" + "\n\n".join(_function_stub(m, lines) for m in methods)


def _header(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, lines: list[str]) -> list[str]:
    """Lines of a definition up to its body: decorators, signature, docstring."""
    first_body, start = node.body[0], _first_line(node) - 1
    if first_body.lineno == node.lineno:  # `def f(x): return x` on one line; col_offset counts UTF-8 bytes
        signature = lines[node.lineno - 1].encode()[: first_body.col_offset].decode().rstrip()
        return lines[start : node.lineno - 1] + [signature]
    if _is_docstring(first_body):
        return lines[start : first_body.end_lineno]
    header = lines[start : first_body.lineno - 1]
    while header[-1].strip() == "" or header[-1].lstrip().startswith("#"):  # these belong to the body
        header.pop()
    return header


def _body_indent(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> str:
    first_body = node.body[0]
    return " " * (node.col_offset + 4 if first_body.lineno == node.lineno else first_body.col_offset)


def _is_docstring(statement: ast.stmt) -> bool:
    value = getattr(statement, "value", None)
    return isinstance(statement, ast.Expr) and isinstance(value, ast.Constant) and isinstance(value.value, str)


def student_notebook(nb: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """A copy of ``nb`` with solution cells stubbed, outputs cleared, validated."""
    student = copy.deepcopy(nb)
    for index, cell in enumerate(student.cells):
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
        if not is_solution_cell(cell):
            continue
        if cell.cell_type == "code":
            cell.source = stub_solution(cell.source, where=f"{name}: solution cell {index}")
        else:
            cell.source = REMOVED_TEXT
    try:
        nbformat.validate(student)
    except nbformat.ValidationError as e:
        raise StudentEditionError(f"{name}: the student edition is not a valid notebook: {e.message}") from None
    return student


def write_student_edition(source: str | Path, destination: str | Path, existing: str = "overwrite") -> list[Path]:
    """Write the student edition of one notebook, or of every ``*.ipynb`` in a folder.

    A folder goes to a folder (created if needed). A notebook goes to ``destination`` when that
    ends in ``.ipynb``, otherwise into the folder ``destination``. A student notebook already
    there is a learner's work: ``existing="keep"`` leaves it alone, ``"backup"`` moves it into
    ``.backup/`` beside it (with the time in its name) before writing a fresh one, and
    ``"overwrite"`` replaces it. Returns the paths written.
    """
    if existing not in ("keep", "backup", "overwrite"):
        raise StudentEditionError(f"existing must be 'keep', 'backup' or 'overwrite', not {existing!r}")
    source, destination = Path(source), Path(destination)
    if not source.exists():
        raise StudentEditionError(f"no such notebook or folder: {source}")
    if source.is_dir():
        notebooks = sorted(source.glob("*.ipynb"))
        if not notebooks:
            raise StudentEditionError(f"no notebooks (*.ipynb) in {source}")
        pairs = [(nb, destination / nb.name) for nb in notebooks]
    else:
        target = destination if destination.suffix == ".ipynb" else destination / source.name
        pairs = [(source, target)]
    for src, dst in pairs:
        if dst.resolve() == src.resolve():
            raise StudentEditionError(f"refusing to overwrite {src} (the solutions) with its student edition")
    written = []
    for src, dst in pairs:
        try:
            nb = nbformat.read(src, as_version=4)
        except Exception as e:  # nbformat raises several kinds of errors for a broken file
            raise StudentEditionError(f"{src} is not a readable notebook: {e}") from None
        student = student_notebook(nb, name=str(src))
        if dst.exists() and existing == "keep":
            continue
        if dst.exists() and existing == "backup":
            _back_up(dst)
        dst.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(student, dst)
        written.append(dst)
    return written


def _back_up(path: Path) -> Path:
    """Move a learner's notebook into ``.backup/`` beside it, under a name with the time; return where."""
    backup = path.parent / ".backup" / f"{path.stem}.{time.strftime('%Y%m%d-%H%M%S')}{path.suffix}"
    backup.parent.mkdir(exist_ok=True)
    path.rename(backup)
    return backup


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gptoss_edu.exercises.student_edition",
        description="Write the student edition of the course notebooks (solutions replaced by stubs).",
    )
    parser.add_argument("source", help="a notebook, or a folder of notebooks")
    parser.add_argument("destination", help="output notebook, or output folder")
    parser.add_argument("--reset", action="store_true",
                        help="replace existing student notebooks with fresh ones (the old ones go to .backup/)")
    args = parser.parse_args(argv)
    try:
        written = write_student_edition(args.source, args.destination, "backup" if args.reset else "keep")
    except StudentEditionError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
