"""Each layer against the matching module of OpenAI's reference (float32), on random weights."""
from __future__ import annotations

import pytest
import torch
from model_helpers import TEST_CONFIG, build_model, relative_error, single_thread  # noqa: F401  (autouse fixture)

import gptoss_edu.model.moe as moe
from gptoss_edu.io.hf_config import to_hf_dict
from gptoss_edu.model.attention import attention_mask, attention_with_sinks
from gptoss_edu.model.mxfp4 import dequantize_state_dict
from gptoss_edu.model.norm import RMSNorm
from gptoss_edu.model.rope import RotaryEmbedding, yarn_concentration_and_inv_freq

T = 200  # beyond the 128-token window


@pytest.fixture(scope="module")
def model():
    return build_model()


@pytest.fixture(scope="module")
def ref_config(reference_model):
    return reference_model.ModelConfig(**TEST_CONFIG.to_original_dict())


def hidden(seed: int, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, TEST_CONFIG.hidden_size, generator=torch.Generator().manual_seed(seed))


def reference_module(module: torch.nn.Module, ours: torch.nn.Module) -> torch.nn.Module:
    """Load ``ours``' weights (experts decoded) into the reference ``module``, in float32."""
    module.load_state_dict(dequantize_state_dict(ours.state_dict()))
    return module.float().eval()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rms_norm_equals_reference(reference_model, dtype):
    scale = 1 + 0.1 * torch.randn(TEST_CONFIG.hidden_size)
    ours, theirs = RMSNorm(TEST_CONFIG.hidden_size), reference_model.RMSNorm(TEST_CONFIG.hidden_size)
    ours.scale.data.copy_(scale)
    theirs.scale.data.copy_(scale)
    x = hidden(0, 7).to(dtype) * 3
    assert torch.equal(ours(x), theirs(x))
    assert ours(x).dtype == dtype


def test_rope_equals_reference_with_yarn(reference_model):
    c = TEST_CONFIG
    theirs = reference_model.RotaryEmbedding(
        c.head_dim, c.rope_theta, torch.float32, initial_context_length=c.initial_context_length,
        scaling_factor=c.rope_scaling_factor, ntk_alpha=c.rope_ntk_alpha, ntk_beta=c.rope_ntk_beta,
    )
    q = torch.randn(T, c.num_attention_heads, c.head_dim)
    k = torch.randn(T, c.num_key_value_heads, c.head_dim)
    expected_q, expected_k = theirs(q, k)
    rope = RotaryEmbedding(c)
    got_q, got_k = rope(q, k)
    torch.testing.assert_close(got_q, expected_q, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(got_k, expected_k, rtol=1e-6, atol=1e-6)
    # a later chunk at its absolute positions (what a KV cache does) rotates the same way
    late_q, late_k = rope(q[150:], k[150:], start=150)
    torch.testing.assert_close(late_q, expected_q[150:], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(late_k, expected_k[150:], rtol=1e-6, atol=1e-6)


def test_yarn_frequencies_equal_transformers():
    transformers = pytest.importorskip("transformers")
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    hf_config = transformers.GptOssConfig(**to_hf_dict(TEST_CONFIG))
    inv_freq, attention_factor = ROPE_INIT_FUNCTIONS["yarn"](hf_config, torch.device("cpu"))
    c = TEST_CONFIG
    concentration, ours = yarn_concentration_and_inv_freq(
        c.head_dim, c.rope_theta, c.rope_scaling_factor, c.initial_context_length, c.rope_ntk_alpha, c.rope_ntk_beta,
    )
    assert concentration == pytest.approx(attention_factor, rel=1e-12)
    torch.testing.assert_close(ours, inv_freq.float(), rtol=1e-6, atol=0)


@pytest.mark.parametrize("layer", [0, 1], ids=["sliding", "full"])
def test_attention_block_equals_reference(reference_model, ref_config, model, layer):
    ours = model.block[layer].attn
    theirs = reference_module(reference_model.AttentionBlock(ref_config, layer_idx=layer), ours)
    x = hidden(layer, T)
    with torch.no_grad():
        assert relative_error(ours(x[None])[0], theirs(x)) < 1e-6


def test_sliding_window_sees_exactly_128_keys_including_itself():
    positions = torch.arange(300)
    visible = attention_mask(positions, positions, sliding_window=128)
    assert visible[250].nonzero().flatten().tolist() == list(range(123, 251))
    assert attention_mask(positions, positions)[250].sum() == 251  # full layer: the whole causal prefix
    assert not attention_mask(positions[:1], torch.tensor([-1, 0]))[0, 0]  # empty cache slot


def test_sinks_take_probability_mass_without_adding_value():
    q = torch.randn(1, 5, 2, 2, 8)  # (B, T, KV, G, D)
    k = torch.randn(1, 5, 2, 8)
    v = torch.ones(1, 5, 2, 8)  # every value 1: the output is the total attention weight
    positions = torch.arange(5)
    no_sink = attention_with_sinks(q, k, v, torch.full((4,), -1e9), 0.5, positions, positions)
    strong_sink = attention_with_sinks(q, k, v, torch.full((4,), 1e9), 0.5, positions, positions)
    torch.testing.assert_close(no_sink, torch.ones_like(no_sink))
    torch.testing.assert_close(strong_sink, torch.zeros_like(strong_sink))


@pytest.mark.parametrize("experts", ["packed", "dequantized"])
def test_moe_block_equals_reference(reference_model, ref_config, model, experts):
    ours = model.block[1].mlp if experts == "packed" else build_model(experts=experts).block[1].mlp
    theirs = reference_module(reference_model.MLPBlock(ref_config), ours)
    x = hidden(5, T)
    with torch.no_grad():
        assert relative_error(ours(x[None])[0], theirs(x)) < 1e-6


def test_router_picks_top4_and_softmaxes_only_those(reference_model, ref_config, model):
    mlp = model.block[0].mlp
    theirs = reference_module(reference_model.MLPBlock(ref_config), mlp)
    t = mlp.norm(hidden(6, T))
    with torch.no_grad():
        logits = mlp.gate(t)
        weights, indices = moe.route(logits, TEST_CONFIG.experts_per_token)
        expected = torch.topk(theirs.gate(theirs.norm(hidden(6, T))), k=4, dim=-1, sorted=True)
    assert torch.equal(indices, expected.indices)
    torch.testing.assert_close(weights, torch.softmax(expected.values, dim=-1))
    torch.testing.assert_close(weights.sum(-1), torch.ones(T))


def test_swiglu_clamps_gates_and_adds_one(reference_model):
    x = torch.randn(10, 2 * 64) * 10  # beyond the +-7 clamp
    torch.testing.assert_close(moe.swiglu(x), reference_model.swiglu(x), rtol=0, atol=0)


def test_grouped_dispatch_decodes_each_selected_expert_once(model, monkeypatch):
    decoded = []
    real = moe.expert_matrix

    def counting(weight, expert, dtype):
        decoded.append(expert)
        return real(weight, expert, dtype)

    monkeypatch.setattr(moe, "expert_matrix", counting)
    mlp = model.block[0].mlp
    x = hidden(7, 1, 30)
    with torch.no_grad():
        _, indices = moe.route(mlp.gate(mlp.norm(x))[0], TEST_CONFIG.experts_per_token)
        mlp(x)
    selected = sorted(set(indices.flatten().tolist()))
    assert sorted(decoded) == sorted(selected * 2)  # mlp1 and mlp2 of each selected expert, once each
