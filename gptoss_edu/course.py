"""The course's shared notebook plumbing: the first cell of every notebook, and where the real weights are.

``setup_notebook()`` prints the versions a reader should quote when asking for help (Python,
gptoss_edu and the packages the notebook uses) and the device found (CUDA GPU, Apple GPU or
CPU), and returns that device's type. It also hands the o200k vocabulary to tiktoken and
openai-harmony (``gptoss_edu.io.offline``), so their comparisons run without a network.

``real_weights()`` is where every notebook that can use the real gpt-oss-20b or gpt-oss-120b
(06c, 07, 08, 09) finds them, so a learner sets one name for the whole course:

- ``GPTOSS_EDU_WEIGHTS``: a checkpoint folder in either layout, or a Hub download with
  ``original/`` inside (what ``python -m weights_tools download`` writes);
- otherwise a classroom bundle (``$GPTOSS_EDU_BUNDLE``, built by ``python -m weights_tools
  bundle``): the first checkpoint in its ``checkpoints/`` folder whose config is a real
  gpt-oss (the 20b preferred), not the nano or tiny models it may also hold;
- otherwise ``None``: the notebooks then run their small models and say so.

A set variable that points nowhere is an error naming it, never a silent fallback. Importing
this module is light: torch and the checkpoint reader are imported on first use.
"""
from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from gptoss_edu.io.offline import share_vocab_with_peers

WIDTH = 16
WEIGHTS_ENV = "GPTOSS_EDU_WEIGHTS"
REAL_MODELS = ("gpt-oss-20b", "gpt-oss-120b")  # bundle preference order


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


def real_weights() -> Path | None:
    """The folder of the real gpt-oss weights for this course, or None when there are none (see the module doc)."""
    value = os.environ.get(WEIGHTS_ENV, "").strip()
    if value:
        folder = Path(value).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(f"${WEIGHTS_ENV}={value!r} is not a folder; point it at a downloaded "
                                    "gpt-oss checkpoint (python -m weights_tools download gpt-oss-20b --out DIR)")
        return folder
    real = _real_bundle_checkpoints()
    if not real:
        return None
    folder, _model = min(real, key=lambda found: REAL_MODELS.index(found[1]))
    return folder


def _real_bundle_checkpoints() -> list[tuple[Path, str]]:
    """``(folder, real model name)`` for each bundle checkpoint whose config is a real gpt-oss."""
    from gptoss_edu.config import GPT_OSS_20B, GPT_OSS_120B
    from gptoss_edu.io.bundle import bundle_checkpoints
    from gptoss_edu.io.checkpoint import CheckpointError, find_checkpoint, read_config

    shapes = {(c.num_hidden_layers, c.num_experts, c.hidden_size): c.name for c in (GPT_OSS_20B, GPT_OSS_120B)}
    found = []
    for folder in bundle_checkpoints().values():
        try:
            config = read_config(*find_checkpoint(folder))
        except (CheckpointError, OSError):
            continue  # not a checkpoint folder: the bundle's own verify reports it
        model = shapes.get((config.num_hidden_layers, config.num_experts, config.hidden_size))
        if model is not None:
            found.append((folder, model))
    return found
