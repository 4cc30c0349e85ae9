"""The layout the design fixes, the package mapping, and a light `import gptoss_edu`."""
from __future__ import annotations

import json
import subprocess
import sys
import tomllib

from conftest import ROOT


def test_top_level_layout():
    for name in ["notebooks", "gptoss_edu", "kernels", "weights_tools", "tests", "benchmarks", ".ci"]:
        assert (ROOT / name).is_dir(), name
    for name in ["environment.yml", "README.md", "pyproject.toml", ".ci/run", "Makefile"]:
        assert (ROOT / name).is_file(), name


def test_every_package_folder_is_installed():
    packages = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {"gptoss_edu.kernels", "weights_tools"}
    for init in (ROOT / "gptoss_edu").rglob("__init__.py"):
        on_disk.add(".".join(init.parent.relative_to(ROOT).parts))
    assert on_disk == packages, f"not listed: {on_disk - packages}; listed but missing: {packages - on_disk}"


def test_kernels_live_under_the_project_namespace():
    code = (
        "import importlib.util, json, gptoss_edu.kernels as k;"
        "print(json.dumps([k.__name__, importlib.util.find_spec('kernels') is None]))"
    )
    # run outside the repository so the checkout folder itself is not on sys.path
    out = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True, check=True)
    name, no_top_level = json.loads(out.stdout)
    assert name == "gptoss_edu.kernels"
    assert no_top_level, "a top-level 'kernels' module is importable: it would shadow Hugging Face's kernels package"


def test_import_is_light():
    code = (
        "import sys, json, gptoss_edu;"
        "print(json.dumps(sorted(m for m in ('triton','torch','ipywidgets','jupyterlab','IPython','matplotlib') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
