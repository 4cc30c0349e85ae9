"""Our load_model against the real loaders, on synthetic checkpoints we wrote in each layout.

- original layout: OpenAI's ``Transformer.from_checkpoint`` (weights bf16 as stored, then
  ``.float()``) must give the same logits as ``load_model(path)`` in float32;
- Hugging Face layout: ``GptOssForCausalLM.from_pretrained`` (MXFP4 dequantized on CPU) must
  find every tensor under its names and give the same logits.

The config has small widths but the real 128-token window and YaRN (factor 32 over 4096
tokens); the sequence is longer than the window, so the banded layers are exercised.
"""
from __future__ import annotations

import pytest
import torch

from gptoss_edu.config import TINY
from gptoss_edu.io.checkpoint import load_model
from weights_tools.synthetic import write_checkpoint

CFG = TINY.replace(vocab_size=1024, sliding_window=128, initial_context_length=4096, rope_scaling_factor=32.0,
                   name="conformance")
SEQUENCE = 300


def relative_error(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return float((ours.double() - theirs.double()).norm() / theirs.double().norm())


@pytest.fixture(scope="module")
def ids() -> torch.Tensor:
    return torch.randint(0, CFG.vocab_size, (SEQUENCE,), generator=torch.Generator().manual_seed(7))


def test_original_layout_matches_openai_reference(reference_model, tmp_path, ids):
    folder = write_checkpoint(tmp_path / "original", CFG, "original", seed=11, shard_bytes=200_000)
    with torch.no_grad():
        reference = reference_model.Transformer.from_checkpoint(str(folder), device="cpu").float()
        theirs = reference(ids)
        ours = load_model(folder, progress=False)(ids)
    assert ours.shape == theirs.shape == (SEQUENCE, CFG.vocab_size)
    assert relative_error(ours, theirs) < 1e-5


def test_hf_layout_matches_transformers(tmp_path, ids):
    from transformers import GptOssForCausalLM, Mxfp4Config

    folder = write_checkpoint(tmp_path / "hf", CFG, "hf", seed=11, shard_bytes=200_000)
    model, info = GptOssForCausalLM.from_pretrained(
        folder, dtype=torch.float32, quantization_config=Mxfp4Config(dequantize=True), output_loading_info=True,
    )
    assert not any(info.get(k) for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    assert model.config.layer_types[:2] == ["sliding_attention", "full_attention"]
    with torch.no_grad():
        theirs = model.eval()(ids[None]).logits[0]
        ours = load_model(folder, progress=False)(ids)
    assert relative_error(ours, theirs) < 1e-5


def test_dequantized_hf_export_loads_in_transformers(tmp_path, ids):
    """``convert --dequantize --to hf`` writes what transformers expects of an unquantized gpt-oss folder."""
    from transformers import GptOssForCausalLM

    from weights_tools.convert import convert

    packed = write_checkpoint(tmp_path / "packed", CFG, "original", seed=11)
    dense = convert(packed, tmp_path / "dense", "hf", dequantize_experts=True)
    model, info = GptOssForCausalLM.from_pretrained(dense, dtype=torch.float32, output_loading_info=True)
    assert not any(info.get(k) for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    with torch.no_grad():
        theirs = model.eval()(ids[None]).logits[0]
        ours = load_model(packed, progress=False)(ids)
    assert relative_error(ours, theirs) < 1e-5
