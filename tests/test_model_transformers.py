"""The whole model against Hugging Face transformers' ``GptOssForCausalLM`` (eager attention, float32)."""
from __future__ import annotations

import pytest
import torch
from model_helpers import TEST_CONFIG, build_model, relative_error, single_thread  # noqa: F401  (autouse fixture)

from gptoss_edu.conformance.transformers_compat import transformers_model

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def models():
    ours = build_model(experts="dequantized")
    return ours, transformers_model(ours)


def test_logits_match_transformers_beyond_the_sliding_window(models):
    ours, hf = models
    ids = torch.randint(0, TEST_CONFIG.vocab_size, (2, 200), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = hf(input_ids=ids).logits
        got = ours(ids)
    assert got.shape == expected.shape == (2, 200, TEST_CONFIG.vocab_size)
    assert relative_error(got, expected) < 1e-5


def test_greedy_generation_matches_transformers_generate(models):
    from gptoss_edu.model.generation import generate

    ours, hf = models
    prompt = torch.randint(0, TEST_CONFIG.vocab_size, (140,), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        expected = hf.generate(prompt[None], max_new_tokens=12, do_sample=False)[0, prompt.numel():].tolist()
    assert list(generate(ours, prompt, max_new_tokens=12, stop_tokens=())) == expected


def test_packed_state_dict_is_refused_with_a_hint():
    with pytest.raises(KeyError, match="dequantized"):
        transformers_model(build_model(experts="packed"))
