"""Token-by-token generation with a KV cache: one prefill, then one-token decode steps.

The prompt goes through the model once (prefill), filling the cache; each new token then
costs one forward pass over that single token. Sampling: greedy (argmax) at
``temperature=0``; otherwise softmax of ``logits / temperature``, optionally restricted to
the smallest set of most likely tokens whose probability reaches ``top_p`` (nucleus
sampling), drawn with a ``torch.Generator`` seeded by ``seed`` for reproducibility.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import partial

import torch

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
) -> Iterator[int]:
    """Yield up to ``max_new_tokens`` token ids continuing ``prompt_ids`` (batch 1).

    Stops after yielding a token from ``stop_tokens`` (default: harmony's ``<|return|>``,
    ``<|call|>``, ``<|endoftext|>``). ``seed`` makes sampling reproducible; greedy decoding
    (``temperature=0``) ignores it. ``model`` is a ``gptoss_edu.model.transformer.Transformer``.
    ``decoder(model, cache)`` returns the function that takes one token ``(1,)`` through the
    model and gives its logits ``(1, vocab)``; by default the model's forward pass on the cache
    (``gptoss_edu.fast.gpu_decode.generate`` passes its CUDA-graph ``DecodeGraph``).
    """
    prompt = torch.as_tensor(list(prompt_ids) if not isinstance(prompt_ids, torch.Tensor) else prompt_ids)
    prompt = prompt.reshape(-1).to(device=model.device, dtype=torch.long)
    check_arguments(model, prompt.numel(), max_new_tokens, temperature, top_p)
    stops = set(DEFAULT_STOP_TOKENS if stop_tokens is None else stop_tokens)
    generator = None
    if seed is not None:
        generator = torch.Generator(device=model.device).manual_seed(seed)
    cache = model.new_cache(batch_size=1, capacity=prompt.numel() + max_new_tokens)
    logits = model(prompt, cache=cache)[-1]  # prefill: (vocab,) at the last prompt position
    step = decoder(model, cache) if decoder is not None else partial(model, cache=cache)
    for produced in range(1, max_new_tokens + 1):
        token = sample_next_token(logits, temperature, top_p, generator)
        if hasattr(model, "shared_token"):  # a model split over processes: rank 0's choice counts
            token = model.shared_token(token)
        yield token
        if token in stops or produced == max_new_tokens:
            return
        logits = step(torch.tensor([token], device=model.device))[-1]  # decode: one token, one forward pass
