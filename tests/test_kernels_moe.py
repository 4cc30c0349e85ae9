"""The MXFP4 mixture-of-experts kernel == its torch reference == the library's ``grouped_experts``.

Runs under the Triton interpreter on CPU (``tests/conftest.py`` calls
``gptoss_edu.kernels.use_interpreter()`` when there is no CUDA) and compiled on CUDA when present.
"""
from __future__ import annotations

import pytest
import torch
from gptoss_edu.kernels.moe import group_by_expert, moe_experts, moe_experts_reference, one_tile_per_assignment

from gptoss_edu.model.moe import grouped_experts
from gptoss_edu.model.mxfp4 import dequantize

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def random_experts(num_experts: int, hidden: int, intermediate: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random MXFP4 expert weights in the checkpoint layout, with realistic scale bytes."""
    g = torch.Generator().manual_seed(seed)

    def packed(rows: int, columns: int) -> tuple[torch.Tensor, torch.Tensor]:
        blocks = torch.randint(0, 256, (num_experts, rows, columns // 32, 16), generator=g, dtype=torch.uint8)
        scales = torch.randint(119, 125, (num_experts, rows, columns // 32), generator=g, dtype=torch.uint8)
        return blocks.to(DEVICE), scales.to(DEVICE)

    mlp1_blocks, mlp1_scales = packed(2 * intermediate, hidden)
    mlp2_blocks, mlp2_scales = packed(hidden, intermediate)
    return {
        "mlp1_blocks": mlp1_blocks, "mlp1_scales": mlp1_scales,
        "mlp1_bias": torch.randn(num_experts, 2 * intermediate, generator=g).to(DEVICE),
        "mlp2_blocks": mlp2_blocks, "mlp2_scales": mlp2_scales,
        "mlp2_bias": torch.randn(num_experts, hidden, generator=g).to(DEVICE),
    }


def random_routing(tokens: int, num_experts: int, k: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(tokens, num_experts, generator=g)
    top = torch.topk(logits, k, dim=-1)
    return top.indices.to(DEVICE), torch.softmax(top.values, -1).to(DEVICE)


@pytest.mark.parametrize(
    "tokens, num_experts, k, hidden, intermediate",
    [(1, 8, 2, 64, 64), (5, 8, 4, 96, 160), (19, 6, 3, 160, 96), (33, 3, 1, 32, 64)],
)
def test_kernel_matches_reference_float32(tokens, num_experts, k, hidden, intermediate):
    weights = random_experts(num_experts, hidden, intermediate)
    indices, routing = random_routing(tokens, num_experts, k)
    x = torch.randn(tokens, hidden, generator=torch.Generator().manual_seed(1)).to(DEVICE) * 0.1
    got = moe_experts(x, indices, routing, **weights)
    want = moe_experts_reference(x, indices, routing, **weights)
    assert got.shape == (tokens, hidden) and got.dtype == x.dtype
    torch.testing.assert_close(got, want, atol=1e-4 * want.abs().max().item(), rtol=1e-4)


def test_kernel_matches_reference_bfloat16():
    weights = random_experts(8, 96, 64, seed=3)
    weights = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in weights.items()}
    indices, routing = random_routing(7, 8, 4, seed=3)
    x = (torch.randn(7, 96, generator=torch.Generator().manual_seed(4)) * 0.1).to(DEVICE, torch.bfloat16)
    got = moe_experts(x, indices, routing, **weights)
    want = moe_experts_reference(x, indices, routing, **weights)
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), want.float(), atol=0.02 * want.abs().max().item(), rtol=0.02)


def test_clamp_is_active_in_the_epilogue():
    """Large activations push the gate above the SwiGLU limit: both paths must clamp alike."""
    weights = random_experts(4, 64, 32, seed=5)
    indices, routing = random_routing(6, 4, 2, seed=5)
    x = torch.randn(6, 64, generator=torch.Generator().manual_seed(6)).to(DEVICE) * 4
    want = moe_experts_reference(x, indices, routing, **weights)
    torch.testing.assert_close(moe_experts(x, indices, routing, **weights), want,
                               atol=1e-4 * want.abs().max().item(), rtol=1e-4)


def test_reference_matches_library_grouped_experts():
    weights = random_experts(6, 64, 96, seed=7)
    indices, routing = random_routing(9, 6, 4, seed=7)
    x = torch.randn(9, 64, generator=torch.Generator().manual_seed(8)).to(DEVICE) * 0.1
    mlp1 = (weights["mlp1_blocks"], weights["mlp1_scales"])
    mlp2 = (weights["mlp2_blocks"], weights["mlp2_scales"])
    library = grouped_experts(x, indices, routing, mlp1, weights["mlp1_bias"], mlp2, weights["mlp2_bias"])
    torch.testing.assert_close(moe_experts_reference(x, indices, routing, **weights), library, atol=1e-5, rtol=1e-5)


def test_reference_decodes_mxfp4_like_the_library():
    """One expert, one token, weight 1: the reference is a dense matmul with dequantized weights."""
    weights = random_experts(1, 32, 32, seed=9)
    x = torch.randn(1, 32, generator=torch.Generator().manual_seed(10)).to(DEVICE)
    ones = torch.ones(1, 1, device=DEVICE)
    zero = torch.zeros(1, 1, dtype=torch.long, device=DEVICE)
    w1 = dequantize(weights["mlp1_blocks"][0], weights["mlp1_scales"][0], torch.float32)
    w2 = dequantize(weights["mlp2_blocks"][0], weights["mlp2_scales"][0], torch.float32)
    t = x @ w1.T + weights["mlp1_bias"][0]
    gate, linear = t[:, 0::2].clamp(max=7.0), t[:, 1::2].clamp(-7.0, 7.0)
    want = (gate * torch.sigmoid(1.702 * gate) * (linear + 1)) @ w2.T + weights["mlp2_bias"][0]
    torch.testing.assert_close(moe_experts_reference(x, zero, ones, **weights), want, atol=1e-5, rtol=1e-5)


def test_group_by_expert_covers_every_assignment_once():
    indices, _ = random_routing(23, 7, 3, seed=11)
    tiles = group_by_expert(indices, 7, block_m=4)
    seen = []
    for e, start, end in zip(tiles.expert.tolist(), tiles.row_start.tolist(), tiles.row_end.tolist()):
        if e == 7:
            continue
        rows = tiles.order[start:min(start + 4, end)].long()
        assert (indices.reshape(-1)[rows] == e).all(), f"tile of expert {e} holds another expert's rows"
        seen += rows.tolist()
    assert sorted(seen) == list(range(23 * 3))


def test_one_tile_per_assignment_keeps_router_order():
    indices, _ = random_routing(3, 16, 2, seed=12)
    tiles = one_tile_per_assignment(indices, block_m=16)
    assert tiles.expert.tolist() == indices.reshape(-1).tolist()
    assert (tiles.row_end - tiles.row_start).tolist() == [1] * 6 and tiles.order.tolist() == list(range(6))


def test_rejects_wrong_scale_shape():
    weights = random_experts(2, 64, 32)
    weights["mlp1_scales"] = weights["mlp1_scales"][:, :, :1]
    indices, routing = random_routing(2, 2, 1)
    with pytest.raises(ValueError, match="mlp1_scales"):
        moe_experts(torch.zeros(2, 64, device=DEVICE), indices, routing, **weights)
