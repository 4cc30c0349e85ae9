"""The fast MXFP4 MoE kernels (GPU layout) == ``moe_experts_reference``, and ``accelerate`` wires them in.

Runs under the Triton interpreter on CPU (``tests/conftest.py`` switches it on without CUDA).
"""
from __future__ import annotations

import pytest
import torch
from gptoss_edu.kernels import moe_fast
from gptoss_edu.kernels.moe import moe_experts_reference
from gptoss_edu.kernels.moe_fast import k_blocks, moe_experts_fast
from test_kernels_moe import DEVICE, random_experts, random_routing

from gptoss_edu.config import TINY
from gptoss_edu.fast import accelerate
from gptoss_edu.fast.fast_experts import FastExpertsCore
from gptoss_edu.fast.mxfp4_layout import prepare
from gptoss_edu.fast.select import use_torch, uses_kernels
from gptoss_edu.model.random_weights import random_state_dict
from gptoss_edu.model.transformer import Transformer


def run_both(weights: dict[str, torch.Tensor], x: torch.Tensor, indices: torch.Tensor, routing: torch.Tensor):
    mlp1 = prepare(weights["mlp1_blocks"], weights["mlp1_scales"], gate_linear_split=True)
    mlp2 = prepare(weights["mlp2_blocks"], weights["mlp2_scales"])
    got = moe_experts_fast(x, indices, routing, mlp1, weights["mlp1_bias"], mlp2, weights["mlp2_bias"])
    return got, moe_experts_reference(x, indices, routing, **weights)


def test_decode_at_the_real_20b_sizes_float32():
    """Two tokens, 32 experts of 2880 x 2880, top-4: a batch-2 decode step (about 15 s interpreted)."""
    weights = random_experts(32, 2880, 2880, seed=20)
    indices, routing = random_routing(2, 32, 4, seed=20)
    x = torch.randn(2, 2880, generator=torch.Generator().manual_seed(21)).to(DEVICE) * 0.1
    got, want = run_both(weights, x, indices, routing)
    torch.testing.assert_close(got, want, atol=1e-5 * want.abs().max().item(), rtol=1e-5)


def test_grouped_prefill_at_the_real_20b_sizes_float32(monkeypatch):
    """16 tokens routed among 4 of the 32 experts (so the interpreter decodes 4 experts, not 32): the
    grouped tile, 16 rows per expert; the threshold is lowered so that this batch takes it (about 10 s)."""
    monkeypatch.setattr(moe_fast, "GROUPED_FROM_ROWS_PER_EXPERT", 1)
    weights = random_experts(32, 2880, 2880, seed=22)
    g = torch.Generator().manual_seed(22)
    indices = torch.stack([torch.randperm(4, generator=g) for _ in range(16)]).to(DEVICE)  # (16, 4): experts 0..3
    routing = torch.softmax(torch.randn(16, 4, generator=g), -1).to(DEVICE)
    x = torch.randn(16, 2880, generator=torch.Generator().manual_seed(23)).to(DEVICE) * 0.1
    got, want = run_both(weights, x, indices, routing)
    torch.testing.assert_close(got, want, atol=1e-5 * want.abs().max().item(), rtol=1e-5)


@pytest.mark.parametrize("tokens, num_experts, k, hidden, intermediate",
                         [(1, 8, 2, 64, 64), (5, 8, 4, 96, 160), (3, 4, 1, 2880, 64)])
def test_decode_tile_matches_reference_float32(tokens, num_experts, k, hidden, intermediate):
    weights = random_experts(num_experts, hidden, intermediate)
    indices, routing = random_routing(tokens, num_experts, k)
    x = torch.randn(tokens, hidden, generator=torch.Generator().manual_seed(1)).to(DEVICE) * 0.1
    got, want = run_both(weights, x, indices, routing)
    assert got.shape == (tokens, hidden) and got.dtype == x.dtype
    torch.testing.assert_close(got, want, atol=1e-5 * want.abs().max().item(), rtol=1e-5)


@pytest.mark.parametrize("tile", [(16, 32, 64, 4), (32, 64, 32, 8), (16, 128, 128, 4)])
def test_every_candidate_tile_computes_the_same(tile):
    """The tuner may pick any tile (``gptoss_edu.fast.moe_tuning``): each gives the reference's numbers."""
    weights = random_experts(8, 96, 160, seed=5)
    indices, routing = random_routing(5, 8, 4, seed=5)
    x = torch.randn(5, 96, generator=torch.Generator().manual_seed(6)).to(DEVICE) * 0.1
    mlp1 = prepare(weights["mlp1_blocks"], weights["mlp1_scales"], gate_linear_split=True)
    mlp2 = prepare(weights["mlp2_blocks"], weights["mlp2_scales"])
    got = moe_experts_fast(x, indices, routing, mlp1, weights["mlp1_bias"], mlp2, weights["mlp2_bias"], tile=tile)
    want = moe_experts_reference(x, indices, routing, **weights)
    torch.testing.assert_close(got, want, atol=1e-5 * want.abs().max().item(), rtol=1e-5)


def test_grouped_prefill_tile_matches_reference_float32(monkeypatch):
    """Many rows per expert take the grouped tile (threshold lowered so a small batch reaches it)."""
    monkeypatch.setattr(moe_fast, "GROUPED_FROM_ROWS_PER_EXPERT", 1)
    weights = random_experts(6, 2880, 96, seed=3)
    indices, routing = random_routing(48, 6, 4, seed=3)
    x = torch.randn(48, 2880, generator=torch.Generator().manual_seed(4)).to(DEVICE) * 0.1
    got, want = run_both(weights, x, indices, routing)
    torch.testing.assert_close(got, want, atol=1e-5 * want.abs().max().item(), rtol=1e-5)


def test_bfloat16_within_one_rounding_step():
    weights = random_experts(8, 96, 64, seed=5)
    weights = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in weights.items()}
    indices, routing = random_routing(7, 8, 4, seed=5)
    x = (torch.randn(7, 96, generator=torch.Generator().manual_seed(6)) * 0.1).to(DEVICE, torch.bfloat16)
    got, want = run_both(weights, x, indices, routing)
    assert got.dtype == torch.bfloat16
    step = torch.finfo(torch.bfloat16).eps * want.float().abs().max().item()
    torch.testing.assert_close(got.float(), want.float(), atol=step, rtol=0)


def test_k_blocks_cover_the_columns_without_masks():
    assert k_blocks(2880, 256) == {"BLOCK_K": 256, "TAIL_K": 64}
    assert k_blocks(96, 512) == {"BLOCK_K": 64, "TAIL_K": 32}
    assert k_blocks(64, 256) == {"BLOCK_K": 64, "TAIL_K": 64}


def test_rejects_an_mlp1_without_the_gate_linear_split():
    weights = random_experts(2, 64, 32)
    indices, routing = random_routing(2, 2, 1)
    mlp = prepare(weights["mlp1_blocks"], weights["mlp1_scales"])
    with pytest.raises(ValueError, match="gate_linear_split"):
        moe_experts_fast(torch.zeros(2, 64, device=DEVICE), indices, routing, mlp, weights["mlp1_bias"],
                         prepare(weights["mlp2_blocks"], weights["mlp2_scales"]), weights["mlp2_bias"])


CONFIG = TINY.replace(hidden_size=64, intermediate_size=64, num_experts=4, experts_per_token=2, head_dim=16,
                      num_attention_heads=4, num_key_value_heads=2, sliding_window=4, vocab_size=256,
                      name="moe-fast-test")


def test_accelerated_tiny_model_gives_the_torch_logits():
    model = Transformer(CONFIG, experts="packed")
    model.load_state_dict(random_state_dict(CONFIG, seed=0))
    model = model.to(DEVICE).eval()
    ids = torch.randint(0, CONFIG.vocab_size, (7,), generator=torch.Generator().manual_seed(1)).to(DEVICE)
    with torch.inference_mode():
        use_torch(model)
        want = model(ids)
        report = accelerate(model, interpreter=True, notice=None)
        try:
            assert all(isinstance(block.mlp.experts_core, FastExpertsCore) for block in model.block)
            assert uses_kernels(model) and "FastExpertsCore" in report.choices["experts"].implementation
            got = model(ids)
        finally:
            use_torch(model)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_weights_changed_after_preparing_take_the_checkpoint_layout_kernel():
    weights = random_experts(4, 64, 32, seed=8)
    indices, routing = random_routing(3, 4, 2, seed=8)
    x = torch.randn(3, 64, generator=torch.Generator().manual_seed(9)).to(DEVICE) * 0.1
    mlp1 = (weights["mlp1_blocks"], weights["mlp1_scales"])
    mlp2 = (weights["mlp2_blocks"], weights["mlp2_scales"])
    core = FastExpertsCore(mlp1, mlp2)
    weights["mlp2_blocks"].random_(0, 256, generator=torch.Generator().manual_seed(10))  # in place: now stale
    want = moe_experts_reference(x, indices, routing, **weights)
    got = core(x, indices, routing, mlp1, weights["mlp1_bias"], mlp2, weights["mlp2_bias"])
    torch.testing.assert_close(got, want, atol=1e-5 * want.abs().max().item(), rtol=1e-5)


def test_prepared_bytes_count_the_copy_of_blocks_and_mlp1_scales():
    from gptoss_edu.fast.fast_experts import prepared_bytes

    model = Transformer(CONFIG, experts="packed")
    c = CONFIG
    per_layer = c.num_experts * (2 * c.intermediate_size * c.hidden_size // 2 + 2 * c.intermediate_size * c.hidden_size
                                 // 32 + c.hidden_size * c.intermediate_size // 2)
    assert prepared_bytes(model) == c.num_hidden_layers * per_layer


class _Wrapped:
    """A core wrapped the way a split model wraps it (in its communication)."""

    def __init__(self, core):
        self.core = core

    def __call__(self, *args):
        return self.core(*args)


class _WrappingTransformer(Transformer):
    def set_experts_core(self, core):
        for block in self.block:
            block.mlp.experts_core = _Wrapped(core)


def test_a_model_that_wraps_its_experts_core_keeps_the_wrapper():
    """The fast core is put in only where the bare Triton core went in: a split model's wrapper survives."""
    model = _WrappingTransformer(CONFIG, experts="packed")
    model.load_state_dict(random_state_dict(CONFIG, seed=0))
    model = model.to(DEVICE).eval()
    try:
        report = accelerate(model, interpreter=True, notice=None)
        assert all(isinstance(block.mlp.experts_core, _Wrapped) for block in model.block)
        assert any("wraps its experts core" in reason for reason in report.fallbacks), report
    finally:
        use_torch(model)
