"""The kernels' machine code, counted without a GPU: ``gptoss_edu.kernels.sass`` compiles for sm_90 and reports."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

pytest.importorskip("triton")


@pytest.mark.slow
def test_sass_statistics_of_the_moe_kernels_for_hopper():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run([sys.executable, "-m", "gptoss_edu.kernels.sass", "--only", "moe", "--arch", "90"],
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith(("| mlp", "| fast"))]
    assert len(rows) == 10, done.stdout  # readable: two kernels x three tiles; fast: two kernels x two tiles
    per_weight = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        registers, spills, loop, tensor_core = int(cells[3]), int(cells[5]), int(cells[6]), int(cells[7])
        assert 0 < registers <= 255 and loop > 0 and tensor_core > 0, row
        per_weight[(cells[0], cells[1])] = float(cells[8])
        if cells[0].startswith("fast"):
            assert spills == 0, row  # the fast tiles fit in registers
    readable = [v for (kernel, _), v in per_weight.items() if not kernel.startswith("fast")]
    fast = [v for (kernel, _), v in per_weight.items() if kernel.startswith("fast")]
    assert max(fast) < min(readable) / 3, per_weight  # the GPU layout's decode is several times leaner
    print(done.stdout)


def test_the_script_refuses_the_interpreter():
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    done = subprocess.run([sys.executable, "-m", "gptoss_edu.kernels.sass"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and re.search("interpreter compiles nothing", done.stderr)
