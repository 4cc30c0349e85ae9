"""Every notebook is committed clean and executes top to bottom, headless."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NOTEBOOK_TIMEOUT_S = 600  # per notebook; each is meant to take a few minutes at most on 2 cores
ARTIFACTS = ROOT / "test-artifacts" / "notebooks"

RUNNER = """
import sys, time, nbformat, nbclient
source, target = sys.argv[1], sys.argv[2]
nb = nbformat.read(source, as_version=4)
start = time.time()
client = nbclient.NotebookClient(nb, timeout=None, kernel_name="python3", resources={"metadata": {"path": "."}})
try:
    client.execute()
finally:
    nbformat.write(nb, target)
print(f"executed in {time.time() - start:.1f}s")
"""


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_committed_without_outputs(path):
    nb = json.loads(path.read_text())
    dirty = [
        i for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_cells_have_unique_ids(path):
    """nbformat 4.5 gives every cell an id (Jupyter writes them; a hand-inserted cell may lack one)."""
    nb = json.loads(path.read_text())  # as committed: nbformat.read would fill in missing ids
    if (nb["nbformat"], nb["nbformat_minor"]) >= (4, 5):
        ids = [cell.get("id") for cell in nb["cells"]]
        assert None not in ids and len(set(ids)) == len(ids), f"{path.name}: cells without an id or sharing one"


def execute(path: Path, target: Path) -> str:
    """Run the notebook at ``path`` top to bottom in a fresh kernel (from its own folder); return the runner's line."""
    env = {**os.environ, "GPTOSS_EDU_CI": "1"}
    try:
        result = subprocess.run(
            [sys.executable, "-c", RUNNER, str(path), str(target)],
            cwd=ROOT / "notebooks", env=env, capture_output=True, text=True, timeout=NOTEBOOK_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{path.name} did not finish within {NOTEBOOK_TIMEOUT_S}s")
    assert result.returncode == 0, f"{path.name} failed:\n{result.stderr[-6000:]}"
    return result.stdout.strip()


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(path.name, execute(path, ARTIFACTS / path.name))


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_student_edition_executes_with_every_exercise_unsolved(path, tmp_path):
    """A learner who runs everything before solving anything meets notes, not errors."""
    from gptoss_edu.exercises.student_edition import is_solution_cell, write_student_edition

    [student] = write_student_edition(path, tmp_path / path.name)
    executed = tmp_path / f"executed-{path.name}"
    execute(student, executed)
    text = executed.read_text()
    assert "matches the library on" not in text, f"{path.name}: a checker passed an unsolved exercise"
    cells = json.loads(path.read_text())["cells"]
    if any(is_solution_cell(c) and "def " in "".join(c["source"]) for c in cells):  # quiz answers have no checker
        assert "not written yet" in text, f"{path.name}: no checker said the exercise is not written yet"
