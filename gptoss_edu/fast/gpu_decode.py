"""A decode step whose position lives on the device, captured once as a CUDA graph and replayed.

At batch 1 a gpt-oss decode step is a few hundred small kernels; launched one by one from
Python they cost more than the math. A CUDA graph records the whole step once and replays it
with one launch. Replaying requires that nothing in the step depends on host values, so
``decode_step`` is ``Transformer.forward`` for one token written with the position as a
``(1,)`` tensor: RoPE rows are gathered with it and keys are written into the preallocated
``KVCache`` at slot ``position % slots`` (the position itself on full-attention layers, the
ring slot on sliding-window layers), exactly where ``LayerCache.update`` would put them. With
the Triton cores in the model, that RoPE-and-store is one fused kernel (``gptoss_edu.kernels.rope``).

``DecodeGraph`` owns the static input/output buffers and the graph; ``generate`` is
``gptoss_edu.model.generation.generate`` with prefill through the model and decode steps through
the graph (eager ``decode_step`` where graphs are unavailable: CPU, torch cores, routing capture).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch

from gptoss_edu.fast.gpu import uses_kernels
from gptoss_edu.model.generation import DEFAULT_STOP_TOKENS, check_arguments, sample_next_token
from gptoss_edu.model.kvcache import KVCache
from gptoss_edu.model.rope import apply_rotary


def rope_and_cache(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                   position: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                   slot_positions: torch.Tensor) -> torch.Tensor:
    """Rotate ``q (B, 1, Hq, D)`` and ``k (B, 1, KV, D)`` at ``position (1,)``, store k and v at its cache slot; return q.

    ``cos``/``sin`` are the float32 ``(L, D/2)`` RoPE tables; ``keys``/``values`` ``(B, slots, KV, D)``
    and ``slot_positions (slots,)`` one ``LayerCache``'s tensors; the slot is ``position % slots``.
    (``gptoss_edu.kernels.rope.rope_and_cache`` does all of it in one launch.)
    """
    cos, sin = cos.index_select(0, position), sin.index_select(0, position)  # (1, D/2)
    slot = position % keys.shape[1]
    keys.index_copy_(1, slot, apply_rotary(k, cos, sin))
    values.index_copy_(1, slot, v)
    slot_positions.index_copy_(0, slot, position)
    return apply_rotary(q, cos, sin)


def _attention_step(attn, x: torch.Tensor, position: torch.Tensor, layer, tables, rope_core) -> torch.Tensor:
    """One layer's attention for ``x (B, 1, H)`` at ``position``, writing its key/value into ``layer``."""
    q, k, v = attn.project_qkv(x)  # q (B, 1, KV, G, D), k/v (B, 1, KV, D)
    q = rope_core(q.flatten(2, 3), k, v, *tables, position, layer.keys, layer.values, layer.positions)
    q = q.unflatten(2, (attn.config.num_key_value_heads, -1))  # (B, 1, KV, G, D)
    t = attn.attention_core(q, layer.keys, layer.values, attn.sinks, attn.sm_scale, position, layer.positions,
                            attn.sliding_window)
    return x + attn.out(t)


def _rope_core(model):
    """The fused Triton RoPE-and-cache kernel when the model runs the Triton cores, else the torch version."""
    if not uses_kernels(model):
        return rope_and_cache
    from gptoss_edu.kernels.rope import rope_and_cache as fused

    return fused


def decode_step(model, ids: torch.Tensor, position: torch.Tensor, cache: KVCache) -> torch.Tensor:
    """Logits ``(B, vocab)`` for one new token per sequence, ``ids (B, 1)`` at ``position (1,)``.

    Writes the token's keys and values into ``cache`` but leaves ``len(cache)`` to the caller
    (a host counter cannot live inside a CUDA graph); see ``advance``.
    """
    tables = model.block[0].attn.rope.cos_sin(len(cache) + 1, ids.device)  # already long enough in a graph
    rope_core = _rope_core(model)
    x = model.embedding(ids)  # (B, 1, H)
    for block, layer in zip(model.block, cache.layers):
        x = block.mlp(_attention_step(block.attn, x, position, layer, tables, rope_core))
    return model.unembedding(model.norm(x))[:, -1]


def advance(cache: KVCache, tokens: int = 1) -> None:
    """Count ``tokens`` more tokens as held by every layer of ``cache`` (after ``decode_step``)."""
    for layer in cache.layers:
        layer.length += tokens


def _room_left(cache: KVCache) -> int:
    """Decode steps the cache can take without growing (growing would move its tensors)."""
    full = [layer.slots for layer in cache.layers if not layer.ring]
    return (min(full) if full else 1 << 62) - len(cache)


class DecodeGraph:
    """Decode steps for ``cache``'s batch, replayed from a CUDA graph after one eager warm-up step.

    ``step(token_ids (B,))`` returns logits ``(B, vocab)`` and advances the cache. The cache
    must be preallocated (``model.new_cache(batch, capacity)``); ``step`` refuses to run past
    its capacity. Without CUDA, without the Triton cores or with dequantized experts (whose
    torch core synchronises with the host) every step runs eagerly.
    """

    def __init__(self, model, cache: KVCache):
        self.model = model
        self.cache = cache
        device = model.device
        batch = cache[0].keys.shape[0]
        self.ids = torch.zeros(batch, 1, dtype=torch.long, device=device)
        self.position = torch.zeros(1, dtype=torch.long, device=device)
        self.logits: torch.Tensor | None = None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.warmed_up = False
        self.use_graph = device.type == "cuda" and uses_kernels(model) and model.experts == "packed"
        # The RoPE table must not be reallocated once a graph points at it.
        model.block[0].attn.rope.cos_sin(max(layer.slots for layer in cache.layers) + 1, device)

    def _eager(self) -> torch.Tensor:
        return decode_step(self.model, self.ids, self.position, self.cache)

    def _warm_up(self) -> torch.Tensor:
        """A real eager step on a side stream (as CUDA graph capture wants): compiles and autotunes the kernels."""
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            logits = self._eager()
        torch.cuda.current_stream().wait_stream(side)
        self.warmed_up = True
        return logits

    def _replay(self) -> torch.Tensor:
        if self.graph is None:
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.logits = self._eager()
        self.graph.replay()
        return self.logits

    @torch.inference_mode()
    def step(self, token_ids: torch.Tensor) -> torch.Tensor:
        if _room_left(self.cache) < 1:
            raise ValueError(f"the KV cache is full at {len(self.cache)} tokens; preallocate a larger capacity")
        self.ids.copy_(token_ids.reshape(-1, 1))
        self.position.fill_(len(self.cache))
        observed = any(block.mlp.routing_observer is not None for block in self.model.block)
        if not self.use_graph or observed:
            logits = self._eager()
        else:
            logits = self._replay() if self.warmed_up else self._warm_up()
        advance(self.cache)
        return logits


@torch.inference_mode()
def generate(
    model,
    prompt_ids: Iterable[int] | torch.Tensor,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_p: float = 1.0,
    stop_tokens: Iterable[int] | None = None,
    seed: int | None = None,
) -> Iterator[int]:
    """``gptoss_edu.model.generation.generate`` with graph-replayed decode steps (same arguments, same tokens)."""
    prompt = torch.as_tensor(list(prompt_ids) if not isinstance(prompt_ids, torch.Tensor) else prompt_ids)
    prompt = prompt.reshape(-1).to(device=model.device, dtype=torch.long)
    check_arguments(model, prompt.numel(), max_new_tokens, temperature, top_p)
    stops = set(DEFAULT_STOP_TOKENS if stop_tokens is None else stop_tokens)
    generator = torch.Generator(device=model.device).manual_seed(seed) if seed is not None else None
    cache = model.new_cache(batch_size=1, capacity=prompt.numel() + max_new_tokens)
    logits = model(prompt, cache=cache)[-1]
    decoder = DecodeGraph(model, cache)
    for produced in range(max_new_tokens):
        token = sample_next_token(logits, temperature, top_p, generator)
        yield token
        if token in stops or produced + 1 == max_new_tokens:
            return
        logits = decoder.step(torch.tensor([token], device=model.device))[0]
