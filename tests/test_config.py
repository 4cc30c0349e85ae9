"""Configs, presets, config.json readers and the model card's published numbers."""
from __future__ import annotations

import json

import pytest

from gptoss_edu.config import (
    GPT_OSS_20B,
    GPT_OSS_120B,
    PRESETS,
    ModelConfig,
    bytes_per_decoded_token,
    checkpoint_bytes,
    dense_bf16_bytes,
    get_preset,
    kv_cache_bytes,
    parameter_count,
)
from gptoss_edu.io.hf_config import to_hf_dict

GiB = 2**30


@pytest.mark.parametrize(
    "config, total_b, active_b, size_gib",
    [(GPT_OSS_20B, 20.91, 3.61, 12.8), (GPT_OSS_120B, 116.83, 5.13, 60.8)],
    ids=["20b", "120b"],
)
def test_model_card_numbers(config, total_b, active_b, size_gib):
    counts = parameter_count(config)
    assert round(counts["total"] / 1e9, 2) == total_b
    assert round(counts["active"] / 1e9, 2) == active_b
    assert round(checkpoint_bytes(config) / GiB, 1) == size_gib


def test_bytes_per_decoded_token_matches_the_guide():
    assert round(bytes_per_decoded_token(GPT_OSS_20B)["total"] / 1e9, 1) == 3.7
    assert round(bytes_per_decoded_token(GPT_OSS_120B)["total"] / 1e9, 1) == 5.0
    assert round(bytes_per_decoded_token(GPT_OSS_20B)["unembedding"] / 1e9, 2) == 1.16


def test_mxfp4_is_what_makes_the_models_fit():
    assert dense_bf16_bytes(GPT_OSS_20B) / GiB > 38  # ~42 GB if experts were bf16
    assert checkpoint_bytes(GPT_OSS_20B) / GiB < 16


def test_components_add_up():
    counts = parameter_count(GPT_OSS_20B)
    parts = ["embedding", "attention", "router", "experts", "norms", "unembedding"]
    assert sum(counts[p] for p in parts) == counts["total"]


def test_kv_cache_sliding_layers_keep_only_the_window():
    c = GPT_OSS_20B
    short, long = kv_cache_bytes(c, 128), kv_cache_bytes(c, 4096)
    per_token_layer = 2 * c.kv_dim * 2
    assert short == c.num_hidden_layers * 128 * per_token_layer
    assert long == 12 * 128 * per_token_layer + 12 * 4096 * per_token_layer


def test_presets_and_errors():
    assert get_preset("gpt-oss-20b") is GPT_OSS_20B
    assert set(PRESETS) >= {"gpt-oss-20b", "gpt-oss-120b", "tiny"}
    with pytest.raises(KeyError, match="unknown preset 'gpt-oss-7b'"):
        get_preset("gpt-oss-7b")
    with pytest.raises(ValueError, match="num_key_value_heads"):
        ModelConfig(num_attention_heads=64, num_key_value_heads=7)
    assert GPT_OSS_20B.max_context_length == 131072
    assert [GPT_OSS_20B.layer_uses_sliding_window(i) for i in range(4)] == [True, False, True, False]


@pytest.mark.parametrize("config", list(PRESETS.values()), ids=list(PRESETS))
def test_config_json_round_trips_in_both_flavours(config, tmp_path):
    (tmp_path / "original").mkdir()
    (tmp_path / "original" / "config.json").write_text(json.dumps(config.to_original_dict()))
    (tmp_path / "config.json").write_text(json.dumps(to_hf_dict(config)))
    for path in (tmp_path / "original" / "config.json", tmp_path / "config.json"):
        assert ModelConfig.from_json_file(path).replace(name=config.name) == config


def test_hf_config_is_read_by_transformers():
    transformers = pytest.importorskip("transformers")
    d = to_hf_dict(GPT_OSS_20B)
    hf = transformers.GptOssConfig(**{k: v for k, v in d.items() if k != "quantization_config"})
    assert hf.num_local_experts == 32 and hf.num_experts_per_tok == 4
    assert hf.layer_types[:2] == ["sliding_attention", "full_attention"]
    assert hf.sliding_window == 128


def test_newer_transformers_rope_parameters_key_is_read():
    d = to_hf_dict(GPT_OSS_20B)
    d["rope_parameters"] = {**d.pop("rope_scaling"), "rope_theta": 150000.0}
    del d["rope_theta"]
    assert ModelConfig.from_hf_dict(d, name="gpt-oss-20b") == GPT_OSS_20B


def test_bad_config_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        ModelConfig.from_json_file(tmp_path / "config.json")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        ModelConfig.from_json_file(tmp_path / "config.json")
    (tmp_path / "config.json").write_text(json.dumps({"num_hidden_layers": 2, "nonsense": 1}))
    with pytest.raises(ValueError, match="unknown fields \\['nonsense'\\]"):
        ModelConfig.from_json_file(tmp_path / "config.json")
