"""The GPU layout of MXFP4 weights round-trips exactly, and its bit-trick decode equals ``dequantize``."""
from __future__ import annotations

import pytest
import torch

from gptoss_edu.fast.mxfp4_layout import MAX_SCALE_BYTE, dequantize_prepared, e2m1_bits, prepare, unprepare
from gptoss_edu.model.mxfp4 import FP4_VALUES, dequantize


def every_code_and_scale(experts: int = 2, rows: int = 6, groups: int = 43, seed: int = 0):
    """Random blocks holding all 256 byte values, scales holding every byte 0..MAX_SCALE_BYTE."""
    g = torch.Generator().manual_seed(seed)
    blocks = torch.randint(0, 256, (experts, rows, groups, 16), generator=g, dtype=torch.uint8)
    blocks.view(-1)[:256] = torch.arange(256, dtype=torch.uint8)
    scales = torch.randint(0, MAX_SCALE_BYTE + 1, (experts, rows, groups), generator=g, dtype=torch.uint8)
    scales.view(-1)[:MAX_SCALE_BYTE + 1] = torch.arange(MAX_SCALE_BYTE + 1, dtype=torch.uint8)
    return blocks, scales


@pytest.mark.parametrize("split", [False, True], ids=["rows", "gate-linear-split"])
def test_prepare_then_unprepare_gives_the_checkpoint_bytes(split):
    blocks, scales = every_code_and_scale()
    prepared = prepare(blocks, scales, gate_linear_split=split)
    assert prepared.words.dtype == torch.int32 and prepared.words.shape == (2, 6, 43 * 4)
    assert prepared.columns == 43 * 32
    back_blocks, back_scales = unprepare(prepared)
    assert torch.equal(back_blocks, blocks) and torch.equal(back_scales, scales)


@pytest.mark.parametrize("split", [False, True], ids=["rows", "gate-linear-split"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_bit_trick_decode_equals_dequantize_bit_for_bit(split, dtype):
    """Every code (signed zeros included) times every accepted scale byte, subnormal results included."""
    blocks, scales = every_code_and_scale(seed=1)
    got = dequantize_prepared(prepare(blocks, scales, gate_linear_split=split), dtype)
    want = dequantize(blocks, scales, dtype)
    bits = torch.int32 if dtype == torch.float32 else torch.int16
    assert torch.equal(got.view(bits), want.view(bits))


def test_gate_rows_come_first_when_split():
    blocks, scales = every_code_and_scale(rows=4, seed=2)
    prepared = prepare(blocks, scales, gate_linear_split=True)
    plain = prepare(blocks, scales)
    assert torch.equal(prepared.words[:, :2], plain.words[:, 0::2])  # gate rows 0, 2
    assert torch.equal(prepared.words[:, 2:], plain.words[:, 1::2])  # linear rows 1, 3


def test_e2m1_bits_places_each_code_as_a_scaled_bfloat16():
    """A code at bits 12..15 / 28..31 becomes bfloat16 ``value * 2**-126`` in each half."""
    codes = torch.arange(16, dtype=torch.int32)
    word = (codes << 12) | (codes.flip(0) << 28)
    bits = e2m1_bits(word)
    low = (bits << 16).view(torch.float32) * 2.0**126
    high = (bits & -65536).view(torch.float32) * 2.0**126
    assert low.tolist() == list(FP4_VALUES) and high.tolist() == list(FP4_VALUES)[::-1]
    assert torch.signbit(low[8]) and not torch.signbit(low[0])  # code 8 is -0


@pytest.mark.parametrize("byte", [MAX_SCALE_BYTE + 1, 200, 255])
def test_scale_bytes_past_the_exact_range_are_refused_by_name(byte):
    blocks, scales = every_code_and_scale()
    scales[1, 2, 3] = byte
    with pytest.raises(ValueError, match=rf"block\.7\.mlp\.mlp2_weight holds scale byte {byte}"):
        prepare(blocks, scales, name="block.7.mlp.mlp2_weight")


def test_malformed_inputs_are_refused():
    blocks, scales = every_code_and_scale()
    with pytest.raises(TypeError, match="uint8"):
        prepare(blocks.int(), scales)
    with pytest.raises(ValueError, match="must be"):
        prepare(blocks, scales[..., :-1])
    with pytest.raises(ValueError, match="gate and linear"):
        prepare(blocks[:, :5], scales[:, :5], gate_linear_split=True)
