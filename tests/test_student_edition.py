"""The student edition: solutions become stubs that the checkers reject as "not written yet".

Two kinds of tests: on a small notebook built here (every rule of the tool, the command line,
its errors), and on every notebook present in ``notebooks/`` (whatever the other notebooks
hold, their student editions must be valid, solution-free, and rejected by their checkers).
"""
from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import io
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from gptoss_edu.exercises.student_edition import (
    REMOVED_TEXT,
    STUB_LINES,
    StudentEditionError,
    is_solution_cell,
    main,
    stub_solution,
    student_notebook,
    write_student_edition,
)

ROOT = Path(__file__).resolve().parents[1]
COURSE_NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
STUB = "\n".join(STUB_LINES)

SOLUTION = '''\
# Exercise: the long side of a right triangle.
import random


@staticmethod
def hypotenuse(a: float,
               b: float) -> float:
    """Length of the side opposite the right angle."""
    squares = a * a + b * b
    return math.sqrt(squares)


def halve(x):
    # a hint that is really part of the answer
    return x / 2


print(hypotenuse(3, 4), random.random())'''

STUDENT_SOLUTION = '''\
# Exercise: the long side of a right triangle.
import random


@staticmethod
def hypotenuse(a: float,
               b: float) -> float:
    """Length of the side opposite the right angle."""
    # YOUR CODE HERE
    raise NotImplementedError


def halve(x):
    # YOUR CODE HERE
    raise NotImplementedError'''


def tagged(cell, tag: str = "solution"):
    cell.metadata["tags"] = [tag]
    return cell


def small_notebook() -> nbformat.NotebookNode:
    computed = new_code_cell("1 + 1", execution_count=3, outputs=[new_output("execute_result", data={"text/plain": "2"}, execution_count=3)])
    return new_notebook(cells=[
        new_markdown_cell("# A tiny course notebook"),
        new_code_cell("import math\n\nfrom gptoss_edu.exercises import check_function"),
        tagged(new_code_cell(SOLUTION.replace("@staticmethod\n", ""))),
        new_code_cell("check_function(hypotenuse, math.hypot, lambda rng: (rng.random(), rng.random()))"),
        tagged(new_code_cell("ANSWER = 6 * 7")),
        computed,
        tagged(new_markdown_cell("The answer is 42 because 6 * 7 = 42.")),
        tagged(new_code_cell("x = 1"), tag="other"),
    ])


@pytest.fixture
def notebook_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nbformat.write(small_notebook(), folder / "01_tiny.ipynb")
    return folder


# ---- the stub of one cell ----------------------------------------------------------------
def test_stub_keeps_comments_imports_signatures_and_docstrings_only():
    assert stub_solution(SOLUTION) == STUDENT_SOLUTION


def test_solution_cell_without_functions_becomes_the_bare_stub():
    assert stub_solution("# the answer\nANSWER = 6 * 7\nprint(ANSWER)") == STUB


def test_one_line_and_async_functions_are_stubbed_too():
    stub = stub_solution("def double(x): return 2 * x\n\nasync def fetch(url):\n    return await get(url)")
    assert stub == f"def double(x):\n    {STUB_LINES[0]}\n    {STUB_LINES[1]}\n\n\nasync def fetch(url):\n    " + \
        f"{STUB_LINES[0]}\n    {STUB_LINES[1]}"


def test_classes_keep_header_docstring_and_stubbed_methods():
    source = (
        "class Doubler(nn.Module):\n    \"\"\"Twice the input.\"\"\"\n\n    factor = 2\n\n"
        "    def forward(self, x):\n        \"\"\"Apply.\"\"\"\n        return self.factor * x\n\n"
        "    def extra_repr(self): return 'x2'\n"
    )
    assert stub_solution(source) == (
        'class Doubler(nn.Module):\n    """Twice the input."""\n\n'
        f'    def forward(self, x):\n        """Apply."""\n        {STUB_LINES[0]}\n        {STUB_LINES[1]}\n\n'
        f"    def extra_repr(self):\n        {STUB_LINES[0]}\n        {STUB_LINES[1]}"
    )
    assert stub_solution("class Point: x = 1") == f"class Point:\n    {STUB_LINES[0]}\n    {STUB_LINES[1]}"


def test_one_line_signature_with_non_ascii_default():
    assert stub_solution('def greet(name="Zoë"): return "hi " + name').startswith('def greet(name="Zoë"):\n')


def test_stubbing_twice_changes_nothing():
    once = stub_solution(SOLUTION)
    assert stub_solution(once) == once


def test_solution_that_does_not_parse_names_its_cell():
    with pytest.raises(StudentEditionError, match=r"course\.ipynb: solution cell 2 does not parse as Python \(line 1"):
        stub_solution("def broken(:\n    pass", where="course.ipynb: solution cell 2")


# ---- the notebook ------------------------------------------------------------------------
def test_student_notebook_stubs_solutions_and_leaves_the_rest_alone():
    original = small_notebook()
    student = student_notebook(original)
    nbformat.validate(student)
    assert len(student.cells) == len(original.cells)
    for before, after in zip(original.cells, student.cells):
        if not is_solution_cell(before):
            assert (after.cell_type, after.source, after.metadata) == (before.cell_type, before.source, before.metadata)
    assert student.cells[2].source == STUDENT_SOLUTION.replace("@staticmethod\n", "")
    assert student.cells[4].source == "ANSWER = None  # YOUR ANSWER HERE"
    assert student.cells[6].source == REMOVED_TEXT
    assert is_solution_cell(student.cells[2]), "the tag stays, so the edition can be regenerated"
    assert original.cells[5].outputs, "the input notebook is not modified"


def test_outputs_and_execution_counts_are_cleared():
    student = student_notebook(small_notebook())
    for cell in student.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_stubbed_notebook_is_noted_by_its_checker(capsys):
    namespace: dict = {}
    cells = student_notebook(small_notebook()).cells
    exec(cells[1].source, namespace)
    exec(cells[2].source, namespace)
    exec(cells[3].source, namespace)
    assert "hypotenuse is not written yet" in capsys.readouterr().out
    exec(cells[4].source, namespace)
    assert namespace["ANSWER"] is None, "an answer cell keeps its name, emptied"


def test_solution_notebook_passes_its_own_checker(capsys):
    namespace: dict = {}
    for cell in small_notebook().cells[1:4]:
        exec(cell.source, namespace)
    assert "✓ hypotenuse matches the library" in capsys.readouterr().out


def test_unparsable_solution_cell_is_reported_with_notebook_and_index():
    nb = small_notebook()
    nb.cells[4].source = "ANSWER = = 42"
    with pytest.raises(StudentEditionError, match=r"tiny\.ipynb: solution cell 4 does not parse"):
        student_notebook(nb, name="tiny.ipynb")


# ---- files and the command line -------------------------------------------------------------
def test_command_line_writes_a_student_edition_per_notebook(notebook_folder: Path, tmp_path: Path):
    out = tmp_path / "student"
    result = subprocess.run(
        [sys.executable, "-m", "gptoss_edu.exercises.student_edition", str(notebook_folder), str(out)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    written = out / "01_tiny.ipynb"
    assert f"wrote {written}" in result.stdout
    student = nbformat.read(written, as_version=4)
    nbformat.validate(student)
    assert student.cells[4].source == "ANSWER = None  # YOUR ANSWER HERE"
    assert "squares" not in nbformat.writes(student)


def test_single_notebook_to_a_file_or_into_a_folder(notebook_folder: Path, tmp_path: Path):
    source = notebook_folder / "01_tiny.ipynb"
    assert write_student_edition(source, tmp_path / "renamed.ipynb") == [tmp_path / "renamed.ipynb"]
    assert write_student_edition(source, tmp_path / "folder") == [tmp_path / "folder" / "01_tiny.ipynb"]


def test_missing_input_is_a_clear_error(tmp_path: Path, capsys):
    assert main([str(tmp_path / "nowhere"), str(tmp_path / "out")]) == 2
    assert f"error: no such notebook or folder: {tmp_path / 'nowhere'}" in capsys.readouterr().err


def test_folder_without_notebooks_is_a_clear_error(tmp_path: Path):
    with pytest.raises(StudentEditionError, match="no notebooks"):
        write_student_edition(tmp_path, tmp_path / "out")


def test_refuses_to_overwrite_the_solutions(notebook_folder: Path):
    with pytest.raises(StudentEditionError, match="refusing to overwrite"):
        write_student_edition(notebook_folder, notebook_folder)
    assert "squares" in (notebook_folder / "01_tiny.ipynb").read_text()


def test_unparsable_solution_fails_the_command_line(notebook_folder: Path, tmp_path: Path, capsys):
    nb = small_notebook()
    nb.cells[2].source = "def broken(:"
    nbformat.write(nb, notebook_folder / "02_broken.ipynb")
    assert main([str(notebook_folder), str(tmp_path / "out")]) == 2
    assert "02_broken.ipynb: solution cell 2 does not parse" in capsys.readouterr().err


# ---- the course notebooks, whichever exist -------------------------------------------------
def code_without_magics(source: str) -> str:
    """Cell source with IPython magics and shell lines blanked, so ``ast`` and ``exec`` accept it."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def top_level_definitions(source: str) -> list[ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef]:
    return [n for n in ast.parse(source).body if isinstance(n, (*FUNCTIONS, ast.ClassDef))]


def solution_only_lines(source: str) -> set[str]:
    """Stripped lines of a solution cell that a student edition must not show.

    These are the lines of function bodies (docstrings aside) and of top-level statements
    other than imports, minus any line that also occurs in what the stub keeps (a lone ``)``).
    """
    lines = source.splitlines()
    hidden, shown = set(), set()

    def visit(statements: list[ast.stmt], top: bool) -> None:
        for node in statements:
            span = set(lines[node.lineno - 1 : node.end_lineno])
            if top and isinstance(node, (ast.Import, ast.ImportFrom)):
                shown.update(span)
            elif isinstance(node, (*FUNCTIONS, ast.ClassDef)) and (top or isinstance(node, FUNCTIONS)):
                body = node.body[1:] if ast.get_docstring(node, clean=False) is not None else node.body
                if isinstance(node, ast.ClassDef):
                    visit(body, top=False)
                else:
                    for statement in body:
                        hidden.update(lines[statement.lineno - 1 : statement.end_lineno])
                shown.update(span - hidden)
            else:
                hidden.update(span)

    visit(ast.parse(source).body, top=True)
    stripped = lambda found: {line.strip() for line in found if line.strip() and not line.lstrip().startswith("#")}  # noqa: E731
    return stripped(hidden) - stripped(shown)


def exercises(nb: nbformat.NotebookNode) -> list[tuple[int, int | None]]:
    """(solution cell, the next code cell that is not a solution) for every solution code cell."""
    code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    pairs = []
    for i in code:
        if is_solution_cell(nb.cells[i]):
            after = [j for j in code if j > i and not is_solution_cell(nb.cells[j])]
            pairs.append((i, after[0] if after else None))
    return pairs


def namespace_before(nb: nbformat.NotebookNode, index: int, name: str, everything: bool) -> dict:
    """What a learner has defined before cell ``index``: the imports of earlier cells, or ``everything``.

    Running everything uses the solutions of earlier exercises, as a learner who solved them would.
    """
    namespace: dict = {"__name__": "__main__"}
    for i, cell in enumerate(nb.cells[:index]):
        if cell.cell_type != "code" or (is_solution_cell(cell) and not everything):
            continue
        source = code_without_magics(cell.source)
        if not everything:
            imports = [n for n in ast.parse(source).body if isinstance(n, (ast.Import, ast.ImportFrom))]
            source = ast.unparse(ast.Module(body=imports, type_ignores=[]))
        exec(compile(source, f"<{name} cell {i}>", "exec"), namespace)
    return namespace


def call_with_placeholders(function) -> None:
    """Call ``function`` with ``None`` for every required parameter (a stub raises before using them)."""
    parameters = inspect.signature(function).parameters.values()
    required = [p for p in parameters if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    args = [None for p in required if p.kind is p.POSITIONAL_ONLY]
    kwargs = {p.name: None for p in required if p.kind is not p.POSITIONAL_ONLY}
    result = function(*args, **kwargs)
    if inspect.iscoroutine(result):
        asyncio.run(result)


def check_exercise(nb, student, solution: int, checker: int | None, name: str) -> None:
    """Run the stub of cell ``solution`` and then its checker cell, the way a learner meets them."""
    stub = student.cells[solution].source
    for everything in (False, True):  # imports are usually enough; earlier cells only when a name is missing
        namespace = namespace_before(nb, solution, name, everything)
        try:
            if not top_level_definitions(stub):
                if stub.endswith(STUB_LINES[-1]):
                    with pytest.raises(NotImplementedError):
                        exec(stub, namespace)
                else:  # a quiz's answers: names set to None
                    exec(stub, namespace)
                return
            exec(compile(stub, f"<{name} student cell {solution}>", "exec"), namespace)
            for function in top_level_definitions(stub):
                if isinstance(function, FUNCTIONS):  # classes are left to their checker
                    with pytest.raises(NotImplementedError):
                        call_with_placeholders(inspect.unwrap(namespace[function.name]))  # the stub, not its fallback
            assert checker is not None, f"{name}: solution cell {solution} has no checker cell after it"
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                exec(compile(code_without_magics(student.cells[checker].source), f"<{name} cell {checker}>", "exec"),
                     namespace)
            assert "not written yet" in printed.getvalue(), f"{name} cell {checker}: the checker did not say so"
            return
        except NameError:
            if everything:
                raise


@pytest.mark.skipif(not COURSE_NOTEBOOKS, reason="no notebooks in notebooks/ yet")
@pytest.mark.parametrize("path", COURSE_NOTEBOOKS, ids=[p.name for p in COURSE_NOTEBOOKS])
def test_course_notebook_student_edition(path: Path, tmp_path: Path):
    [written] = write_student_edition(path, tmp_path / path.name)
    original, student = nbformat.read(path, as_version=4), nbformat.read(written, as_version=4)
    nbformat.validate(student)
    assert [c.cell_type for c in student.cells] == [c.cell_type for c in original.cells]
    for index, (before, after) in enumerate(zip(original.cells, student.cells)):
        if after.cell_type == "code":
            assert after.outputs == [] and after.execution_count is None
        if not is_solution_cell(before):
            assert after.source == before.source
        elif before.cell_type == "code":
            left = solution_only_lines(before.source) & {line.strip() for line in after.source.splitlines()}
            assert not left, f"{path.name} cell {index}: solution lines left in the student edition: {left}"
    for solution, checker in exercises(original):
        check_exercise(original, student, solution, checker, path.name)


def test_learners_work_is_kept_and_reset_backs_it_up(tmp_path: Path):
    source = tmp_path / "course"
    source.mkdir()
    nbformat.write(small_notebook(), source / "01_small.ipynb")
    out = tmp_path / "student"
    run = [sys.executable, "-m", "gptoss_edu.exercises.student_edition"]
    subprocess.run([*run, str(source), str(out)], check=True, capture_output=True)
    mine = out / "01_small.ipynb"
    mine.write_text(mine.read_text().replace("YOUR CODE HERE", "my own attempt"))
    subprocess.run([*run, str(source), str(out)], check=True, capture_output=True)
    assert "my own attempt" in mine.read_text(), "regenerating the student edition overwrote a learner's work"
    subprocess.run([*run, "--reset", str(source / "01_small.ipynb"), str(out)], check=True, capture_output=True)
    assert "my own attempt" not in mine.read_text()
    [backup] = (out / ".backup").glob("01_small.*.ipynb")
    assert "my own attempt" in backup.read_text()


def test_make_clean_leaves_the_student_edition_alone():
    makefile = (ROOT / "Makefile").read_text()
    clean = makefile.split("\nclean:")[1]
    assert "student-edition" not in clean
