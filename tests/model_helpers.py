"""Shared by the model-core tests: a small config with gpt-oss's real window and YaRN, and model builders."""
from __future__ import annotations

import pytest
import torch

from gptoss_edu.config import TINY, ModelConfig
from gptoss_edu.model.mxfp4 import dequantize_state_dict
from gptoss_edu.model.random_weights import random_state_dict
from gptoss_edu.model.transformer import Transformer

# Small widths, but the real 128-token window and YaRN (factor 32 over 4096 tokens); a short vocabulary.
TEST_CONFIG: ModelConfig = TINY.replace(
    sliding_window=128, initial_context_length=4096, rope_scaling_factor=32.0, vocab_size=512, name="test",
)


def build_model(config: ModelConfig = TEST_CONFIG, seed: int = 0, experts: str = "packed",
                dtype: torch.dtype = torch.float32) -> Transformer:
    """Our model holding ``random_state_dict(config, seed)``."""
    state = random_state_dict(config, seed)
    if experts == "dequantized":
        state = dequantize_state_dict(state)
    model = Transformer(config, dtype=dtype, experts=experts)
    model.load_state_dict(state)
    return model.eval()


def build_reference(reference_model, config: ModelConfig = TEST_CONFIG, seed: int = 0):
    """OpenAI's reference ``Transformer`` holding the same weights, computing in float32."""
    reference = reference_model.Transformer(reference_model.ModelConfig(**config.to_original_dict()))
    reference.load_state_dict(dequantize_state_dict(random_state_dict(config, seed)))
    return reference.float().eval()  # every parameter float32; rope and masks already are


def relative_error(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return float((ours.double() - theirs.double()).norm() / theirs.double().norm())


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """Run a test module on one thread: these tiny models gain nothing from threads, and on a
    shared 2-core machine OpenMP spin-waiting makes their many small ops 10-20x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
