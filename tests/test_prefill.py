"""Long prompts: last-position logits, chunked prefill equal to one whole pass, transients that scale with the chunk."""
from __future__ import annotations

import pytest
import torch
from model_helpers import TEST_CONFIG, build_model, build_reference, relative_error, single_thread  # noqa: F401  (autouse fixture)
from torch.utils._python_dispatch import TorchDispatchMode

from gptoss_edu.config import TINY
from gptoss_edu.model.flash import attention_reference
from gptoss_edu.model.generation import generate, prefill
from gptoss_edu.model.kvcache import KVCache

# An 8-token sliding window: chunks of a 29-token prompt cross it many times.
SMALL_WINDOW = TINY.replace(vocab_size=512, name="tiny-window-8")
PROMPT = 29


def tokens(n: int, seed: int = 0, batch: tuple[int, ...] = ()) -> torch.Tensor:
    return torch.randint(0, 512, (*batch, n), generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def model():
    return build_model(SMALL_WINDOW, seed=5)


def assert_same_cache(got: KVCache, want: KVCache) -> None:
    """Same length and, layer by layer, the same positions, keys and values in the filled slots."""
    assert len(got) == len(want) and int(got.offset) == int(want.offset)
    for layer, (a, b) in enumerate(zip(got.layers, want.layers)):
        filled = min(len(want), b.slots)
        assert torch.equal(a.positions[:filled], b.positions[:filled]), f"layer {layer} positions"
        torch.testing.assert_close(a.keys[:, :filled], b.keys[:, :filled], msg=f"layer {layer} keys")
        torch.testing.assert_close(a.values[:, :filled], b.values[:, :filled], msg=f"layer {layer} values")


def test_last_logits_are_the_last_row_of_all(model):
    ids = tokens(PROMPT, batch=(2,))
    with torch.no_grad():
        every = model(ids)
        assert model(ids, logits="last").shape == (2, 1, SMALL_WINDOW.vocab_size)
        torch.testing.assert_close(model(ids, logits="last"), every[:, -1:])
        torch.testing.assert_close(model(ids[0], logits="last"), model(ids[0])[-1:])
    with pytest.raises(ValueError, match="logits='first'"):
        model(ids, logits="first")


@pytest.mark.parametrize("chunk", [1, 3, 5, 8, 13, 28, 29, 64])  # dividing 29 or not, below/at/above the window
def test_chunked_prefill_equals_one_whole_prefill(model, chunk):
    ids = tokens(PROMPT, seed=1)
    with torch.no_grad():
        whole_cache, chunked_cache = model.new_cache(), model.new_cache()
        whole = prefill(model, ids, whole_cache, chunk=None)
        chunked = prefill(model, ids, chunked_cache, chunk=chunk)
        no_cache = model(ids)[-1]
    assert chunked.shape == (SMALL_WINDOW.vocab_size,)
    torch.testing.assert_close(chunked, whole)
    torch.testing.assert_close(whole, no_cache)
    assert_same_cache(chunked_cache, whole_cache)


def test_chunked_prefill_then_decode_matches_openai_reference(reference_model):
    """On gpt-oss's real 128-token window: chunks of 48 over 200 tokens, then decode steps."""
    model = build_model(TEST_CONFIG)
    ids = torch.randint(0, TEST_CONFIG.vocab_size, (203,), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        want = build_reference(reference_model)(ids)  # (203, vocab), every position
        cache = model.new_cache(capacity=203)
        got = [prefill(model, ids[:200], cache, chunk=48)]
        got += [model(ids[i:i + 1], cache=cache)[-1] for i in range(200, 203)]
    assert relative_error(torch.stack(got), want[199:]) < 1e-5


def test_generate_prefills_in_chunks_with_the_same_tokens(model):
    prompt = tokens(PROMPT, seed=3).tolist()
    whole = list(generate(model, prompt, 8, stop_tokens=(), prefill_chunk=None))
    assert list(generate(model, prompt, 8, stop_tokens=(), prefill_chunk=5)) == whole
    assert list(generate(model, prompt, 8, stop_tokens=())) == whole  # default PREFILL_CHUNK
    with pytest.raises(ValueError, match="chunk must be a positive"):
        list(generate(model, prompt, 8, prefill_chunk=0))


class LargestNewBuffer(TorchDispatchMode):
    """Bytes of the largest storage any op allocates (outputs that share no storage with the op's inputs)."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage().data_ptr() for t in _tensors((args, kwargs))}
        for t in _tensors(out):
            storage = t.untyped_storage()
            if storage.data_ptr() not in inputs:
                self.largest = max(self.largest, storage.nbytes())
        return out


def _tensors(tree) -> list[torch.Tensor]:
    if isinstance(tree, torch.Tensor):
        return [tree]
    if isinstance(tree, (list, tuple)):
        return [t for item in tree for t in _tensors(item)]
    if isinstance(tree, dict):
        return [t for item in tree.values() for t in _tensors(item)]
    return []


def largest_prefill_buffer(model, length: int, chunk: int | None) -> int:
    """The largest buffer a prefill of ``length`` tokens allocates, cache and RoPE tables made beforehand."""
    cache = model.new_cache(capacity=length)
    model.block[0].attn.rope.cos_sin(length, model.device)
    with torch.no_grad(), LargestNewBuffer() as mode:
        prefill(model, tokens(length, seed=4), cache, chunk=chunk)
    return mode.largest


def test_prefill_transients_scale_with_the_chunk_not_the_prompt():
    """With the flash algorithm as attention core (as on a GPU), no buffer grows with the prompt."""
    model = build_model(SMALL_WINDOW.replace(vocab_size=4096), seed=6)
    model.set_attention_core(attention_reference)
    short, long = largest_prefill_buffer(model, 64, chunk=16), largest_prefill_buffer(model, 512, chunk=16)
    whole = largest_prefill_buffer(model, 512, chunk=None)
    assert long == short, (short, long)
    assert whole >= 8 * long, (whole, long)  # 32x the tokens in one pass
    with torch.no_grad(), LargestNewBuffer() as mode:  # the full logits of a 512-token pass: 512 x 4096 float32
        model(tokens(512, seed=4))
    assert mode.largest == 512 * 4096 * 4


def test_batch_rows_equal_each_sequence_alone(model):
    """Rows of equal length share the cache's positions: each row equals that sequence run alone."""
    ids = tokens(PROMPT + 3, seed=7, batch=(3,))
    with torch.no_grad():
        cache = model.new_cache(batch_size=3)
        rows = [prefill(model, ids[:, :PROMPT], cache, chunk=7)]
        rows += [model(ids[:, i:i + 1], cache=cache)[:, -1] for i in range(PROMPT, PROMPT + 3)]
        for row in range(3):
            alone = model.new_cache()
            want = [prefill(model, ids[row, :PROMPT], alone, chunk=None)]
            want += [model(ids[row, i:i + 1], cache=alone)[-1] for i in range(PROMPT, PROMPT + 3)]
            torch.testing.assert_close(torch.stack([r[row] for r in rows]), torch.stack(want))


def test_generate_refuses_a_batch_instead_of_flattening_it(model):
    with pytest.raises(ValueError, match=r"one sequence, got prompt_ids of shape \(2, 5\)"):
        next(generate(model, tokens(5, batch=(2,)), 3))
    with pytest.raises(ValueError, match="integer token ids"):
        next(generate(model, torch.ones(5), 3))
    assert len(list(generate(model, tokens(5, batch=(1,)), 3, stop_tokens=()))) == 3  # (1, T) is one sequence
