"""pyproject.toml (pip) and environment.yml (conda) must declare the same packages and bounds."""
from __future__ import annotations

import re
import tomllib

import yaml
from conftest import ROOT

# conda-forge spells a few packages differently from PyPI.
CONDA_TO_PYPI = {"pytorch": "torch"}


def _split(requirement: str) -> tuple[str, str]:
    """'torch>=2.4; marker' -> ('torch', '>=2.4')."""
    spec = requirement.split(";")[0].strip()
    name, bound = re.match(r"([A-Za-z0-9_.\-]+)\s*(.*)", spec).groups()
    return name.lower().replace("_", "-"), bound.replace(" ", "")


def pip_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    return dict(_split(r) for r in requirements)


def conda_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    found: dict[str, str] = {}
    for item in env["dependencies"]:
        entries = item["pip"] if isinstance(item, dict) else [item]
        for entry in entries:
            if entry.startswith("-e") or entry in ("pip",) or entry.startswith("python"):
                continue
            name, bound = _split(entry)
            found[CONDA_TO_PYPI.get(name, name)] = bound
    return found


def test_environment_name():
    assert yaml.safe_load((ROOT / "environment.yml").read_text())["name"] == "gptoss-edu"


def test_pip_and_conda_declare_the_same_packages_and_bounds():
    pip, conda = pip_requirements(), conda_requirements()
    assert set(pip) == set(conda), f"only in pyproject: {set(pip) - set(conda)}; only in environment.yml: {set(conda) - set(pip)}"
    for name in pip:
        assert pip[name] == conda[name], f"{name}: pyproject says {pip[name]!r}, environment.yml says {conda[name]!r}"


def test_required_packages_are_declared():
    pip = pip_requirements()
    needed = {
        "jupyterlab", "ipywidgets", "matplotlib", "numpy", "torch", "tiktoken", "safetensors", "regex", "tqdm",
        "triton", "pytest", "nbclient", "ruff", "hypothesis", "openai-harmony", "transformers", "accelerate",
    }
    assert needed <= set(pip), f"missing: {needed - set(pip)}"
    assert all(bound.startswith(">=") for bound in pip.values()), "use lower bounds, not pins"


def test_tiktoken_bound_has_o200k_harmony():
    import tiktoken

    assert "o200k_harmony" in tiktoken.list_encoding_names()
    assert pip_requirements()["tiktoken"] == ">=0.11"  # 0.11.0 is the first release with o200k_harmony
