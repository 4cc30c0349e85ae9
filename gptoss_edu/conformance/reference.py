"""Fetch OpenAI's reference implementation (``gpt_oss.torch``) for conformance checks.

The ``gpt-oss==0.0.9`` wheel declares Python 3.12, yet its torch model runs on 3.11, so we
do not ``pip install`` it: we ``pip download`` the wheel, unpack it into a cache folder
and import from there. Nothing of it is committed to this project.

Tests call ``reference_model_module``, which downloads once. Notebooks call
``reference_if_present``, which never touches the network: it uses the wheel when it is
already unpacked in the course cache, installed, or lying in the cache's ``wheels/`` folder
(where the offline kit puts it), and otherwise says in one line what is skipped.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

from gptoss_edu.io.offline import cache_root

REFERENCE_VERSION = "0.0.9"


def cache_dir() -> Path:
    """``$GPTOSS_EDU_CACHE`` or ``~/.cache/gptoss_edu`` (``gptoss_edu.course.cache_root``)."""
    return cache_root()


def _unpacked(version: str) -> Path:
    return cache_dir() / f"gpt_oss-{version}"


def _wheel(version: str) -> Path:
    return cache_dir() / "wheels" / f"gpt_oss-{version}-py3-none-any.whl"


def fetch_reference(version: str = REFERENCE_VERSION) -> Path:
    """Download (unless the wheel is already cached) and unpack the ``gpt-oss`` wheel; return the folder holding ``gpt_oss/``."""
    target = _unpacked(version)
    if (target / "gpt_oss" / "torch" / "model.py").is_file():
        return target
    if not _wheel(version).is_file():
        _download(version)
    return _unpack(_wheel(version), target)


def _download(version: str) -> None:
    wheels = _wheel(version).parent
    wheels.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--python-version", "3.12",
        "--only-binary=:all:", f"gpt-oss=={version}", "-d", str(wheels), "-q",
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if not _wheel(version).is_file():
        raise RuntimeError(
            f"could not download gpt-oss=={version} from PyPI (needed only for conformance checks):\n"
            f"{' '.join(command)}\n{result.stderr[-2000:]}"
        )


def _unpack(wheel: Path, target: Path) -> Path:
    partial = target.with_name(target.name + f".{os.getpid()}.partial")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(partial)
    with contextlib.suppress(OSError):  # another process may have unpacked it first
        partial.rename(target)
    return target


def reference_model_module(version: str = REFERENCE_VERSION) -> ModuleType:
    """Import and return ``gpt_oss.torch.model`` from the unpacked wheel (downloaded once if needed)."""
    folder = str(fetch_reference(version))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module("gpt_oss.torch.model")


def reference_if_present(version: str = REFERENCE_VERSION) -> ModuleType | None:
    """OpenAI's ``gpt_oss.torch.model`` if it is on this machine already, else None and one line saying so.

    Never uses the network, so a notebook runs the same in a classroom without Wi-Fi.
    """
    if importlib.util.find_spec("gpt_oss") is not None:  # installed by the user
        return importlib.import_module("gpt_oss.torch.model")
    if (_unpacked(version) / "gpt_oss" / "torch" / "model.py").is_file() or _wheel(version).is_file():
        return reference_model_module(version)
    print(f"OpenAI's reference (gpt-oss=={version}) is not on this machine, so the comparisons with it are "
          "skipped; those with the library still run. The offline kit (make offline-kit) brings it.")
    return None
