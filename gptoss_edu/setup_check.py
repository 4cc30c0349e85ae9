"""``python -m gptoss_edu.setup_check``: what this machine has for the course, and exactly what is missing.

A learner runs it first (``make check``). Each line is one thing the course uses: ✓ present,
✗ missing and needed (with the command that fixes it), ○ missing but optional (which part of
the course goes without it). It never uses the network. The exit status is 1 when something
needed is missing, so an instructor can run it on every laptop of a room.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

NEEDED_PACKAGES = {  # import name -> distribution name
    "torch": "torch", "numpy": "numpy", "matplotlib": "matplotlib", "ipywidgets": "ipywidgets",
    "jupyterlab": "jupyterlab", "tiktoken": "tiktoken", "safetensors": "safetensors", "regex": "regex",
    "nbformat": "nbformat", "tqdm": "tqdm",
}
COMPARISON_PACKAGES = {"openai_harmony": "openai-harmony", "transformers": "transformers"}
INSTALL_HINT = 'pip install -e ".[dev]" (or, offline, the offline kit: bash install.sh)'


@dataclass(frozen=True)
class Finding:
    """One line of the report: ``status`` is "ok", "missing" (needed) or "optional"."""

    what: str
    status: str
    detail: str

    def line(self) -> str:
        mark = {"ok": "✓", "missing": "✗", "optional": "○"}[self.status]
        return f"{mark} {self.what:<22}{self.detail}"


def check_python() -> Finding:
    ok = sys.version_info >= (3, 11)
    detail = platform.python_version() if ok else f"{platform.python_version()}: the course needs Python 3.11 or newer"
    return Finding("python", "ok" if ok else "missing", detail)


def check_package(module: str, distribution: str, needed: bool, used_for: str = "") -> Finding:
    if importlib.util.find_spec(module) is None:
        fix = f"not installed: {INSTALL_HINT}" + (f" ({used_for})" if used_for else "")
        return Finding(distribution, "missing" if needed else "optional", fix)
    try:
        return Finding(distribution, "ok", version(distribution))
    except PackageNotFoundError:
        return Finding(distribution, "ok", "importable")


def check_vocabulary() -> Finding:
    from gptoss_edu.io.vocab import resolve_vocab

    try:
        return Finding("o200k vocabulary", "ok", str(resolve_vocab(download=False)))
    except Exception as e:  # VocabError says where it looked and how to fix it
        return Finding("o200k vocabulary", "missing", str(e))


def check_reference() -> Finding:
    from gptoss_edu.conformance.reference import REFERENCE_VERSION, _unpacked, _wheel

    if importlib.util.find_spec("gpt_oss") or _wheel(REFERENCE_VERSION).is_file() or _unpacked(REFERENCE_VERSION).is_dir():
        return Finding("OpenAI reference", "ok", f"gpt-oss=={REFERENCE_VERSION} in the course cache")
    return Finding("OpenAI reference", "optional", "not cached: notebooks 03, 05, 06 skip the comparisons with it "
                   "(it downloads with the tests, or comes with the offline kit)")


def check_gpu() -> Finding:
    import torch

    if torch.cuda.is_available():
        has_triton = importlib.util.find_spec("triton") is not None
        kernels = "with Triton kernels" if has_triton else "without Triton (pip install triton for the fast kernels)"
        return Finding("GPU", "ok", f"{torch.cuda.get_device_name(0)}, {kernels}")
    if torch.backends.mps.is_available():
        return Finding("GPU", "optional", "Apple GPU: the course runs on the CPU; notebook 08's Triton part needs CUDA")
    return Finding("GPU", "optional", "none: every notebook runs on the CPU; notebook 08 explains what a GPU adds")


def check_sandbox() -> Finding:
    from gptoss_edu.agent.sandbox import available_backends

    reasons = available_backends()
    usable = [name for name, reason in reasons.items() if reason is None]
    if usable:
        return Finding("python tool sandbox", "ok", f"{usable[0]}")
    why = "; ".join(f"{name}: {reason}" for name, reason in reasons.items())
    return Finding("python tool sandbox", "optional", f"none ({why}); notebook 09 then runs model code only when "
                   "you opt in with backend='unisolated'. On Linux: apt-get install bubblewrap; elsewhere: Docker")


def check_weights() -> Finding:
    folder = os.environ.get("GPTOSS_EDU_WEIGHTS")
    if not folder:
        return Finding("real weights", "optional", "GPTOSS_EDU_WEIGHTS is not set: notebooks use the nano model and "
                       "random checkpoints (python -m weights_tools download gpt-oss-20b --out DIR, then set it)")
    if not os.path.isdir(folder):
        return Finding("real weights", "missing", f"GPTOSS_EDU_WEIGHTS={folder} is not a folder")
    return Finding("real weights", "ok", folder)


def check_disk(path: str = ".") -> Finding:
    free_gb = shutil.disk_usage(path).free / 1e9
    status = "ok" if free_gb >= 2 else "missing"
    return Finding("free disk", status, f"{free_gb:.1f} GB" + ("" if status == "ok" else ": the course needs about 2 GB"))


CHECKS: tuple[Callable[[], Finding], ...] = (
    check_python,
    *(lambda m=m, d=d: check_package(m, d, needed=True) for m, d in NEEDED_PACKAGES.items()),
    lambda: check_package("openai_harmony", "openai-harmony", needed=False, used_for="notebook 02's comparisons"),
    lambda: check_package("transformers", "transformers", needed=False, used_for="comparisons with Hugging Face"),
    check_vocabulary, check_reference, check_gpu, check_sandbox, check_weights, check_disk,
)


def run_checks() -> list[Finding]:
    """Every check, in order; a check that itself fails becomes a ✗ line instead of a traceback."""
    findings = []
    for check in CHECKS:
        try:
            findings.append(check())
        except Exception as e:  # e.g. torch missing makes the GPU check fail: that is already reported above
            name = getattr(check, "__name__", "check").removeprefix("check_")
            findings.append(Finding(name, "missing", f"could not check ({type(e).__name__}: {e})"))
    return findings


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="python -m gptoss_edu.setup_check", description=__doc__.splitlines()[0]).parse_args(argv)
    findings = run_checks()
    for finding in findings:
        print(finding.line())
    missing = [f.what for f in findings if f.status == "missing"]
    print("\nReady for the course." if not missing else f"\nMissing: {', '.join(missing)} (see the ✗ lines above).")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
