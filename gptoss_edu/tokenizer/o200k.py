"""o200k_harmony: the o200k_base merges plus gpt-oss's harmony special tokens.

The 199,998 mergeable ranks come from the official ``o200k_base.tiktoken`` file, found and
hash-checked by ``gptoss_edu.io.vocab``. Harmony names ten special tokens (GUIDE section 4);
every other id from 199,998 to 201,087 is ``<|reserved_N|>``. As in tiktoken, 200018 has two
names: ``<|endofprompt|>`` (inherited from o200k_base, used when decoding) and
``<|reserved_200018|>``.
"""
from __future__ import annotations

import functools
import os

from gptoss_edu.io.vocab import load_o200k_ranks

from .core import Tokenizer
from .pretokenizer import O200K_PATTERN

O200K_HARMONY_N_VOCAB = 201088

HARMONY_NAMED_SPECIAL_TOKENS: dict[str, int] = {
    "<|startoftext|>": 199998,
    "<|endoftext|>": 199999,
    "<|return|>": 200002,
    "<|constrain|>": 200003,
    "<|channel|>": 200005,
    "<|start|>": 200006,
    "<|end|>": 200007,
    "<|message|>": 200008,
    "<|call|>": 200012,
    "<|endofprompt|>": 200018,
}
"""The special tokens harmony gives a meaning to (the rest of the range is reserved)."""


def harmony_special_tokens() -> dict[str, int]:
    """All special tokens of o200k_harmony: the named ones, then ``<|reserved_N|>`` for every
    other id below 201088 (and for 200018, which also has a name)."""
    named_ids = set(HARMONY_NAMED_SPECIAL_TOKENS.values()) - {HARMONY_NAMED_SPECIAL_TOKENS["<|endofprompt|>"]}
    first = min(HARMONY_NAMED_SPECIAL_TOKENS.values())
    reserved = {f"<|reserved_{i}|>": i for i in range(first, O200K_HARMONY_N_VOCAB) if i not in named_ids}
    return {**HARMONY_NAMED_SPECIAL_TOKENS, **reserved}


def load_o200k_harmony(vocab_path: str | os.PathLike | None = None) -> Tokenizer:
    """Build the o200k_harmony tokenizer (about a second: the 200k-line vocabulary is parsed).

    ``vocab_path`` names the ``o200k_base.tiktoken`` file; by default ``gptoss_edu.io.vocab``
    finds it. A wrong or truncated file raises ``gptoss_edu.io.vocab.VocabError``.
    """
    ranks = load_o200k_ranks(vocab_path)
    return Tokenizer(ranks, harmony_special_tokens(), O200K_PATTERN, name="o200k_harmony")


@functools.lru_cache(maxsize=1)
def o200k_harmony() -> Tokenizer:
    """The o200k_harmony tokenizer of gpt-oss, built once per process and shared."""
    return load_o200k_harmony()
