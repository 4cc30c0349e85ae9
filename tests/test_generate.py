"""KV-cache decoding equals full recomputation; sampling, stop tokens and the context limit."""
from __future__ import annotations

import pytest
import torch
from model_helpers import TEST_CONFIG, build_model, relative_error, single_thread  # noqa: F401  (autouse fixture)

from gptoss_edu.model.generation import generate, top_p_filter
from gptoss_edu.model.kvcache import KVCache
from gptoss_edu.model.transformer import Transformer

WINDOW = TEST_CONFIG.sliding_window


@pytest.fixture(scope="module")
def model() -> Transformer:
    return build_model(seed=3)


def tokens(n: int, seed: int = 0, batch: tuple[int, ...] = ()) -> torch.Tensor:
    return torch.randint(0, TEST_CONFIG.vocab_size, (*batch, n), generator=torch.Generator().manual_seed(seed))


def test_cached_decoding_equals_full_forward_across_the_ring_wrap(model):
    ids = tokens(WINDOW + 80)
    with torch.no_grad():
        full = model(ids)
        cache = model.new_cache()
        steps = [model(ids[:100], cache=cache)]  # prefill
        steps += [model(ids[i:i + 1], cache=cache) for i in range(100, ids.numel())]  # wraps the 128-slot ring
    assert len(cache) == ids.numel()
    assert relative_error(torch.cat(steps), full) < 1e-5


def test_prefill_longer_than_the_window_then_chunks(model):
    ids = tokens(WINDOW + 100, seed=1)
    with torch.no_grad():
        full = model(ids)
        cache = model.new_cache(capacity=8)  # full-attention layers must grow past their capacity
        chunks = [model(ids[a:b], cache=cache) for a, b in ((0, 150), (150, 151), (151, 190), (190, ids.numel()))]
    assert relative_error(torch.cat(chunks), full) < 1e-5


def test_batched_cache_equals_full_batched_forward(model):
    ids = tokens(WINDOW + 20, seed=2, batch=(2,))
    with torch.no_grad():
        full = model(ids)
        cache = model.new_cache(batch_size=2)
        steps = [model(ids[:, :140], cache=cache)] + [model(ids[:, i:i + 1], cache=cache) for i in range(140, ids.shape[1])]
    assert relative_error(torch.cat(steps, dim=1), full) < 1e-5


def test_the_cache_owns_the_positions_host_and_device(model):
    """``len(cache)`` and ``cache.offset`` advance together; ``positions`` and ``room_left`` follow them."""
    cache = model.new_cache(capacity=40)
    assert cache.room_left() == 40 and cache.positions(3).tolist() == [0, 1, 2]
    with torch.no_grad():
        model(tokens(30), cache=cache)
        model(tokens(1, seed=5), cache=cache)
    assert len(cache) == int(cache.offset) == 31 and cache.offset.device == model.device
    assert cache.room_left() == 9 and cache.positions(2).tolist() == [31, 32]
    with pytest.raises(ValueError, match="starting at position 0"):
        model.block[0].attn(torch.zeros(1, 1, TEST_CONFIG.hidden_size), 0, cache)


def test_fixed_shape_cache_gives_the_same_logits(model):
    """Whole buffers with empty slots masked (what a CUDA graph needs) attend exactly like the filled prefix."""
    ids = tokens(WINDOW + 12, seed=6)
    with torch.no_grad():
        want = model(ids)
        cache = model.new_cache(capacity=WINDOW + 12, fixed_shapes=True)
        got = torch.cat([model(ids[:WINDOW], cache=cache)] + [model(ids[i:i + 1], cache=cache)
                                                               for i in range(WINDOW, ids.numel())])
    assert relative_error(got, want) < 1e-5


def test_sliding_layers_keep_only_the_window(model):
    cache = KVCache(TEST_CONFIG, capacity=16)
    with torch.no_grad():
        model(tokens(WINDOW + 5), cache=cache)
    assert cache[0].slots == WINDOW and sorted(cache[0].positions.tolist()) == list(range(5, WINDOW + 5))
    assert cache[1].slots >= WINDOW + 5 and cache[1].positions[: WINDOW + 5].tolist() == list(range(WINDOW + 5))


def test_greedy_generate_equals_greedy_by_full_recomputation(model):
    prompt = tokens(110, seed=4).tolist()
    got = list(generate(model, prompt, max_new_tokens=30, stop_tokens=()))  # crosses position 128
    sequence = list(prompt)
    with torch.no_grad():
        for _ in range(30):
            sequence.append(int(model(torch.tensor(sequence))[-1].argmax()))
    assert got == sequence[len(prompt):]


def test_generation_stops_after_a_stop_token(model):
    prompt = tokens(12, seed=5).tolist()
    first_two = list(generate(model, prompt, max_new_tokens=2, stop_tokens=()))
    assert list(generate(model, prompt, max_new_tokens=10, stop_tokens=[first_two[1]])) == first_two


def test_seeded_sampling_is_reproducible_and_temperature_matters(model):
    prompt = tokens(8, seed=6)
    run = [list(generate(model, prompt, 12, temperature=1.0, seed=s, stop_tokens=())) for s in (7, 7, 8)]
    assert run[0] == run[1]
    assert run[0] != run[2]
    greedy = list(generate(model, prompt, 12, stop_tokens=()))
    assert list(generate(model, prompt, 12, temperature=1.0, top_p=1e-6, seed=9, stop_tokens=())) == greedy


def test_top_p_keeps_the_smallest_set_reaching_p():
    probs = torch.tensor([0.1, 0.5, 0.3, 0.1])
    torch.testing.assert_close(top_p_filter(probs, 0.7), torch.tensor([0.0, 0.625, 0.375, 0.0]))
    torch.testing.assert_close(top_p_filter(probs, 0.5), torch.tensor([0.0, 1.0, 0.0, 0.0]))
    torch.testing.assert_close(top_p_filter(probs, 1.0), probs)


def test_prompt_plus_new_tokens_beyond_the_context_is_refused():
    config = TEST_CONFIG.replace(initial_context_length=64, rope_scaling_factor=1.0)
    model = Transformer(config, device="meta")
    with pytest.raises(ValueError, match=r"prompt of 60 tokens \+ max_new_tokens=10 = 70 exceeds max_context_length=64"):
        next(generate(model, list(range(60)), max_new_tokens=10))


def test_cache_rejects_a_different_batch_size(model):
    cache = model.new_cache(batch_size=2)
    with pytest.raises(ValueError, match="cache holds batch 2"), torch.no_grad():
        model(tokens(4), cache=cache)


def test_package_level_generate_is_callable(model):
    import gptoss_edu

    prompt = tokens(6, seed=10).tolist()
    assert list(gptoss_edu.generate(model, prompt, 3, stop_tokens=())) == list(generate(model, prompt, 3, stop_tokens=()))
