"""Time every notebook in learner mode (no CI shortcuts) on this machine; print a markdown table.

    python scripts/time_notebooks.py [NOTEBOOK ...]

Each notebook runs top to bottom in a fresh kernel, headless, from notebooks/. The table gives
the wall time and the load average before each run (these machines may be shared); a failing
notebook is reported as such rather than timed.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNNER = """
import sys, nbformat, nbclient
nb = nbformat.read(sys.argv[1], as_version=4)
nbclient.NotebookClient(nb, timeout=None, kernel_name="python3", resources={"metadata": {"path": "."}}).execute()
"""


def time_notebook(path: Path) -> tuple[str, float]:
    """``("ok" or the error's last line, seconds)`` for one run of ``path``."""
    env = {k: v for k, v in os.environ.items() if k != "GPTOSS_EDU_CI"}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        done = subprocess.run([sys.executable, "-c", RUNNER, str(path)], cwd=ROOT / "notebooks",
                              env={**env, "TMPDIR": scratch}, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    status = "ok" if done.returncode == 0 else (done.stderr.strip().splitlines() or ["failed"])[-1][:80]
    return status, seconds


def main(argv: list[str]) -> int:
    paths = [Path(p).resolve() for p in argv] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    print("| notebook | seconds | load average before | result |\n|---|---|---|---|")
    failed = 0
    for path in paths:
        load = os.getloadavg()[0]
        status, seconds = time_notebook(path)
        failed += status != "ok"
        print(f"| {path.stem} | {seconds:.0f} | {load:.1f} | {status} |", flush=True)
    print(f"\n{os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M')}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
