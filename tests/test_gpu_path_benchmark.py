"""The GPU benchmark script: arguments, a clean skip without CUDA, and its whole pipeline on a tiny model on the CPU.

``--device cpu --tiny`` runs every phase except CUDA-event timing and graph capture: the
kernels (under the Triton interpreter) counted in every layer, the agreement with the torch
path, the timings, the transformers peer, the table and the JSON record.
"""
from __future__ import annotations

import importlib.util
import json
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
    args = bench.parse_args(["--models", "20b", "--no-peer", "--out", "x"])
    assert args.models == ["20b"] and args.no_peer and args.out == Path("x") and not args.check
    assert bench.parse_args(["--check"]).out == Path("benchmarks/results/gpu_inference-check")
    for wrong in (["--models", "7b"], ["--device", "cpu"]):  # full-size timing on a CPU is refused
        with pytest.raises(SystemExit):
            bench.parse_args(wrong)


def test_check_mode_is_full_width_with_few_layers(bench):
    [config] = bench.configs_for(bench.parse_args(["--check"]))
    assert config.num_hidden_layers == bench.CHECK_LAYERS and config.hidden_size == 2880
    assert config.vocab_size == 201088 and config.num_experts == 32


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA exit")
def test_skips_without_cuda(bench, capsys, tmp_path):
    assert bench.main(["--out", str(tmp_path / "t")]) == 0
    assert capsys.readouterr().out.startswith("needs CUDA: skipped")
    assert not list(tmp_path.iterdir())


def test_refuses_to_time_when_a_core_falls_back(bench, tmp_path, monkeypatch):
    """No Triton kernels in the model (as after a failed smoke test): exit 3, the reasons written, nothing timed."""
    from gptoss_edu.fast import select

    monkeypatch.setitem(select.CHOOSERS, "cpu", lambda model, report, interpreter: None)
    out = tmp_path / "refused"
    assert bench.main(["--device", "cpu", "--tiny", "--no-peer", "--out", str(out)]) == bench.EXIT_NO_KERNELS
    record = json.loads(out.with_suffix(".json").read_text())
    assert not record["verified"] and [r["metric"] for r in record["rows"]] == ["device-to-device copy bandwidth"]
    problems = record["checks"]["tiny-dry-run"]["core_problems"]
    assert any("plain-torch core" in p for p in problems), problems


@pytest.mark.slow
def test_tiny_dry_run_runs_every_phase(bench, tmp_path):
    pytest.importorskip("triton")
    out = tmp_path / "bench"
    assert bench.main(["--device", "cpu", "--tiny", "--out", str(out)]) == 0
    table = out.with_suffix(".md").read_text()
    assert table.startswith("# gptoss-edu GPU inference benchmark on CPU (tiny dry run, verified)")
    for metric in ("prefill tok/s, 8 tokens", "TTFT ms, 8-token prompt", "decode tok/s, batch 2", "roofline",
                   "MoE core GB/s"):
        assert metric in table, metric
    record = json.loads(out.with_suffix(".json").read_text())
    checks = record["checks"]["tiny-dry-run"]
    assert checks["core_problems"] == [] and checks["agreement"]["argmax_agreement"] == 1.0
    assert checks["agreement_with_fused_router"]["argmax_agreement"] == 1.0
    assert checks["graph_replay_max_abs_error"] == 0.0 and checks["peer"]["attention"] == "eager"
    assert checks["graph_capture_problem"] is None
    assert all(r["peer"] is not None for r in record["rows"] if r["metric"].startswith(("prefill", "decode")))


@pytest.mark.slow
def test_a_failing_peer_keeps_our_timings(bench, tmp_path, monkeypatch):
    pytest.importorskip("triton")

    def broken_peer(*args):
        raise TypeError("this transformers build takes other arguments")

    monkeypatch.setattr(bench, "measure_peer", broken_peer)
    out = tmp_path / "bench"
    assert bench.main(["--device", "cpu", "--tiny", "--out", str(out)]) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["checks"]["tiny-dry-run"]["peer"].startswith("failed: TypeError: this transformers build")
    assert any(r["metric"] == "decode tok/s, batch 1" and r["ours"] for r in record["rows"])


def test_a_disagreement_without_a_routing_flip_marks_the_record_unverified(bench):
    from gptoss_edu.fast.agreement import PathOutput, compare

    logits = torch.zeros(4, 8)
    logits[:, 0] = 5.0
    wrong = logits.clone()
    wrong[2, 3] = 9.0  # one token far off, no routing flip: what a broken kernel looks like
    experts = torch.zeros(2, 4, 2, dtype=torch.long)
    agreement = compare(PathOutput(logits, experts), PathOutput(wrong, experts))
    assert bench.agreement_problems(compare(PathOutput(logits, experts), PathOutput(logits, experts)), 0.0) == []
    problems = bench.agreement_problems(agreement, graph_error=1.0)
    assert len(problems) == 2 and "tokens [2]" in problems[0] and "graph-replayed" in problems[1]
    record = bench.Record(device="test", mode="tiny dry run", torch_version="x", verified=False)
    record.add(bench.Row("m", "decode tok/s, batch 1", 10.0, 5.0, "tok/s"))
    table = record.markdown()
    assert "NOT VERIFIED" in table.splitlines()[0] and "| m | decode tok/s, batch 1 | 10.00 | 5.00 | 2.00 |" in table


def test_a_wrong_fused_router_marks_the_record_unverified(bench):
    from gptoss_edu.fast.agreement import PathOutput, compare

    logits = torch.zeros(4, 8)
    logits[:, 0] = 5.0
    experts = torch.zeros(2, 4, 2, dtype=torch.long)
    same = compare(PathOutput(logits, experts), PathOutput(logits, experts))
    wrong = logits.clone()
    wrong[:, 1] = 7.0  # every token off: what experts chosen by a broken router kernel look like
    routed = compare(PathOutput(logits, experts), PathOutput(wrong))
    assert bench.agreement_problems(same, 0.0, same) == []
    problems = bench.agreement_problems(same, 0.0, routed)
    assert len(problems) == 1 and "with the fused router" in problems[0]
