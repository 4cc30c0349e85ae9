"""gptoss_edu.parallel on real gloo process groups of 2 and 4 CPU processes, against the single-process model.

Each world size is one spawned job that loads both layouts in both modes and returns what
every rank saw; the assertions then run here. Spawning costs seconds, so tests share jobs.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import parallel_jobs
import pytest
import torch
from model_helpers import relative_error, single_thread  # noqa: F401  (one thread per test module)

import gptoss_edu
from gptoss_edu.config import TINY
from gptoss_edu.parallel import check_world_size, run_parallel
from gptoss_edu.parallel.launch import free_port
from gptoss_edu.parallel.loader import check_devices
from gptoss_edu.parallel.sharding import ShardPlan
from weights_tools.synthetic import write_checkpoint

# 8 query heads over 4 KV heads, 8 experts, intermediate 128 = 4 MXFP4 blocks: splits 2 and 4 ways.
CFG = TINY.replace(num_experts=8, intermediate_size=128, head_dim=16, num_attention_heads=8, num_key_value_heads=4,
                   sliding_window=16, vocab_size=510, name="parallel-test")
LENGTH, NEW_TOKENS = 24, 6  # longer than the 16-token window
JOB_TIMEOUT_S = 400


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("parallel")
    return {"original": str(write_checkpoint(root / "original", CFG, "original", seed=3)),
            "hf": str(write_checkpoint(root / "hf", CFG, "hf", seed=3, shard_bytes=100_000))}


@pytest.fixture(scope="module")
def single(folders) -> dict:
    model = gptoss_edu.load_model(folders["original"], progress=False)
    ids = parallel_jobs.prompt(CFG, LENGTH)
    return {
        "logits": model(ids),
        "batch": model(torch.stack([ids[:8], ids[8:16]])),
        "greedy": list(gptoss_edu.generate(model, ids[:12], NEW_TOKENS, stop_tokens=())),
        "sampled": list(gptoss_edu.generate(model, ids[:12], NEW_TOKENS, temperature=1.0, stop_tokens=(), seed=1000)),
        "bytes": sum(t.numel() * t.element_size() for t in model.state_dict().values()),
        "replicated": sum(t.numel() * t.element_size() for n, t in model.state_dict().items()
                          if n.endswith("norm.scale") or ".mlp.gate." in n),
    }


@pytest.mark.slow
@pytest.mark.parametrize("world_size", [2, 4])
def test_split_model_matches_one_process(folders, single, world_size, tmp_path):
    unsplittable = None
    if world_size == 4:  # 6 experts cannot be split 4 ways: expert mode must say so, tensor mode works
        unsplittable = str(write_checkpoint(tmp_path / "odd", CFG.replace(num_experts=6), "original", seed=1))
    ranks = run_parallel(parallel_jobs.split_and_compare, world_size,
                         args=(folders, LENGTH, NEW_TOKENS, unsplittable), timeout_s=JOB_TIMEOUT_S)
    for rank_errors in (r.pop("errors") for r in ranks if "errors" in r):
        assert rank_errors["tensor"] == ""
        assert "world size 4" in rank_errors["expert"] and "num_experts=6" in rank_errors["expert"]
    for (layout, mode), _ in ranks[0].items():
        for rank, results in enumerate(ranks):
            got, where = results[layout, mode], f"{layout} {mode} rank {rank}/{world_size}"
            assert relative_error(got["logits"], single["logits"]) < 1e-5, where
            assert relative_error(got["cached"], single["logits"]) < 1e-5, where
            assert relative_error(got["batch"], single["batch"]) < 1e-5, where
            assert got["greedy"] == single["greedy"], where
            assert got["sampled"] == single["sampled"], where  # rank 0 (seed 1000) decided on every rank
            report = got["report"]
            assert report.whole_model_bytes == single["bytes"], where
            assert abs(report.resident_bytes - report.expected_bytes) < 0.03 * report.expected_bytes, where
            # independently of the plan: 1/world of what is split, plus the norms and routers everyone holds
            extra = mode == "tensor" and rank == 0  # mlp2 biases are only held whole there, as zeros elsewhere
            share = (single["bytes"] - single["replicated"]) / world_size + single["replicated"]
            assert abs(report.resident_bytes - share) < (0.06 if extra else 0.05) * share, where
        sent = [r[layout, mode]["sent"] for r in ranks]
        assert all(s["all_reduce"] > 0 and s["all_gather"] > 0 for s in sent)
        assert all(("all_to_all" in s) == (mode == "expert") for s in sent)


@pytest.mark.slow
def test_split_model_runs_the_triton_cores_like_one_process(folders, single):
    """``accelerate`` on a split model (kernels under the interpreter): the split wraps the Triton cores, same logits."""
    pytest.importorskip("triton")
    ranks = run_parallel(parallel_jobs.split_with_interpreted_kernels, 2,
                         args=(folders["original"], LENGTH, 3), timeout_s=JOB_TIMEOUT_S)
    wrapper = {"tensor": "AllReducedExperts", "expert": "ExpertDispatch"}
    for rank, results in enumerate(ranks):
        for mode, got in results.items():
            where = f"{mode} rank {rank}/2"
            assert got["triton"], where
            assert got["experts_cores"] == {(wrapper[mode], "triton_experts_core")}, where
            assert relative_error(got["logits"], single["logits"]) < 1e-5, where
            assert got["greedy"] == single["greedy"][:3], where


def test_plan_errors_name_the_numbers():
    with pytest.raises(ValueError, match=r"world size 3 .*num_key_value_heads=4"):
        check_world_size(CFG, "tensor", 3)
    with pytest.raises(ValueError, match=r"num_experts=8"):
        check_world_size(CFG.replace(num_key_value_heads=2, num_attention_heads=4), "expert", 16)
    with pytest.raises(ValueError, match=r"intermediate_size=64, which holds only 2 MXFP4 blocks"):
        check_world_size(CFG.replace(intermediate_size=64), "tensor", 4)
    with pytest.raises(ValueError, match="mode must be"):
        ShardPlan(CFG, "pipeline", 0, 2)
    with pytest.raises(ValueError, match="4 ranks run on this machine but it has 2 CUDA device"):
        check_devices("cuda", "nccl", local_world_size=4, cuda_devices=2)
    with pytest.raises(ValueError, match="NCCL.*'cpu'"):
        check_devices("cpu", "nccl", local_world_size=2, cuda_devices=0)


def test_plan_slices_keep_gate_linear_pairs_and_mxfp4_blocks():
    config = CFG.replace(intermediate_size=96)  # 3 blocks over 2 ranks: 2 + 1
    plans = [ShardPlan(config, "tensor", r, 2) for r in range(2)]
    assert [p.intermediate for p in plans] == [(0, 64), (64, 96)]
    assert plans[1].index("block.0.mlp.mlp1_weight.blocks")[1] == slice(128, 192)  # rows 2*64 .. 2*96
    assert plans[1].index("block.0.mlp.mlp2_weight.scales")[2] == slice(2, 3)  # block 2 of the columns
    assert plans[1].index("block.0.mlp.mlp2_bias") is None and plans[0].index("block.0.mlp.mlp2_bias") is not None


def test_a_failing_rank_fails_the_job_instead_of_hanging():
    with pytest.raises(RuntimeError, match="(?s)rank 1 of 2 failed.*ZeroDivisionError"):
        run_parallel(parallel_jobs.fail_on_rank_1, 2, timeout_s=120)


@pytest.mark.slow
def test_torchrun_entry_point_generates_like_one_process(folders, single):
    """``python -m torch.distributed.run -m gptoss_edu.parallel`` (what ``torchrun`` is), 2 gloo ranks on 127.0.0.1."""
    prompt = parallel_jobs.prompt(CFG, LENGTH)[:12].tolist()
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
               "--master-port", str(free_port()), "-m", "gptoss_edu.parallel", folders["hf"], "--mode", "tensor",
               "--device", "cpu", "--prompt-ids", ",".join(map(str, prompt)), "--max-new-tokens", str(NEW_TOKENS)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=JOB_TIMEOUT_S,
                            env={**os.environ, "GLOO_SOCKET_IFNAME": "lo"})
    assert result.returncode == 0, result.stderr[-3000:]
    reports = [line for line in result.stdout.splitlines() if line.startswith("rank ")]
    assert len(reports) == 2 and all("(tensor)" in r for r in reports)
    assert json.loads(result.stdout.splitlines()[-1]) == single["greedy"]
