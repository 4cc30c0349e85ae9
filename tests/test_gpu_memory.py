"""The context-length memory table, its doc, and the loader's free-memory check (on the CPU: free memory injected)."""
from __future__ import annotations

import pytest
import torch
from conftest import ROOT

from gptoss_edu.config import GPT_OSS_20B, GPT_OSS_120B, TINY
from gptoss_edu.fast import gpu
from gptoss_edu.fast.gpu import (
    GpuMemoryError,
    check_gpu_memory,
    context_bytes,
    longest_context,
    memory_budget,
    memory_doc,
    memory_table,
    prefill_bytes,
    serving_budget,
)
from gptoss_edu.io.checkpoint import load_model
from gptoss_edu.model.generation import PREFILL_CHUNK
from gptoss_edu.model.kvcache import KVCache
from gptoss_edu.model.rope import RotaryEmbedding
from weights_tools.synthetic import write_checkpoint

DOC = ROOT / "docs" / "gpu_memory.md"


def test_doc_is_the_generated_table():
    assert DOC.read_text() == memory_doc(), "regenerate: python -m gptoss_edu.fast.gpu > docs/gpu_memory.md"


def test_table_rows_and_what_grows_with_the_context():
    rows = {(r["model"], r["context"]): r for r in memory_table()}
    assert set(rows) == {(c.name, n) for c in (GPT_OSS_20B, GPT_OSS_120B) for n in (8192, 32768, 131072)}
    for config in (GPT_OSS_20B, GPT_OSS_120B):
        short, long = rows[config.name, 8192], rows[config.name, 131072]
        assert short["weights"] == long["weights"] == memory_budget(config)["weights"]
        assert short["prefill"] == long["prefill"]  # chunked: the transients do not grow with the prompt
        assert long["kv_cache"] > 15 * short["kv_cache"]
        assert long["total"] == pytest.approx(long["weights"] + long["kv_cache"] + long["prefill"])
    assert rows["gpt-oss-120b", 8192]["total"] <= 70e9  # the goal: 120b in at most 70 GB at 8k


def test_context_bytes_are_what_a_cache_and_rope_tables_hold():
    context = 512  # a power of two: the RoPE tables are allocated at exactly this length
    cache = KVCache(TINY, capacity=context, dtype=torch.bfloat16)
    held = sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values, layer.positions))
    cos, sin = RotaryEmbedding(TINY).cos_sin(context, "cpu")
    held += cos.numel() * cos.element_size() + sin.numel() * sin.element_size()
    assert context_bytes(TINY, context) == held


def test_last_position_logits_remove_the_per_token_logits():
    all_rows, last = prefill_bytes(GPT_OSS_20B, 4096), prefill_bytes(GPT_OSS_20B, 4096, logits="last")
    assert all_rows - last == (4096 - 1) * GPT_OSS_20B.vocab_size * 2
    assert serving_budget(GPT_OSS_20B, 131072)["prefill"] == prefill_bytes(GPT_OSS_20B, PREFILL_CHUNK, logits="last")
    assert prefill_bytes(GPT_OSS_20B, 2 * PREFILL_CHUNK, logits="last") > 1.9 * serving_budget(GPT_OSS_20B, 8192)["prefill"]


def test_check_passes_with_room_and_names_everything_without():
    need = serving_budget(GPT_OSS_120B, 131072)["total"]
    assert check_gpu_memory(GPT_OSS_120B, "cuda:0", 131072, free_bytes=int(need) + 1)["total"] == need
    with pytest.raises(GpuMemoryError) as raised:
        check_gpu_memory(GPT_OSS_120B, "cuda:0", 131072, free_bytes=int(67e9))
    message = str(raised.value)
    fits = longest_context(GPT_OSS_120B, 67e9, serving_budget(GPT_OSS_120B, 1)["weights"])
    assert 8192 < fits < 131072
    for part in ("gpt-oss-120b", "131,072-token context", f"needs {need / 1e9:.2f} GB", "67.00 GB is free",
                 f"context={fits}", "cuda:0"):
        assert part in message, (part, message)
    with pytest.raises(GpuMemoryError, match="weights alone do not fit"):
        check_gpu_memory(GPT_OSS_120B, "cuda", 8192, free_bytes=int(40e9))
    with pytest.raises(ValueError, match="context must be a number of tokens from 1 to 131072"):
        check_gpu_memory(GPT_OSS_20B, "cuda", 0, free_bytes=10**12)


def test_longest_context_is_the_edge():
    weights = serving_budget(GPT_OSS_20B, 1)["weights"]
    free = 15e9
    fits = longest_context(GPT_OSS_20B, free, weights)
    assert serving_budget(GPT_OSS_20B, fits)["total"] <= free < serving_budget(GPT_OSS_20B, fits + 1)["total"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    config = TINY.replace(vocab_size=1024, name="tiny")
    return write_checkpoint(tmp_path_factory.mktemp("gpu_memory") / "tiny", config, "original", seed=1)


def test_loader_checks_free_gpu_memory_before_allocating(checkpoint, monkeypatch):
    asked = []
    monkeypatch.setattr(gpu, "free_gpu_bytes", lambda device: asked.append(str(device)) or 1000)
    with pytest.raises(GpuMemoryError, match=r"with a 4,096-token context needs .* but 0\.00 GB is free"):
        load_model(checkpoint, device="cuda", dtype=torch.bfloat16, progress=False, context=4096)
    assert asked == ["cuda"]
    with pytest.raises(ValueError, match="context must be"):
        load_model(checkpoint, device="cuda", progress=False, context=10**9)


@pytest.mark.skipif(torch.cuda.is_available(), reason="what a torch without CUDA says")
def test_loader_without_cuda_says_so(checkpoint):
    with pytest.raises(ValueError, match="sees no CUDA device; load the model with device='cpu'"):
        load_model(checkpoint, device="cuda", progress=False)


def test_free_gpu_bytes_counts_what_torch_cached_from_freed_tensors(monkeypatch):
    """Memory of freed tensors stays reserved by torch's allocator: the driver calls it taken, torch can reuse it."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (10 * 2**30, 140 * 2**30))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device: 90 * 2**30)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device: 30 * 2**30)
    assert gpu.free_gpu_bytes("cuda") == 70 * 2**30  # 10 free on the driver + 60 cached by torch
