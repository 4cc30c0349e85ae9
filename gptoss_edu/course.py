"""The course's shared notebook plumbing: ``setup_notebook()``, the first cell of every notebook.

It prints the versions a reader should quote when asking for help (Python, gptoss_edu and
the packages the notebook uses) and the device found (CUDA GPU, Apple GPU or CPU), and
returns that device's type. Nothing here is imported by ``import gptoss_edu`` itself; torch
is imported only when the function runs.
"""
from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version

from gptoss_edu.io.offline import share_vocab_with_peers

WIDTH = 16


def package_versions(packages: tuple[str, ...]) -> dict[str, str]:
    """``{name: version}`` for Python, gptoss_edu and ``packages`` (``"not installed"`` where missing)."""
    from gptoss_edu import __version__

    found = {"python": platform.python_version(), "gptoss_edu": __version__}
    for package in packages:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def describe_device() -> tuple[str, str]:
    """The best device here, as ``(type, description)``: ``cuda``, then ``mps``, then ``cpu``."""
    import torch

    if torch.cuda.is_available():
        gpu = torch.cuda.get_device_properties(0)
        return "cuda", f"cuda: {gpu.name}, {gpu.total_memory / 2**30:.1f} GiB"
    if torch.backends.mps.is_available():
        return "mps", "mps: Apple GPU (shares the system memory)"
    return "cpu", f"cpu: {os.cpu_count()} cores, no GPU"


def setup_notebook(*packages: str, note: str = "") -> str:
    """Print the versions of Python, gptoss_edu and ``packages`` and the device found; return the device type.

    ``note`` follows the device in brackets, e.g. ``"this notebook runs its tiny models on the CPU"``.
    """
    for name, found in package_versions(packages).items():
        print(f"{name:<{WIDTH}}{found}")
    device, description = describe_device()
    print(f"{'device':<{WIDTH}}{description}" + (f" ({note})" if note else ""))
    share_vocab_with_peers()  # so tiktoken and openai-harmony work offline too
    return device
