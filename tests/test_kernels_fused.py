"""RMSNorm fused into the next projection (``kernels/norm_linear.py``) == its torch references, at the real sizes.

Runs under the Triton interpreter on CPU (``tests/conftest.py`` chooses it when there is no
CUDA) and compiled on CUDA. The references are the model's default cores, so a tiny model
with the kernels in gives the torch path's logits (last test).
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from gptoss_edu.kernels.norm_linear import (
    norm_and_route,
    norm_and_route_reference,
    norm_linear,
    norm_linear_reference,
)

from gptoss_edu.config import GPT_OSS_20B, GPT_OSS_120B
from gptoss_edu.fast import accelerate
from gptoss_edu.fast.select import use_torch
from gptoss_edu.model.random_weights import random_state_dict
from gptoss_edu.model.routing import capture_routing
from gptoss_edu.model.transformer import Transformer

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
HIDDEN = GPT_OSS_20B.hidden_size  # 2880: not a power of two, so every chunk loop ends on a partial chunk
TOP = GPT_OSS_20B.experts_per_token


def router_inputs(tokens: int, experts: int, dtype: torch.dtype, seed: int = 0):
    """Activations with a realistic spread, a norm scale, and router weights in ``dtype``."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(tokens, HIDDEN, generator=g) * 2
    scale = torch.rand(HIDDEN, generator=g) + 0.5
    weight = torch.randn(experts, HIDDEN, generator=g) * HIDDEN ** -0.5
    bias = torch.randn(experts, generator=g) * 0.1
    return x.to(DEVICE, dtype), scale.to(DEVICE), weight.to(DEVICE, dtype), bias.to(DEVICE, dtype)


@pytest.mark.parametrize("experts", [GPT_OSS_20B.num_experts, GPT_OSS_120B.num_experts], ids=["20b", "120b"])
@pytest.mark.parametrize("tokens", [1, 8, 19])
def test_router_float32_exact_indices(experts, tokens):
    x, scale, weight, bias = router_inputs(tokens, experts, torch.float32, seed=tokens)
    normed, weights, indices = norm_and_route(x, scale, 1e-5, weight, bias, TOP)
    want_normed, want_weights, want_indices = norm_and_route_reference(x, scale, 1e-5, weight, bias, TOP)
    assert indices.dtype == torch.int64 and indices.shape == (tokens, TOP)
    assert torch.equal(indices, want_indices)
    torch.testing.assert_close(weights, want_weights, atol=1e-6, rtol=0)
    torch.testing.assert_close(normed, want_normed, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("experts", [GPT_OSS_20B.num_experts, GPT_OSS_120B.num_experts], ids=["20b", "120b"])
def test_router_bfloat16_within_one_rounding_step(experts):
    """bf16 logits tie or swap near the cut more often: compare the *logits* chosen, not only the ids."""
    x, scale, weight, bias = router_inputs(8, experts, torch.bfloat16, seed=experts)
    normed, weights, indices = norm_and_route(x, scale, 1e-5, weight, bias, TOP)
    want_normed, want_weights, want_indices = norm_and_route_reference(x, scale, 1e-5, weight, bias, TOP)
    assert normed.dtype == weights.dtype == torch.bfloat16
    torch.testing.assert_close(normed.float(), want_normed.float(), atol=0, rtol=2 ** -7)  # one bf16 step
    logits = torch.nn.functional.linear(want_normed, weight, bias).float()  # (N, E) the reference's logits
    chosen, wanted = logits.gather(1, indices), logits.gather(1, want_indices)
    torch.testing.assert_close(chosen, wanted, atol=0, rtol=2 ** -7)
    assert (indices == want_indices).float().mean() > 0.9
    torch.testing.assert_close(weights.float(), want_weights.float(), atol=1e-2, rtol=0)


def test_router_ties_take_the_lowest_index_and_keep_torch_order_for_distinct_values():
    """Experts 20, 3 and 9 have zero router rows and one bias: exactly equal top logits for every token.

    The kernel lists tied experts lowest index first (torch promises no order for ties); the
    fourth expert, a distinct logit, is torch's; with five tied, the four lowest indices win.
    """
    x, scale, weight, bias = router_inputs(5, 32, torch.float32, seed=5)
    tied = [3, 9, 20]
    weight[tied], bias[tied] = 0.0, 10.0
    _, weights, indices = norm_and_route(x, scale, 1e-5, weight, bias, TOP)
    _, want_weights, want_indices = norm_and_route_reference(x, scale, 1e-5, weight, bias, TOP)
    assert indices[:, :3].tolist() == [tied] * 5 and [sorted(r) for r in want_indices[:, :3].tolist()] == [tied] * 5
    assert torch.equal(indices[:, 3], want_indices[:, 3])
    torch.testing.assert_close(weights, want_weights, atol=1e-6, rtol=0)
    weight[[1, 30]], bias[[1, 30]] = 0.0, 10.0
    assert norm_and_route(x, scale, 1e-5, weight, bias, TOP)[2].tolist() == [[1, 3, 9, 20]] * 5


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("tokens", [1, 8])
def test_norm_qkv_at_the_real_size(dtype, tokens):
    """The attention pre-norm fused into ``qkv`` (2880 -> 5120 with bias)."""
    x, scale, _, _ = router_inputs(tokens, 1, dtype, seed=10 + tokens)
    g = torch.Generator().manual_seed(11)
    weight = (torch.randn(GPT_OSS_20B.qkv_dim, HIDDEN, generator=g) * HIDDEN ** -0.5).to(DEVICE, dtype)
    bias = (torch.randn(GPT_OSS_20B.qkv_dim, generator=g) * 0.1).to(DEVICE, dtype)
    got = norm_linear(x[None], scale, 1e-5, weight, bias)  # (1, T, H): leading dims are kept
    want = norm_linear_reference(x[None], scale, 1e-5, weight, bias)
    assert got.shape == (1, tokens, GPT_OSS_20B.qkv_dim) and got.dtype == dtype
    if dtype == torch.float32:
        torch.testing.assert_close(got, want, atol=2e-6, rtol=1e-6)
    else:  # one rounding step of the output, or of a normed input it read
        torch.testing.assert_close(got.float(), want.float(), atol=2 ** -6, rtol=2 ** -7)


def test_norm_linear_without_bias_and_zero_rows():
    x, scale, weight, _ = router_inputs(3, 40, torch.float32, seed=12)
    torch.testing.assert_close(norm_linear(x, scale, 1e-5, weight, None),
                               norm_linear_reference(x, scale, 1e-5, weight, None), atol=2e-6, rtol=1e-6)
    assert norm_linear(x[:0], scale, 1e-5, weight, None).shape == (0, 40)
    normed, weights, indices = norm_and_route(x[:0], scale, 1e-5, weight, torch.zeros(40, device=DEVICE), TOP)
    assert normed.shape == (0, HIDDEN) and weights.shape == indices.shape == (0, TOP)


def test_bad_operands_name_the_culprit():
    x, scale, weight, bias = router_inputs(2, 32, torch.float32)
    with pytest.raises(ValueError, match="norm scale"):
        norm_linear(x, scale[:-1], 1e-5, weight, bias)
    with pytest.raises(ValueError, match="router weight"):
        norm_and_route(x, scale, 1e-5, weight[:, :-1], bias, TOP)
    with pytest.raises(TypeError, match="router weight/bias"):
        norm_and_route(x, scale, 1e-5, weight.to(torch.bfloat16), bias, TOP)
    with pytest.raises(ValueError, match="experts_per_token"):
        norm_and_route(x, scale, 1e-5, weight, bias, 33)


def test_tiny_model_with_the_fused_cores_gives_the_torch_logits_and_routing_can_be_observed():
    config = GPT_OSS_20B.replace(num_hidden_layers=2, hidden_size=96, intermediate_size=32, num_experts=8,
                                 head_dim=16, num_attention_heads=4, num_key_value_heads=2, sliding_window=4,
                                 vocab_size=128, name="fused-cores-test")
    model = Transformer(config, experts="packed")
    model.load_state_dict(random_state_dict(config, seed=0))
    model = model.to(DEVICE).eval()
    ids = torch.randint(0, config.vocab_size, (2, 6), generator=torch.Generator().manual_seed(1)).to(DEVICE)
    with torch.inference_mode():
        want = model(ids)
        report = accelerate(model, interpreter=True, notice=None)
        try:
            assert report.choices["router"].implementation == "gptoss_edu.kernels.norm_linear.norm_and_route"
            assert report.choices["norm_linear"].implementation == "gptoss_edu.kernels.norm_linear.norm_linear"
            got = model(ids)
            with capture_routing(model) as routing:  # the observer needs the logits: the torch steps route
                observed = model(ids)
        finally:
            use_torch(model)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(observed, want, atol=1e-4, rtol=1e-4)
    assert routing.router_logits.shape == (2, 12, 8) and routing.experts.shape == (2, 12, 4)


@pytest.mark.slow
def test_the_fused_kernels_compile_for_hopper_without_spilling():
    """``python -m gptoss_edu.kernels.sass --only norm`` compiles both kernels in the tiles they pick; no spills."""
    pytest.importorskip("triton")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run([sys.executable, "-m", "gptoss_edu.kernels.sass", "--only", "norm", "--arch", "90"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.strip("|").split("|") for line in done.stdout.splitlines() if line.startswith("| norm")]
    assert len(rows) == 6, done.stdout  # qkv and two routers, decode and prefill
    for row in rows:
        registers, stack, spills = (int(cell) for cell in row[3:6])
        assert 0 < registers <= 255 and stack == 0 and spills == 0, row
