"""ModelConfig refuses values it cannot hold, naming the field (and, from a config.json, its JSON key)."""
from __future__ import annotations

import json

import pytest

from gptoss_edu.config import GPT_OSS_20B, PRESETS, ModelConfig, config_problems
from gptoss_edu.io.hf_config import to_hf_dict


@pytest.mark.parametrize("change, field", [
    ({"num_hidden_layers": True}, "num_hidden_layers: must be an integer"),
    ({"hidden_size": 2880.0}, "hidden_size: must be an integer"),
    ({"num_key_value_heads": 0}, "num_key_value_heads: must be between 1 and"),
    ({"num_hidden_layers": 10**6}, "num_hidden_layers: must be between 1 and 1024"),
    ({"num_attention_heads": 60}, "num_attention_heads: 60 is not a multiple of num_key_value_heads"),
    ({"head_dim": 63}, "head_dim: 63 must be even"),
    ({"experts_per_token": 40}, "experts_per_token: 40 is more than num_experts"),
    ({"intermediate_size": 2881}, "intermediate_size: 2881 is not a multiple of 32"),
    ({"rope_theta": float("inf")}, "rope_theta: must be above 0"),
    ({"rms_norm_eps": float("nan")}, "rms_norm_eps: must be above 0"),
    ({"swiglu_limit": "7"}, "swiglu_limit: must be a number"),
    ({"name": None}, "name: must be a string"),
])
def test_each_bad_field_is_named(change, field):
    with pytest.raises(ValueError, match=field):
        GPT_OSS_20B.replace(**change)


def test_presets_are_valid():
    for config in PRESETS.values():
        assert config_problems({f: getattr(config, f) for f in config.__dataclass_fields__}) == []


def test_hugging_face_keys_are_named_as_in_the_file():
    d = to_hf_dict(GPT_OSS_20B)
    with pytest.raises(ValueError, match="num_local_experts: must be an integer"):
        ModelConfig.from_hf_dict({**d, "num_local_experts": 32.5})
    with pytest.raises(ValueError, match="beta_fast: must be a number"):
        ModelConfig.from_hf_dict({**d, "rope_scaling": {**d["rope_scaling"], "beta_fast": [32]}})
    with pytest.raises(ValueError, match="rope_scaling: must be an object"):
        ModelConfig.from_hf_dict({**d, "rope_scaling": "yarn"})
    with pytest.raises(ValueError, match="vocab_size: missing"):
        ModelConfig.from_hf_dict({k: v for k, v in d.items() if k != "vocab_size"})
    heads_zero = {k: v for k, v in d.items() if k != "head_dim"} | {"num_attention_heads": 0}
    with pytest.raises(ValueError, match="num_attention_heads: must be between"):  # no ZeroDivisionError
        ModelConfig.from_hf_dict(heads_zero)


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, '{"vocab_size": ' + "1" * 5000 + "}", "[]"])
def test_config_file_reader_names_the_file(tmp_path, text):
    path = tmp_path / "config.json"
    path.write_text(text)
    with pytest.raises(ValueError, match="config.json"):
        ModelConfig.from_json_file(path)


def test_config_file_reader_names_file_and_field(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**GPT_OSS_20B.to_original_dict(), "num_key_value_heads": 0}))
    with pytest.raises(ValueError, match="config.json: num_key_value_heads: must be between"):
        ModelConfig.from_json_file(path)
