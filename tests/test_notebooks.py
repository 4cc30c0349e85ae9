"""Every notebook is committed clean and executes top to bottom, headless."""
from __future__ import annotations

import json
import os
import subprocess
import sys

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


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / path.name
    env = {**os.environ, "GPTOSS_EDU_CI": "1"}
    try:
        result = subprocess.run(
            [sys.executable, "-c", RUNNER, path.name, str(target)],
            cwd=path.parent, env=env, capture_output=True, text=True, timeout=NOTEBOOK_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{path.name} did not finish within {NOTEBOOK_TIMEOUT_S}s")
    assert result.returncode == 0, f"{path.name} failed:\n{result.stderr[-6000:]}"
    print(path.name, result.stdout.strip())
