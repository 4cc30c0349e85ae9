"""The GPU inference path: ``accelerate`` wiring the Triton cores in, the graph-path decode step, the memory budget.

On a machine without CUDA the kernels run under the Triton interpreter on a tiny model and
must give the torch path's logits and tokens; the graph path's step is the model's own
forward pass run eagerly; the CUDA-graph test runs only with CUDA.
"""
from __future__ import annotations

import pytest
import torch

from gptoss_edu.config import GPT_OSS_20B, GPT_OSS_120B, TINY, bytes_per_decoded_token
from gptoss_edu.fast import accelerate
from gptoss_edu.fast.gpu import memory_budget
from gptoss_edu.fast.gpu_decode import DecodeGraph
from gptoss_edu.fast.gpu_decode import generate as graph_generate
from gptoss_edu.fast.select import CHOOSERS, choose_cuda, use_torch, uses_kernels
from gptoss_edu.model.generation import generate
from gptoss_edu.model.random_weights import random_model, random_state_dict
from gptoss_edu.model.transformer import Transformer

# Two layers (one sliding, one full), a 4-token window so decoding wraps the ring, a short vocabulary.
CONFIG = TINY.replace(hidden_size=32, intermediate_size=32, num_experts=4, experts_per_token=2, head_dim=16,
                      num_attention_heads=4, num_key_value_heads=2, sliding_window=4, vocab_size=256,
                      name="gpu-path-test")
GiB = 1 << 30
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # the kernels: compiled on CUDA, else interpreted


@pytest.fixture(scope="module")
def model():
    model = Transformer(CONFIG, experts="packed")
    model.load_state_dict(random_state_dict(CONFIG, seed=0))
    return model.to(DEVICE).eval()


def test_kernels_give_the_torch_logits_prefill_then_decode(model):
    ids = torch.randint(0, CONFIG.vocab_size, (9,), generator=torch.Generator().manual_seed(1)).to(DEVICE)
    with torch.inference_mode():
        use_torch(model)
        cache = model.new_cache(capacity=16)
        want = torch.cat([model(ids[:7], cache=cache), model(ids[7:8], cache=cache), model(ids[8:], cache=cache)])
        assert accelerate(model, interpreter=True).triton and uses_kernels(model)
        try:
            cache = model.new_cache(capacity=16)
            got = torch.cat([model(ids[:7], cache=cache), model(ids[7:8], cache=cache), model(ids[8:], cache=cache)])
        finally:
            use_torch(model)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kernels", [False, True], ids=["torch", "triton"])
def test_graph_path_decode_step_matches_the_model_forward(model, kernels):
    """``DecodeGraph.step`` (run eagerly here: the code a graph records) gives the full forward's logits."""
    ids = torch.randint(0, CONFIG.vocab_size, (6,), generator=torch.Generator().manual_seed(2)).to(DEVICE)
    with torch.inference_mode():
        use_torch(model)
        want = model(ids)
        cache = model.new_cache(capacity=12)
        model(ids[:3], cache=cache)
        assert not kernels or accelerate(model, interpreter=True).triton
        decoder = DecodeGraph(model, cache)
        try:
            got = [decoder.step(ids[p:p + 1])[0] for p in range(3, 6)]  # past the 4-slot ring of layer 0
        finally:
            use_torch(model)
    torch.testing.assert_close(torch.stack(got), want[3:], atol=1e-4, rtol=1e-4)
    assert len(cache) == 6 and int(cache.offset) == 6 and sorted(cache[0].positions.tolist()) == [2, 3, 4, 5]
    assert cache.fixed_shapes and cache[1].positions[:6].tolist() == list(range(6))


def test_rope_tables_cover_what_the_cache_can_hold(model):
    """The graph's RoPE tables are allocated once, for every position the cache may reach, and kept alive."""
    cache = model.new_cache(capacity=40)
    decoder = DecodeGraph(model, cache)
    assert cache.room_left() == 40 and decoder.rope_tables[0].shape[0] >= 40


def test_graph_generate_gives_the_plain_tokens(model):
    prompt = [5, 17, 99, 3]
    with torch.inference_mode():
        want = list(generate(model, prompt, 6, stop_tokens=[]))
        got = list(graph_generate(model, prompt, 6, stop_tokens=[]))
    assert got == want


def test_decode_graph_refuses_to_outgrow_its_cache(model):
    cache = model.new_cache(capacity=3)
    with torch.inference_mode():
        model(torch.tensor([1, 2], device=DEVICE), cache=cache)
        decoder = DecodeGraph(model, cache)
        decoder.step(torch.tensor([3], device=DEVICE))
        with pytest.raises(ValueError, match="KV cache is full"):
            decoder.step(torch.tensor([4], device=DEVICE))


def test_reports_each_core_and_falls_back_to_torch_with_one_line_notice(monkeypatch):
    meta_model = Transformer(CONFIG, device="meta")
    lines = []
    report = accelerate(meta_model, notice=lines.append)  # no chooser for this device: the torch cores, silently
    assert not report.triton and not uses_kernels(meta_model) and lines == []
    assert set(report.choices) == {"attention", "experts", "rope_store", "norm_linear", "router"}
    assert report.choices["experts"].implementation == "gptoss_edu.model.moe.grouped_experts"
    monkeypatch.setitem(CHOOSERS, "meta", choose_cuda)  # a chooser that wants the Triton kernels, which cannot run
    report = accelerate(meta_model, notice=lines.append)
    assert not report.triton and not uses_kernels(meta_model)
    assert len(lines) == 1 and "plain-torch" in lines[0] and "need CUDA" in lines[0]
    assert report.fallbacks and "fallback" in str(report)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graph_decode_gives_the_torch_tokens():
    model = random_model(CONFIG.replace(vocab_size=1024), device="cuda", dtype=torch.bfloat16, seed=3)
    prompt = list(range(1, 40))
    with torch.inference_mode():
        want = list(generate(model, prompt, 24, stop_tokens=[]))
        assert accelerate(model).triton
        got = list(graph_generate(model, prompt, 24, stop_tokens=[]))
    agree = sum(a == b for a, b in zip(got, want))
    assert got[:4] == want[:4] and agree >= 20, (got, want)  # bf16 rounding may flip a late near-tie


def test_random_model_has_checkpoint_distributions():
    model = random_model(CONFIG, device="cpu", dtype=torch.bfloat16, seed=4)
    scales = model.block[0].mlp.mlp1_weight.scales
    assert scales.min() >= 118 and scales.max() <= 124
    assert 0.01 < model.embedding.weight.float().std() < 0.03


@pytest.mark.parametrize("config, gpu_bytes", [(GPT_OSS_20B, 24 * GiB), (GPT_OSS_120B, 80 * GiB)])
def test_full_size_models_fit_one_gpu(config, gpu_bytes):
    """Weights as stored, an 8k-token cache and a 2048-token prefill's buffers fit with room to spare."""
    budget = memory_budget(config, context=8192, batch=1, prefill_tokens=2048)
    assert budget["total"] < 0.9 * gpu_bytes, budget
    assert budget["weights"] > bytes_per_decoded_token(config)["total"]  # sanity: a token reads a fraction


def test_budget_weights_are_the_loaded_model_bytes():
    model = Transformer(CONFIG, device="meta", dtype=torch.bfloat16, experts="packed")
    held = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    assert memory_budget(CONFIG)["weights"] == pytest.approx(held, rel=1e-9)


def test_merge_partials_checker_accepts_the_library_and_rejects_a_plain_sum(library_answers_allowed):
    from gptoss_edu.exercises import ExerciseError
    from gptoss_edu.exercises.gpu import check_merge_partials
    from gptoss_edu.model.flash import merge_partials

    check_merge_partials(merge_partials)
    with pytest.raises(ExerciseError, match="merge_partials"):
        check_merge_partials(lambda ma, la, aa, mb, lb, ab: (torch.maximum(ma, mb), la + lb, aa + ab))
