"""Fetch OpenAI's reference implementation (``gpt_oss.torch``) for conformance checks.

The ``gpt-oss==0.0.9`` wheel declares Python 3.12, yet its torch model runs on 3.11, so we
do not ``pip install`` it: we ``pip download`` the wheel, unpack it into a cache folder
and import from there. Nothing of it is committed to this project.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

REFERENCE_VERSION = "0.0.9"


def cache_dir() -> Path:
    """``$GPTOSS_EDU_CACHE`` or ``~/.cache/gptoss_edu``."""
    return Path(os.environ.get("GPTOSS_EDU_CACHE", Path.home() / ".cache" / "gptoss_edu"))


def fetch_reference(version: str = REFERENCE_VERSION) -> Path:
    """Download and unpack the ``gpt-oss`` wheel once; return the folder that holds ``gpt_oss/``."""
    target = cache_dir() / f"gpt_oss-{version}"
    if (target / "gpt_oss" / "torch" / "model.py").is_file():
        return target
    wheels = cache_dir() / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--python-version", "3.12",
        "--only-binary=:all:", f"gpt-oss=={version}", "-d", str(wheels), "-q",
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    wheel = wheels / f"gpt_oss-{version}-py3-none-any.whl"
    if not wheel.is_file():
        raise RuntimeError(
            f"could not download gpt-oss=={version} from PyPI (needed only for conformance checks):\n"
            f"{' '.join(command)}\n{result.stderr[-2000:]}"
        )
    partial = target.with_name(target.name + f".{os.getpid()}.partial")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(partial)
    with contextlib.suppress(OSError):  # another process may have unpacked it first
        partial.rename(target)
    return target


def reference_model_module(version: str = REFERENCE_VERSION) -> ModuleType:
    """Import and return ``gpt_oss.torch.model`` from the unpacked wheel."""
    folder = str(fetch_reference(version))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module("gpt_oss.torch.model")
