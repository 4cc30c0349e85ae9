"""Comparing two paths through the model (``fast.agreement``) and proving which cores ran (``fast.core_calls``).

Two CPU paths stand in for "GPU against torch": float32 against bfloat16 of one tiny random
model, and the torch cores against the Triton kernels under the interpreter.
"""
from __future__ import annotations

import pytest
import torch

from gptoss_edu.config import TINY
from gptoss_edu.fast import accelerate
from gptoss_edu.fast.agreement import PathOutput, compare, run_path
from gptoss_edu.fast.core_calls import count_core_calls
from gptoss_edu.fast.select import CORE_ATTRIBUTES, use_torch
from gptoss_edu.model.random_weights import random_model

CONFIG = TINY.replace(hidden_size=32, intermediate_size=32, num_experts=4, experts_per_token=2, head_dim=16,
                      num_attention_heads=4, num_key_value_heads=2, sliding_window=4, vocab_size=256,
                      name="agreement-test")
IDS = torch.randint(0, CONFIG.vocab_size, (12,), generator=torch.Generator().manual_seed(5))


@pytest.fixture(scope="module")
def model():
    return random_model(CONFIG, device="cpu", dtype=torch.float32, seed=1)


def test_a_path_agrees_with_itself_exactly(model):
    out = run_path(model, IDS)
    assert out.logits.shape == (12, CONFIG.vocab_size) and out.experts.shape == (2, 12, 2)
    agreement = compare(out, out)
    assert agreement.max_error == 0 and agreement.argmax_agreement == 1 and agreement.flipped_tokens == 0
    assert agreement.summary()["tokens"] == 12 and "argmax agreement 100.0%" in str(agreement)


def test_bfloat16_against_float32_is_close_per_token(model):
    reference = run_path(model, IDS)
    candidate = run_path(random_model(CONFIG, device="cpu", dtype=torch.bfloat16, seed=1), IDS)
    agreement = compare(reference, candidate)
    assert 0 < agreement.median_error <= agreement.p90_error <= agreement.max_error
    assert agreement.median_error < 0.05 * agreement.scale, agreement
    assert agreement.unexplained(tolerance=0.2 * agreement.scale) == [], agreement


def _outputs(errors: list[float], flip_at: int | None) -> tuple[PathOutput, PathOutput]:
    """Reference and candidate logits with the given per-token errors, routing flipped at one token."""
    logits = torch.zeros(len(errors), 8)
    logits[:, 0] = 1.0
    candidate = logits.clone()
    candidate[:, 3] += torch.tensor(errors)
    experts = torch.tensor([[[0, 1]] * len(errors)] * 2)  # (layers, T, k)
    flipped = experts.clone()
    if flip_at is not None:
        flipped[1, flip_at] = torch.tensor([1, 2])
    return PathOutput(logits, experts), PathOutput(candidate, flipped)


def test_large_errors_after_a_routing_flip_are_explained_and_without_one_are_not():
    agreement = compare(*_outputs([0.001, 0.002, 2.0, 0.5], flip_at=2))
    assert agreement.flips.tolist() == [0, 0, 1, 0] and agreement.flipped_tokens == 1
    assert agreement.unexplained(tolerance=0.1) == []  # tokens 2 and 3 differ because token 2 took other experts
    assert agreement.argmax_agreement == 0.75 and agreement.unexplained_mismatches() == []
    assert agreement.mismatch_reasons() == {2: "routing flip at or before it"}
    agreement = compare(*_outputs([0.001, 2.0, 0.002, 0.5], flip_at=2))
    assert agreement.unexplained(tolerance=0.1) == [1] and agreement.unexplained_mismatches() == [1]
    assert agreement.gap[1] == 1.0 and agreement.mismatch_reasons()[1].startswith("no routing flip: the reference preferred its token by 1.00e+00")


def test_comparing_different_shapes_names_both():
    a, b = _outputs([0.0, 0.0], None), _outputs([0.0, 0.0, 0.0], None)
    with pytest.raises(ValueError, match="reference .* candidate"):
        compare(a[0], b[0])


def test_counts_each_core_per_layer_and_restores_the_cores(model):
    use_torch(model)
    def cores() -> list[tuple]:
        return [tuple(getattr(getattr(b, part), attribute) for part, attribute in CORE_ATTRIBUTES.values())
                for b in model.block]

    before = cores()
    with torch.inference_mode(), count_core_calls(model) as calls:
        model(IDS)
        model(IDS[:3])
    assert calls.calls == {core: [2, 2] for core in CORE_ATTRIBUTES}
    assert cores() == before
    problems = calls.problems()
    assert len(problems) == len(CORE_ATTRIBUTES) and all("plain-torch core in layers [0, 1]" in p for p in problems), problems


def test_never_called_cores_are_reported(model):
    with count_core_calls(model) as calls:
        pass
    assert any("never called in layers [0, 1]" in p for p in calls.problems(cores=("experts",)))


def test_interpreted_kernels_are_counted_and_agree_with_torch(model):
    pytest.importorskip("triton")
    with torch.inference_mode():
        use_torch(model)
        reference = run_path(model, IDS)
        assert accelerate(model, interpreter=True, notice=None).triton
        try:
            agreement = compare(reference, run_path(model, IDS))
            cache = model.new_cache(capacity=16)
            with count_core_calls(model) as prefill:
                model(IDS[:5], cache=cache)
            cache.fixed_shapes = True  # a decode step as a CUDA graph records it: the fused RoPE kernel runs
            with count_core_calls(model) as decode:
                model(IDS[5:6], cache=cache)
        finally:
            use_torch(model)
    assert agreement.max_error < 1e-4 * agreement.scale and agreement.flipped_tokens == 0, agreement
    assert prefill.problems() == ["rope_store: 2 calls handed to plain torch (rope_and_store)"]
    assert prefill.problems(allow_torch=("rope_store",)) == [] and decode.problems() == []
    assert decode.calls["rope_store"] == [1, 1] and decode.handed_to_torch == {"experts": 0, "rope_store": 0}
