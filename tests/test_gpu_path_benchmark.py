"""The GPU benchmark script parses its arguments, skips cleanly without CUDA, and runs its pipeline on a tiny model."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_inference.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("gpu_inference_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_parses_arguments(bench):
    args = bench.parse_args(["--models", "20b", "--no-peer", "--out", "x.md"])
    assert args.models == ["20b"] and args.no_peer and args.out == Path("x.md") and not args.dry_run
    with pytest.raises(SystemExit):
        bench.parse_args(["--models", "7b"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA exit")
def test_skips_without_cuda(bench, capsys, tmp_path):
    assert bench.main(["--out", str(tmp_path / "t.md")]) == 0
    assert "skipped: no CUDA" in capsys.readouterr().out
    assert not (tmp_path / "t.md").exists()


@pytest.mark.slow
def test_dry_run_writes_the_table(bench, tmp_path):
    out = tmp_path / "bench.md"
    assert bench.main(["--dry-run", "--no-peer", "--out", str(out)]) == 0
    table = out.read_text()
    assert table.startswith("# gptoss-edu GPU inference benchmark on ")
    for metric in ("prefill tok/s", "TTFT ms", "decode tok/s, batch 1", "peak GB", "roofline", "MoE layer GB/s"):
        assert metric in table, metric
