"""Decode steps captured once as a CUDA graph and replayed: only what capture needs.

At batch 1 a gpt-oss decode step is a few hundred small kernels; launched one by one from
Python they cost more than the math. A CUDA graph records the whole step once and replays it
with one launch. Replaying requires that nothing in the step depends on host values and that
no tensor it touches moves. The model's own forward pass already reads the token's position
from the ``KVCache`` (a tensor on the device); what this module adds is the rest:

- static buffers: the input ids, which each step overwrites, and the logits the graph writes;
- a cache with ``fixed_shapes`` (whole buffers every step) and no growth (``room_left``),
  and RoPE tables allocated once for every position the cache can hold, kept alive here, so
  a replay never reads memory that was freed or moved;
- capture after one eager warm-up step (which compiles and autotunes the kernels), then replay.

``generate`` is ``gptoss_edu.model.generation.generate`` with its decode steps taken by a
``DecodeGraph`` (eager steps where graphs are unavailable: CPU, torch cores, routing capture).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch

from gptoss_edu.fast.select import uses_kernels
from gptoss_edu.model.generation import generate as generate_with_cache
from gptoss_edu.model.kvcache import KVCache


class DecodeGraph:
    """Decode steps for ``cache``'s batch, replayed from a CUDA graph after one eager warm-up step.

    ``step(token_ids (B,))`` returns logits ``(B, vocab)`` and advances the cache. The cache
    must be preallocated (``model.new_cache(batch, capacity)``) and is switched to
    ``fixed_shapes``; ``step`` refuses to run past its capacity. Without CUDA, without the Triton cores or with dequantized experts (whose
    torch core synchronises with the host) every step runs eagerly: the same forward pass; so do
    the steps after a failed capture, whose reason ``capture_problem`` keeps.
    """

    def __init__(self, model, cache: KVCache):
        self.model = model
        self.cache = cache
        cache.fixed_shapes = True  # every step attends whole buffers: the shapes a graph was recorded with
        device = model.device
        self.ids = torch.zeros(cache[0].keys.shape[0], 1, dtype=torch.long, device=device)
        self.logits: torch.Tensor | None = None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.warmed_up = False
        self.use_graph = device.type == "cuda" and uses_kernels(model) and model.experts == "packed"
        self.capture_problem: str | None = None  # why capture failed, after which every step runs eagerly
        self.rope_tables = self._rope_tables()

    def _rope_tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The RoPE tables for every position the cache can hold (the model's own, grown now if needed)."""
        return self.model.block[0].attn.rope.cos_sin(len(self.cache) + self.cache.room_left(), self.model.device)

    def _eager(self) -> torch.Tensor:
        return self.model(self.ids, cache=self.cache)[:, -1]

    def _warm_up(self) -> torch.Tensor:
        """A real eager step on a side stream (as CUDA graph capture wants): compiles and autotunes the kernels."""
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            logits = self._eager()
        torch.cuda.current_stream().wait_stream(side)
        self.warmed_up = True
        return logits

    def _capture(self) -> None:
        """Record one step. Capturing runs the Python (so the host count advances) but none of the kernels."""
        held = len(self.cache)
        self.rope_tables = self._rope_tables()  # the tables the step reads: kept alive while the graph lives
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.logits = self._eager()
        self.cache.length = held  # the step has not happened yet: the first replay will do it

    def _replay(self) -> torch.Tensor:
        if self.graph is None:
            held = len(self.cache)
            try:
                self._capture()
            except RuntimeError as problem:  # a host sync in some core: nothing ran, so the step runs eagerly
                self.graph, self.use_graph, self.cache.length = None, False, held
                self.capture_problem = f"{type(problem).__name__}: {problem}"
                return self._eager()
        self.graph.replay()  # includes the device half of ``cache.advance``: offset += 1
        self.cache.length += 1  # and this is its host half
        return self.logits

    @torch.inference_mode()
    def step(self, token_ids: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, vocab)`` of ``token_ids (B,)``, the next token of each sequence; the cache advances."""
        if self.cache.room_left() < 1:
            raise ValueError(f"the KV cache is full at {len(self.cache)} tokens; preallocate a larger capacity")
        self.ids.copy_(token_ids.reshape(-1, 1))
        observed = any(block.mlp.routing_observer is not None for block in self.model.block)
        if not self.use_graph or observed:
            return self._eager()
        return self._replay() if self.warmed_up else self._warm_up()

    __call__ = step  # a DecodeGraph is a decoder for ``generate``


def generate(model, prompt_ids: Iterable[int] | torch.Tensor, max_new_tokens: int, **sampling) -> Iterator[int]:
    """``gptoss_edu.model.generation.generate`` with graph-replayed decode steps (same arguments, same tokens).

    ``sampling`` takes that function's keywords: ``temperature``, ``top_p``, ``stop_tokens``, ``seed``.
    """
    return generate_with_cache(model, prompt_ids, max_new_tokens, decoder=DecodeGraph, **sampling)
