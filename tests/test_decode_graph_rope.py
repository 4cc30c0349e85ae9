"""A replayed decode graph never reads freed RoPE tables: they cover the whole cache from the start and stay put.

A CUDA graph records the addresses of the tensors it reads. The model's RoPE tables grow on
demand (a longer table replaces the shorter one), so ``DecodeGraph`` fetches them for every
position its cache can hold before it captures, and keeps a reference. Checked here on the
CPU, where the decode steps run eagerly through the same code: across a generation longer
than the first table, the table the steps read is never replaced, and a later, longer
table for another cache does not free the one a decoder holds.
"""
from __future__ import annotations

import torch

from gptoss_edu.config import TINY
from gptoss_edu.fast.gpu_decode import DecodeGraph
from gptoss_edu.model.random_weights import random_model

CONFIG = TINY.replace(vocab_size=256, name="rope-storage-test")


def test_rope_table_storage_is_fixed_across_a_long_generation():
    model = random_model(CONFIG, device="cpu", dtype=torch.float32, seed=0)
    rope = model.block[0].attn.rope
    prompt, steps = 250, 12  # the prefill makes a 256-row table; the decode steps go past its end
    cache = model.new_cache(capacity=prompt + steps)
    seen = []
    with torch.inference_mode():
        model(torch.arange(prompt) % CONFIG.vocab_size, cache=cache)
        assert rope.cos_sin(prompt, model.device)[0].shape[0] < prompt + steps  # the prefill's table is short
        decoder = DecodeGraph(model, cache)
        held = decoder.rope_tables[0]
        assert held.shape[0] >= prompt + steps
        token = torch.tensor([1])
        for _ in range(steps):
            token = decoder.step(token).argmax(-1)
            seen.append(rope.cos_sin(len(cache), model.device)[0].data_ptr())
    assert set(seen) == {held.data_ptr()}, "a decode step replaced the RoPE table a graph would have recorded"
    longer = rope.cos_sin(4 * (prompt + steps), model.device)[0]  # another, longer cache replaces the model's table
    assert longer.data_ptr() != held.data_ptr() and decoder.rope_tables[0] is held  # the decoder's copy lives on
    torch.testing.assert_close(held, longer[:held.shape[0]])
