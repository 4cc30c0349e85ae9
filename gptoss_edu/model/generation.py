"""Token-by-token generation with a KV cache: a prefill, then one-token decode steps.

The prompt goes through the model first (``prefill``), filling the cache; each new token then
costs one forward pass over that single token. A long prompt is prefilled in chunks of
``PREFILL_CHUNK`` tokens, each chunk one forward pass that continues the cache and keeps only
the last position's logits: the transient buffers then scale with the chunk, not the prompt,
and the result is that of one whole pass (the same keys, values and masks, computed in
pieces; equal to float rounding).

Sampling: greedy (argmax) at ``temperature=0``; otherwise softmax of ``logits / temperature``,
optionally restricted to the smallest set of most likely tokens whose probability reaches
``top_p`` (nucleus sampling), drawn with a ``torch.Generator`` seeded by ``seed`` for
reproducibility.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from gptoss_edu.model.kvcache import KVCache

PREFILL_CHUNK = 2048  # prompt tokens per prefill pass: big enough to keep a GPU busy, small next to a long prompt
# Harmony's stop tokens: <|return|> (answer finished), <|call|> (tool call), <|endoftext|>.
DEFAULT_STOP_TOKENS = (200002, 200012, 199999)


def top_p_filter(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Zero all but the most likely tokens whose cumulative probability first reaches ``top_p``; renormalise."""
    sorted_probs, order = torch.sort(probs, descending=True)
    before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs  # probability mass ranked above each token
    sorted_probs = torch.where(before < top_p, sorted_probs, torch.zeros_like(sorted_probs))
    kept = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return kept / kept.sum(dim=-1, keepdim=True)


def sample_next_token(logits: torch.Tensor, temperature: float = 0.0, top_p: float = 1.0,
                      generator: torch.Generator | None = None) -> int:
    """Pick the next token from ``logits (vocab,)``: argmax at ``temperature == 0``, else sample."""
    if temperature == 0.0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        probs = top_p_filter(probs, top_p)
    return int(torch.multinomial(probs, num_samples=1, generator=generator))


def prefill(model, ids: torch.Tensor, cache: KVCache, chunk: int | None = PREFILL_CHUNK) -> torch.Tensor:
    """Run ``ids (T,)`` or ``(B, T)`` through ``cache`` in chunks of ``chunk`` tokens; return the last logits.

    Returns ``(vocab,)`` for ``(T,)`` ids, ``(B, vocab)`` for a batch: the logits of the last
    position, as ``model(ids, cache=cache)[..., -1, :]`` would give, and the cache ends holding
    the same keys and values (to float rounding). Each chunk attends to the cache filled by the chunks before it,
    so only a chunk's activations are alive at a time. ``chunk=None`` takes the whole prompt
    in one pass.
    """
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1):
        raise ValueError(f"chunk must be a positive number of tokens or None, got {chunk!r}")
    length = ids.shape[-1]
    if length == 0:
        raise ValueError("prefill needs at least one token, got none")
    step = length if chunk is None else chunk
    for start in range(0, length, step):
        logits = model(ids[..., start:start + step], cache=cache, logits="last")  # (1, vocab) or (B, 1, vocab)
    return logits[..., -1, :]


def one_sequence(prompt_ids: Iterable[int] | torch.Tensor) -> torch.Tensor:
    """The prompt as a ``(T,)`` LongTensor; a batch of several sequences is refused, not flattened into one.

    ``generate`` continues one sequence: the ``KVCache`` gives every row of a batch the same
    positions, so rows of different lengths (ragged or padded) cannot share a cache.
    """
    prompt = torch.as_tensor(list(prompt_ids) if not isinstance(prompt_ids, torch.Tensor) else prompt_ids)
    if prompt.dim() > 2 or (prompt.dim() == 2 and prompt.shape[0] != 1):
        raise ValueError(f"generate continues one sequence, got prompt_ids of shape {tuple(prompt.shape)}; "
                         "call it once per sequence")
    if prompt.numel() and (prompt.is_floating_point() or prompt.is_complex() or prompt.dtype == torch.bool):
        raise ValueError(f"prompt_ids must be integer token ids, got dtype {prompt.dtype}")
    return prompt.reshape(-1).long()


def check_arguments(model, prompt_length: int, max_new_tokens: int, temperature: float, top_p: float) -> None:
    if prompt_length == 0:
        raise ValueError("prompt_ids is empty: generation needs at least one prompt token")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    limit = model.config.max_context_length
    if prompt_length + max_new_tokens > limit:
        raise ValueError(
            f"prompt of {prompt_length} tokens + max_new_tokens={max_new_tokens} = {prompt_length + max_new_tokens} "
            f"exceeds max_context_length={limit} of {model.config.name}"
        )


@torch.inference_mode()
def generate(
    model,
    prompt_ids: Iterable[int] | torch.Tensor,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_p: float = 1.0,
    stop_tokens: Iterable[int] | None = None,
    seed: int | None = None,
    decoder: Callable[..., Callable[[torch.Tensor], torch.Tensor]] | None = None,
    prefill_chunk: int | None = PREFILL_CHUNK,
) -> Iterator[int]:
    """Yield up to ``max_new_tokens`` token ids continuing ``prompt_ids`` (batch 1).

    Stops after yielding a token from ``stop_tokens`` (default: harmony's ``<|return|>``,
    ``<|call|>``, ``<|endoftext|>``). ``seed`` makes sampling reproducible; greedy decoding
    (``temperature=0``) ignores it. ``model`` is a ``gptoss_edu.model.transformer.Transformer``.
    ``decoder(model, cache)`` returns the function that takes one token ``(1,)`` through the
    model and gives its logits ``(1, vocab)``; by default the model's forward pass on the cache
    (``gptoss_edu.fast.gpu_decode.generate`` passes its CUDA-graph ``DecodeGraph``).
    The prompt is prefilled ``prefill_chunk`` tokens at a time (``prefill``; ``None``: in one pass).
    """
    prompt = one_sequence(prompt_ids).to(device=model.device)
    check_arguments(model, prompt.numel(), max_new_tokens, temperature, top_p)
    stops = set(DEFAULT_STOP_TOKENS if stop_tokens is None else stop_tokens)
    generator = None
    if seed is not None:
        generator = torch.Generator(device=model.device).manual_seed(seed)
    cache = model.new_cache(batch_size=1, capacity=prompt.numel() + max_new_tokens)
    logits = prefill(model, prompt, cache, prefill_chunk)  # (vocab,) at the last prompt position
    step = decoder(model, cache) if decoder is not None else partial(model, cache=cache)
    for produced in range(1, max_new_tokens + 1):
        token = sample_next_token(logits, temperature, top_p, generator)
        if hasattr(model, "shared_token"):  # a model split over processes: rank 0's choice counts
            token = model.shared_token(token)
        yield token
        if token in stops or produced == max_new_tokens:
            return
        logits = step(torch.tensor([token], device=model.device))[-1]  # decode: one token, one forward pass
