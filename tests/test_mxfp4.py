"""MXFP4 decode equals OpenAI's reference decode; encode round-trips and rounds to the nearest value."""
from __future__ import annotations

import importlib

import pytest
import torch
from safetensors.torch import save_file

from gptoss_edu.model.mxfp4 import FP4_VALUES, dequantize, dequantize_state_dict, quantize


def random_mxfp4(shape: tuple[int, ...], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    blocks = torch.randint(0, 256, (*shape, 16), dtype=torch.uint8, generator=g)
    scales = torch.randint(100, 140, shape, dtype=torch.uint8, generator=g)
    return blocks, scales


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32, torch.float16])
def test_decode_matches_reference_checkpoint_reader(reference_model, tmp_path, dtype):
    weights = importlib.import_module("gpt_oss.torch.weights")
    blocks, scales = random_mxfp4((3, 10, 4))
    scales[0, 0, :4] = torch.tensor([0, 1, 254, 127], dtype=torch.uint8)  # extreme exponents
    save_file({"w.blocks": blocks, "w.scales": scales}, str(tmp_path / "model.safetensors"))
    checkpoint = weights.Checkpoint(str(tmp_path), torch.device("cpu"))
    expected = checkpoint._get_mxfp4_tensor("w.blocks", "w.scales", dtype=dtype)
    got = dequantize(blocks, scales, dtype=dtype)
    assert got.shape == expected.shape == (3, 10, 128)
    assert got.dtype == dtype
    assert torch.equal(got.view(torch.int16 if dtype != torch.float32 else torch.int32),
                       expected.view(torch.int16 if dtype != torch.float32 else torch.int32))  # bit for bit, -0 too


def test_low_nibble_is_the_even_element():
    blocks = torch.zeros(1, 16, dtype=torch.uint8)
    blocks[0, 0] = 0x71  # low nibble code 1 (0.5), high nibble code 7 (6.0)
    values = dequantize(blocks, torch.tensor([127], dtype=torch.uint8), torch.float32)
    assert values[0].tolist() == 0.5 and values[1].tolist() == 6.0


def canonical_mxfp4(shape: tuple[int, ...], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random blocks in which every block's largest magnitude code is 4 or 6 (the OCP scale choice)."""
    blocks, scales = random_mxfp4(shape, seed)
    codes = torch.stack((blocks & 0x0F, blocks >> 4), dim=-1).flatten(-2)  # (..., 32)
    codes[..., 5] = (codes[..., 5] & 0x8) | 6 + (codes[..., 5] & 1)  # force a 4.0 or 6.0 into each block
    return codes[..., 0::2] | (codes[..., 1::2] << 4), scales


def test_quantize_inverts_dequantize_bytewise_on_canonical_codes():
    blocks, scales = canonical_mxfp4((4, 64, 3), seed=1)
    for dtype in (torch.bfloat16, torch.float32):
        got_blocks, got_scales = quantize(dequantize(blocks, scales, dtype=dtype))
        assert torch.equal(got_blocks, blocks)
        assert torch.equal(got_scales, scales)


def test_quantize_rounds_each_value_to_the_nearest_grid_value():
    x = torch.randn(64, 256, generator=torch.Generator().manual_seed(2)) * torch.logspace(-3, 3, 64)[:, None]
    x[0, :32] = 0.0
    blocks, scales = quantize(x)
    back = dequantize(blocks, scales, torch.float32)
    exponent = scales.to(torch.int32) - 127  # (64, 8)
    grid = torch.tensor(FP4_VALUES)[None, None, :] * torch.exp2(exponent.float())[..., None]  # (64, 8, 16)
    grouped = x.unflatten(-1, (-1, 32))  # (64, 8, 32)
    best = (grouped[..., None] - grid[:, :, None, :]).abs().amin(dim=-1)  # distance to the nearest grid value
    assert torch.equal((grouped - back.unflatten(-1, (-1, 32))).abs(), best)
    amax = grouped.abs().amax(dim=-1)
    assert torch.all((amax / torch.exp2(exponent.float()) < 8) & ((amax == 0) | (amax / torch.exp2(exponent.float()) >= 4)))
    assert torch.all((grouped - back.unflatten(-1, (-1, 32))).abs() <= amax[..., None] / 3)


def test_ties_round_to_the_even_code_and_signs_survive():
    x = torch.tensor([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, -0.0, -0.25, 7.0, 6.0] + [0.0] * 20 + [4.0])
    blocks, scales = quantize(x)
    assert scales.tolist() == [127]  # amax 7 -> exponent floor(log2 7) - 2 = 0, byte 0 + 127
    back = dequantize(blocks, scales, torch.float32)[:11]
    assert back.tolist() == [0.0, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0, -0.0, -0.0, 6.0, 6.0]
    assert torch.signbit(back[7]) and torch.signbit(back[8])


def test_bad_shapes_and_dtypes_are_named():
    with pytest.raises(ValueError, match="multiple of 32"):
        quantize(torch.zeros(3, 40))
    with pytest.raises(TypeError, match="uint8"):
        dequantize(torch.zeros(2, 16), torch.zeros(2, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"blocks \(2, 8\)"):
        dequantize(torch.zeros(2, 8, dtype=torch.uint8), torch.zeros(2, dtype=torch.uint8))


def test_dequantize_state_dict_merges_pairs():
    blocks, scales = random_mxfp4((2, 3, 1))
    bias = torch.zeros(2)
    merged = dequantize_state_dict({"w.blocks": blocks, "w.scales": scales, "b": bias})
    assert set(merged) == {"w", "b"}
    assert torch.equal(merged["w"], dequantize(blocks, scales))
    with pytest.raises(KeyError, match="w.scales"):
        dequantize_state_dict({"w.blocks": blocks})
