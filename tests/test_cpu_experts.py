"""The fused MXFP4 CPU path against the plain one: the kernel, the experts core, whole models."""
from __future__ import annotations

import pytest
import torch
from model_helpers import build_model, single_thread  # noqa: F401 (autouse fixture)

from gptoss_edu.fast import cpu_experts
from gptoss_edu.fast.cpu_experts import fused_experts, use_fused_cpu_experts
from gptoss_edu.fast.cpu_kernel import load_kernel, mxfp4_matvec, split_even_odd
from gptoss_edu.model.generation import generate
from gptoss_edu.model.moe import grouped_experts
from gptoss_edu.model.mxfp4 import dequantize

pytestmark = pytest.mark.skipif(load_kernel() is None, reason="no C compiler to build the fused CPU kernel")


def packed_weight(experts: int, rows: int, columns: int, generator: torch.Generator):
    blocks = torch.randint(0, 256, (experts, rows, columns // 32, 16), dtype=torch.uint8, generator=generator)
    scales = torch.randint(115, 130, (experts, rows, columns // 32), dtype=torch.uint8, generator=generator)
    return blocks, scales


def test_split_even_odd_puts_low_nibble_inputs_first():
    x = torch.arange(64.0)[None]  # (1, 64): two blocks
    xs = split_even_odd(x)  # (1, 2, 2, 16)
    assert xs.shape == (1, 2, 2, 16)
    assert xs[0, 1, 0].tolist() == list(range(32, 64, 2)) and xs[0, 1, 1].tolist() == list(range(33, 64, 2))


@pytest.mark.parametrize("tokens", [1, 5, 8, 9, 20])
@pytest.mark.parametrize("rows,columns", [(3, 32), (64, 96), (130, 256)])
def test_matvec_equals_dequantize_then_matmul(tokens, rows, columns):
    g = torch.Generator().manual_seed(rows * 1000 + tokens)
    blocks, scales = packed_weight(1, rows, columns, g)
    x = torch.randn(tokens, columns, generator=g, dtype=torch.float64).float()
    expected = x.double() @ dequantize(blocks[0], scales[0], torch.float64).T
    got = mxfp4_matvec(blocks[0], scales[0], x)
    assert got.dtype == torch.float32 and got.shape == (tokens, rows)
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-5 * expected.abs().max().item())


def test_matvec_covers_every_code_and_extreme_scales():
    codes = torch.arange(256, dtype=torch.uint8).reshape(16, 1, 16)  # every byte once
    scales = torch.tensor([[0], [1], [100], [127], [150], [200]] * 3, dtype=torch.uint8)[:16]  # sums stay finite
    x = torch.ones(1, 32)
    expected = x.double() @ dequantize(codes, scales, torch.float64).T
    torch.testing.assert_close(mxfp4_matvec(codes, scales, x).double(), expected, rtol=1e-6, atol=0)


def test_matvec_rejects_mismatched_shapes():
    blocks, scales = packed_weight(1, 4, 64, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="do not fit"):
        mxfp4_matvec(blocks[0], scales[0], torch.randn(1, 96))


def expert_case(tokens: int, experts: int, k: int, seed: int, everyone_on: int | None = None):
    g = torch.Generator().manual_seed(seed)
    hidden, intermediate = 64, 96
    x = torch.randn(tokens, hidden, generator=g)
    logits = torch.randn(tokens, experts, generator=g)
    if everyone_on is not None:
        logits[:, everyone_on] = 100.0  # every token picks this expert
    top = torch.topk(logits, k, dim=-1)
    weights, indices = torch.softmax(top.values, -1), top.indices
    mlp1 = packed_weight(experts, 2 * intermediate, hidden, g)
    mlp2 = packed_weight(experts, hidden, intermediate, g)
    mlp1_bias = 0.1 * torch.randn(experts, 2 * intermediate, generator=g)
    mlp2_bias = 0.1 * torch.randn(experts, hidden, generator=g)
    return x, indices, weights, mlp1, mlp1_bias, mlp2, mlp2_bias


@pytest.mark.parametrize("tokens,experts,k,seed,everyone_on", [
    (1, 8, 4, 0, None),      # a decode step: most experts receive no token
    (3, 16, 2, 1, None),
    (40, 8, 4, 2, 5),        # expert 5 receives every token (more than FUSED_MAX_TOKENS: plain path for it)
    (12, 4, 4, 3, None),     # every expert receives every token
    (6, 32, 1, 4, 31),       # top-1, all on the last expert, the others idle
])
def test_fused_experts_equal_grouped_experts(tokens, experts, k, seed, everyone_on):
    case = expert_case(tokens, experts, k, seed, everyone_on)
    expected = grouped_experts(*case)
    got = fused_experts(*case)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_fused_experts_crossover_both_sides_agree(monkeypatch):
    case = expert_case(24, 4, 2, 7, everyone_on=0)
    monkeypatch.setattr(cpu_experts, "FUSED_MAX_TOKENS", 1000)
    all_fused = fused_experts(*case)
    monkeypatch.setattr(cpu_experts, "FUSED_MAX_TOKENS", 0)
    all_plain = fused_experts(*case)
    torch.testing.assert_close(all_fused, all_plain, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(all_plain, grouped_experts(*case), rtol=0, atol=0)


def test_fused_experts_pass_dense_weights_through():
    x, indices, weights, mlp1, mlp1_bias, mlp2, mlp2_bias = expert_case(2, 4, 2, 8)
    dense1, dense2 = dequantize(*mlp1, torch.float32), dequantize(*mlp2, torch.float32)
    case = (x, indices, weights, dense1, mlp1_bias, dense2, mlp2_bias)
    torch.testing.assert_close(fused_experts(*case), grouped_experts(*case), rtol=0, atol=0)


def test_inputs_that_need_gradients_take_the_differentiable_path():
    x, *rest = expert_case(3, 4, 2, 9)
    x.requires_grad_(True)
    fused_experts(x, *rest).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_use_fused_cpu_experts_only_on_packed_cpu_models():
    packed = build_model()
    assert use_fused_cpu_experts(packed, notice=lambda line: pytest.fail(line))
    assert all(block.mlp.experts_core is fused_experts for block in packed.block)
    dense = build_model(experts="dequantized")
    assert not use_fused_cpu_experts(dense)
    assert dense.block[0].mlp.experts_core is grouped_experts


def test_unavailable_kernel_says_so_in_one_line(monkeypatch):
    monkeypatch.setattr(cpu_experts, "load_kernel", lambda: None)
    monkeypatch.setattr(cpu_experts, "kernel_problem", lambda: "no C compiler found")
    lines = []
    model = build_model()
    assert not use_fused_cpu_experts(model, notice=lines.append)
    assert len(lines) == 1 and "no C compiler found" in lines[0]
    assert model.block[0].mlp.experts_core is grouped_experts


def test_greedy_tokens_equal_in_float32():
    plain = build_model(dtype=torch.float32)
    fused = build_model(dtype=torch.float32)
    use_fused_cpu_experts(fused)
    prompt = list(range(10, 50))
    assert list(generate(fused, prompt, 16, stop_tokens=())) == list(generate(plain, prompt, 16, stop_tokens=()))


def test_logits_within_bf16_rounding_in_bf16():
    plain = build_model(dtype=torch.bfloat16)
    fused = build_model(dtype=torch.bfloat16)
    use_fused_cpu_experts(fused)
    exact = build_model(dtype=torch.float32)
    ids = torch.arange(100, 140)
    with torch.inference_mode():
        ours, theirs, truth = fused(ids).float(), plain(ids).float(), exact(ids)
    # the fused path is no further from the float32 model than the plain bf16 path is
    err_fused = (ours - truth).norm() / truth.norm()
    err_plain = (theirs - truth).norm() / truth.norm()
    assert err_fused <= 1.5 * err_plain + 1e-3
    torch.testing.assert_close(ours, theirs, rtol=0.05, atol=0.05 * theirs.abs().max().item())
