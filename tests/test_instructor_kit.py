"""The instructor kit names every exercise's checker and every notebook, so it cannot silently fall behind."""
from __future__ import annotations

import ast

from conftest import ROOT

KIT = (ROOT / "docs" / "instructors.md").read_text()


def test_every_checker_is_in_the_common_mistakes_table():
    for module in sorted((ROOT / "gptoss_edu" / "exercises").glob("*.py")):
        tree = ast.parse(module.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("check_") and node.name != "check_function":
                assert f"`{node.name}`" in KIT, f"{node.name} ({module.name}) is missing from docs/instructors.md"


def test_every_notebook_has_objectives_and_a_running_time():
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        number, _, name = notebook.stem.partition("_")
        rows = [line for line in KIT.splitlines() if line.startswith(f"| {number} ")]
        assert len(rows) >= 2, f"{notebook.stem}: needs a row in the objectives table and one in the timing table"
