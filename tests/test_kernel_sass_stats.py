"""The kernels' machine code, counted without a GPU: the SASS-statistics script compiles for sm_90 and reports."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT

pytest.importorskip("triton")


@pytest.mark.slow
def test_sass_statistics_of_the_moe_kernels_for_hopper():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "kernel_sass_stats.py"), "--arch", "90"],
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| mlp")]
    assert len(rows) == 6, done.stdout  # two kernels x three tile configurations
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        registers, loop, tensor_core, per_weight = int(cells[2]), int(cells[5]), int(cells[6]), float(cells[7])
        assert 0 < registers <= 255 and loop > 0 and tensor_core > 0, row
        assert per_weight > 0, row
    print(done.stdout)


def test_the_script_refuses_the_interpreter():
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "kernel_sass_stats.py")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and re.search("interpreter compiles nothing", done.stderr)
