"""``gptoss_edu.fast.launches``: the launch count counts what it should, and fusing lowers it.

On a machine without CUDA the count is the aten proxy and the Triton kernels run under the
interpreter (``tests/conftest.py``); the profiler's count runs only with CUDA.
"""
from __future__ import annotations

import pytest
import torch

from gptoss_edu.config import GPT_OSS_20B
from gptoss_edu.fast import accelerate
from gptoss_edu.fast.launches import _profiled_count, count_launches, launches_kernel, proxy_launches
from gptoss_edu.fast.select import TORCH_CORES, use_torch
from gptoss_edu.model.random_weights import random_model

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
CONFIG = GPT_OSS_20B.replace(num_hidden_layers=2, hidden_size=64, intermediate_size=64, num_experts=8, head_dim=16,
                             num_attention_heads=4, num_key_value_heads=2, sliding_window=4, vocab_size=128,
                             name="launch-count-test")


def test_proxy_counts_two_adds_as_two_launches_and_views_as_none():
    x, y, z = torch.ones(4), torch.ones(4), torch.ones(4)
    assert proxy_launches(lambda: x + y + z).outside == 2
    assert proxy_launches(lambda: (x.view(2, 2).t(), x.split(2), x[1:], x.unsqueeze(0), torch.empty(3))).outside == 0
    weight, bias = torch.ones(3, 4), torch.ones(3)
    assert proxy_launches(lambda: torch.nn.functional.linear(x[None], weight, bias)).ops == {"addmm": 1}
    assert not launches_kernel(torch.ops.aten.view.default) and launches_kernel(torch.ops.aten.add.Tensor)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the proxy and the interpreter: CPU only")
def test_a_triton_launch_counts_once_not_its_interpreter_copies():
    from gptoss_edu.kernels.rmsnorm import rms_norm

    x, scale = torch.randn(3, 64), torch.ones(64)
    count = proxy_launches(lambda: rms_norm(x, scale))
    assert count.triton == 1 and count.ops == {"_rms_norm_kernel": 1}


@pytest.fixture(scope="module")
def model():
    return random_model(CONFIG, DEVICE, dtype=torch.bfloat16, seed=0).eval()


def decode_count(model, batch: int = 1):
    ids = torch.randint(0, CONFIG.vocab_size, (batch, 6), generator=torch.Generator().manual_seed(0)).to(DEVICE)
    cache = model.new_cache(batch_size=batch, capacity=8, fixed_shapes=True)
    with torch.no_grad():
        model(ids[:, :5], cache=cache)
    return count_launches(model, ids[:, 5:], cache)


def test_count_is_per_layer_and_adds_up(model):
    use_torch(model)
    count = decode_count(model)
    assert len(count.per_layer) == len(count.attention) == len(count.moe) == CONFIG.num_hidden_layers
    assert all(a > 0 and m > 0 for a, m in zip(count.attention, count.moe)) and count.outside > 0
    assert count.total == sum(count.per_layer) + count.outside and count.triton == 0


def test_fused_norms_launch_fewer_kernels(model):
    use_torch(model)
    torch_path = decode_count(model, batch=2)
    assert accelerate(model, interpreter=True, notice=None).triton
    try:
        fused = decode_count(model, batch=2)
        model.set_norm_linear_core(TORCH_CORES["norm_linear"])
        model.set_router_core(TORCH_CORES["router"])
        unfused = decode_count(model, batch=2)
    finally:
        use_torch(model)
    assert fused.triton > 0 and fused.total < unfused.total < torch_path.total
    for layer in range(CONFIG.num_hidden_layers):
        assert fused.attention[layer] < unfused.attention[layer] and fused.moe[layer] < unfused.moe[layer]
    assert fused.ops["_norm_route_kernel"] == fused.ops["_norm_linear_kernel"] == CONFIG.num_hidden_layers


def test_the_profiler_count_puts_each_launch_in_its_block(model):
    """The CUDA count's attribution, run on the CPU's profiler with ``addmm`` standing in for a launch:
    two per attention block (qkv and out), one per MoE block's router plus the experts' matmuls."""
    from torch.profiler import ProfilerActivity

    use_torch(model)
    ids = torch.randint(0, CONFIG.vocab_size, (1, 3), generator=torch.Generator().manual_seed(0)).to(DEVICE)

    def run():
        with torch.no_grad():
            model(ids)

    count = _profiled_count(model, run, [ProfilerActivity.CPU], lambda e: e.name == "aten::addmm", "addmm")
    assert count.attention == [2] * CONFIG.num_hidden_layers and count.outside == 0
    assert all(m >= 3 and m % 2 == 1 for m in count.moe)  # the router, then mlp1 and mlp2 per chosen expert
