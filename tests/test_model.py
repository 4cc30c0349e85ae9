"""The whole model against OpenAI's reference and Hugging Face transformers, on random weights."""
from __future__ import annotations

import pytest
import torch
from model_helpers import TEST_CONFIG, build_model, build_reference, relative_error, single_thread  # noqa: F401  (autouse fixture)

from gptoss_edu.model.random_weights import random_state_dict
from gptoss_edu.model.transformer import Transformer

SEQUENCE = 200  # longer than the 128-token sliding window


@pytest.fixture(scope="module")
def ids() -> torch.Tensor:
    return torch.randint(0, TEST_CONFIG.vocab_size, (SEQUENCE,), generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def packed_model() -> Transformer:
    return build_model(experts="packed")


@pytest.fixture(scope="module")
def reference_logits(reference_model, ids) -> torch.Tensor:
    with torch.no_grad():
        return build_reference(reference_model)(ids)


def test_state_dict_is_the_original_checkpoint_layout():
    ours = Transformer(TEST_CONFIG, device="meta").state_dict()
    checkpoint = random_state_dict(TEST_CONFIG)
    assert list(ours) == list(checkpoint)
    c = TEST_CONFIG
    E, I, H = c.num_experts, c.intermediate_size, c.hidden_size
    assert ours["block.0.mlp.mlp1_weight.blocks"].shape == (E, 2 * I, H // 32, 16)
    assert ours["block.0.mlp.mlp1_weight.scales"].shape == (E, 2 * I, H // 32)
    assert ours["block.1.mlp.mlp2_weight.blocks"].shape == (E, H, I // 32, 16)
    assert ours["block.1.mlp.mlp2_weight.blocks"].dtype == torch.uint8
    assert ours["block.0.attn.qkv.weight"].shape == (c.qkv_dim, H)
    assert ours["unembedding.weight"].shape == (c.vocab_size, H)


def test_dequantized_mode_replaces_blocks_and_scales_by_dense_weights():
    names = Transformer(TEST_CONFIG, device="meta", experts="dequantized").state_dict()
    c = TEST_CONFIG
    assert names["block.0.mlp.mlp1_weight"].shape == (c.num_experts, 2 * c.intermediate_size, c.hidden_size)
    assert names["block.0.mlp.mlp2_weight"].shape == (c.num_experts, c.hidden_size, c.intermediate_size)
    assert not any(name.endswith((".blocks", ".scales")) for name in names)


def test_logits_match_openai_reference(packed_model, ids, reference_logits):
    with torch.no_grad():
        ours = packed_model(ids)
    assert ours.shape == (SEQUENCE, TEST_CONFIG.vocab_size)
    assert relative_error(ours, reference_logits) < 1e-5


def test_dequantized_mode_matches_packed_mode(packed_model, ids):
    with torch.no_grad():
        packed = packed_model(ids)
        dense = build_model(experts="dequantized")(ids)
    torch.testing.assert_close(dense, packed, rtol=0, atol=0)


def test_batched_input_equals_each_row(packed_model):
    batch = torch.randint(0, TEST_CONFIG.vocab_size, (3, 150), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        together = packed_model(batch)
        rows = torch.stack([packed_model(row) for row in batch])
    assert together.shape == (3, 150, TEST_CONFIG.vocab_size)
    torch.testing.assert_close(together, rows, rtol=1e-5, atol=1e-6)


def test_meta_construction_then_to_empty_and_load(packed_model, ids):
    model = Transformer(TEST_CONFIG, device="meta")
    assert all(t.is_meta for t in model.state_dict().values())
    model.to_empty(device="cpu")
    model.load_state_dict(random_state_dict(TEST_CONFIG))
    with torch.no_grad():
        torch.testing.assert_close(model(ids[:20]), packed_model(ids[:20]), rtol=0, atol=0)


def test_bfloat16_model_runs_close_to_float32(packed_model, ids):
    model = build_model(dtype=torch.bfloat16)
    assert model.block[0].attn.norm.scale.dtype == torch.float32  # norms stay float32
    with torch.no_grad():
        low = model(ids[:64])
        high = packed_model(ids[:64])
    assert low.dtype == torch.bfloat16
    assert relative_error(low.float(), high) < 0.05


def test_too_long_input_names_the_lengths(packed_model):
    config = TEST_CONFIG.replace(initial_context_length=64, rope_scaling_factor=1.0)
    model = Transformer(config, device="meta")
    with pytest.raises(ValueError, match=r"65 tokens .*max_context_length=64"):
        model(torch.zeros(65, dtype=torch.long, device="meta"))


def test_rope_tables_are_cached_outside_the_state_dict(packed_model, ids):
    with torch.no_grad():
        packed_model(ids[:4])
    assert packed_model.block[0].attn.rope.cos_sin(4, torch.device("cpu"))[0].shape[0] >= 4
    assert list(packed_model.state_dict()) == list(random_state_dict(TEST_CONFIG))


def test_unknown_experts_mode_is_rejected():
    with pytest.raises(ValueError, match="experts must be 'packed' or 'dequantized'"):
        Transformer(TEST_CONFIG, device="meta", experts="fp8")
