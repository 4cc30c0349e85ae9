"""Build the offline kit: one folder a teacher copies to every laptop of a room without Wi-Fi.

    python scripts/offline_kit.py KIT [--platform linux-x86_64 macos-arm64 windows-amd64 ...] [--no-wheels]

The kit is a classroom bundle written by ``weights_tools bundle`` (``$GPTOSS_EDU_BUNDLE``:
``vocab/`` and ``checkpoints/``) plus what installing needs without a network:

    KIT/
      README.md, bundle.json               the bundle's own README and manifest
      INSTALL.md                           how to install from the kit
      vocab/o200k_base.tiktoken            the vocabulary, hash-checked
      checkpoints/tiny-gpt-oss/            a small random checkpoint (original layout) for load_model()
      reference/gpt_oss-0.0.9-*.whl        OpenAI's reference, for the notebooks' comparisons
      wheelhouse/<platform>/*.whl          every package the course installs, per platform
      install.sh, install.ps1              make .venv from the wheelhouse, then run the setup check

Building it needs the network (PyPI); installing from it does not. The torch wheels make each
platform's wheelhouse a few GB (Linux pulls CUDA libraries unless you add the CPU wheel yourself).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from gptoss_edu.config import TINY
from gptoss_edu.conformance.reference import REFERENCE_VERSION, _wheel, fetch_reference
from gptoss_edu.io.vocab import resolve_vocab
from weights_tools.bundle import make_bundle
from weights_tools.synthetic import write_checkpoint

ROOT = Path(__file__).resolve().parents[1]
PYTHON_VERSION = "3.11"
PLATFORMS = {  # kit folder name -> pip --platform tags (newest first)
    "linux-x86_64": ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"],
    "linux-aarch64": ["manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64"],
    "macos-arm64": ["macosx_14_0_arm64", "macosx_13_0_arm64", "macosx_12_0_arm64", "macosx_11_0_arm64"],
    "macos-x86_64": ["macosx_13_0_x86_64", "macosx_12_0_x86_64", "macosx_10_15_x86_64", "macosx_10_9_x86_64"],
    "windows-amd64": ["win_amd64"],
}

INSTALL = """# Installing gptoss-edu from this offline kit

Copy this folder next to the course (a clone of gptoss-edu), then, in the course folder:

    bash /path/to/kit/install.sh            # Linux and macOS
    powershell -File C:\\path\\to\\kit\\install.ps1   # Windows

It creates `.venv` from `wheelhouse/` without a network, puts OpenAI's reference wheel in the
course cache, sets `GPTOSS_EDU_BUNDLE` to this folder in the environment's activate script (so the
vocabulary and `checkpoints/` are found) and runs `python -m gptoss_edu.setup_check`.
Then `make lab` (or `.venv/bin/python -m jupyter lab student-edition/`).
"""

INSTALL_SH = """#!/bin/sh
# Install gptoss-edu from this kit without a network. Run it in the course folder.
set -e
KIT=$(cd "$(dirname "$0")" && pwd)
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) PLATFORM=linux-x86_64 ;;
  Linux-aarch64) PLATFORM=linux-aarch64 ;;
  Darwin-arm64) PLATFORM=macos-arm64 ;;
  Darwin-x86_64) PLATFORM=macos-x86_64 ;;
  *) echo "this kit has no wheels for $(uname -s)-$(uname -m)"; exit 1 ;;
esac
[ -d "$KIT/wheelhouse/$PLATFORM" ] || { echo "this kit was built without $PLATFORM wheels"; exit 1; }
python3 -m venv .venv
.venv/bin/python -m pip install --no-index --find-links "$KIT/wheelhouse/$PLATFORM" -e ".[dev]"
CACHE="${GPTOSS_EDU_CACHE:-$HOME/.cache/gptoss_edu}"
mkdir -p "$CACHE/wheels" && cp "$KIT"/reference/*.whl "$CACHE/wheels/"
echo "export GPTOSS_EDU_BUNDLE=\\"$KIT\\"" >> .venv/bin/activate
GPTOSS_EDU_BUNDLE="$KIT" .venv/bin/python -m gptoss_edu.setup_check
"""

INSTALL_PS1 = """# Install gptoss-edu from this kit without a network. Run it in the course folder.
$ErrorActionPreference = "Stop"
$Kit = Split-Path -Parent $MyInvocation.MyCommand.Path
py -3.11 -m venv .venv
.venv\\Scripts\\python -m pip install --no-index --find-links "$Kit\\wheelhouse\\windows-amd64" -e ".[dev]"
$Cache = if ($env:GPTOSS_EDU_CACHE) { $env:GPTOSS_EDU_CACHE } else { "$HOME\\.cache\\gptoss_edu" }
New-Item -ItemType Directory -Force "$Cache\\wheels" | Out-Null
Copy-Item "$Kit\\reference\\*.whl" "$Cache\\wheels\\"
Add-Content .venv\\Scripts\\Activate.ps1 "`n`$env:GPTOSS_EDU_BUNDLE = `"$Kit`""
$env:GPTOSS_EDU_BUNDLE = $Kit
.venv\\Scripts\\python -m gptoss_edu.setup_check
"""


def requirements(platform: str) -> list[str]:
    """The course's dependencies with the dev extra, as pip requirement strings (Triton on Linux only)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"]
    if not platform.startswith("linux"):
        wanted = [r for r in wanted if not r.startswith("triton")]
    return [r.split(";")[0].strip() for r in wanted] + ["pip", "setuptools>=69", "wheel"]


def download_command(platform: str, destination: Path) -> list[str]:
    """``pip download`` of every requirement as binary wheels for ``platform`` and Python 3.11."""
    tags = [arg for tag in PLATFORMS[platform] for arg in ("--platform", tag)]
    return [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--python-version", PYTHON_VERSION,
            *tags, "-d", str(destination), *requirements(platform)]


def build_kit(out: Path, platforms: list[str], wheels: bool = True) -> Path:
    """Write the kit at ``out`` (which must not exist yet); return it."""
    if out.exists():
        raise SystemExit(f"{out} exists: give a new folder for the kit")
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    with tempfile.TemporaryDirectory() as scratch:
        config = TINY.replace(sliding_window=128, initial_context_length=4096, name="tiny-gpt-oss")
        checkpoint = write_checkpoint(Path(scratch) / "tiny-gpt-oss", config)
        make_bundle(partial, checkpoint, name="tiny-gpt-oss", vocab=resolve_vocab())
    (partial / "reference").mkdir()
    fetch_reference(REFERENCE_VERSION)
    shutil.copy(_wheel(REFERENCE_VERSION), partial / "reference")
    for platform in platforms if wheels else []:
        subprocess.run(download_command(platform, partial / "wheelhouse" / platform), check=True)
    (partial / "INSTALL.md").write_text(INSTALL)
    (partial / "install.sh").write_text(INSTALL_SH)
    (partial / "install.sh").chmod(0o755)
    (partial / "install.ps1").write_text(INSTALL_PS1)
    partial.rename(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the gptoss-edu offline kit for a classroom.")
    parser.add_argument("out", type=Path, help="the kit folder to create")
    parser.add_argument("--platform", nargs="+", choices=sorted(PLATFORMS), default=["linux-x86_64"],
                        help="wheelhouses to include (default: linux-x86_64)")
    parser.add_argument("--no-wheels", action="store_true", help="leave out the wheelhouse (vocabulary, reference "
                        "and checkpoint only: for machines that already have the packages)")
    args = parser.parse_args(argv)
    kit = build_kit(args.out, args.platform, wheels=not args.no_wheels)
    print(f"offline kit ready: {kit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
