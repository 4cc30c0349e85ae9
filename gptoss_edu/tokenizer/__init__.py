"""The o200k_harmony tokenizer of gpt-oss, rebuilt from scratch (byte-level BPE).

- ``pretokenizer``: the o200k regex that cuts text into chunks, alternative by alternative.
- ``charclass``, ``unicode_classes``: tiktoken's Unicode classes (regex-syntax's Unicode 16 tables).
- ``bpe``: encoding one chunk by merging the lowest-rank adjacent pair.
- ``train``: learning merges from text (``train_bpe``), for teaching and small vocabularies.
- ``core``: ``Tokenizer``, built from ``(ranks, special_tokens, pattern)``, tiktoken's API.
- ``unstable``: ``encode_with_unstable`` and byte input, following tiktoken's algorithm.
- ``o200k``: the real vocabulary plus harmony's special tokens; ``o200k_harmony()``.
- ``display``: coloured HTML views of tokens for notebooks.
"""
from .bpe import bpe_merge
from .core import InvalidTokenError, Tokenizer, TokenOutOfRangeError, TokenTypeError
from .o200k import HARMONY_NAMED_SPECIAL_TOKENS, harmony_special_tokens, load_o200k_harmony, o200k_harmony
from .pretokenizer import O200K_ALTERNATIVES, O200K_PATTERN, explain_chunks, pretokenize, translate_pattern
from .train import count_pairs, merge_pair, train_bpe

__all__ = [
    "HARMONY_NAMED_SPECIAL_TOKENS",
    "InvalidTokenError",
    "O200K_ALTERNATIVES",
    "O200K_PATTERN",
    "TokenOutOfRangeError",
    "TokenTypeError",
    "Tokenizer",
    "bpe_merge",
    "count_pairs",
    "explain_chunks",
    "harmony_special_tokens",
    "load_o200k_harmony",
    "merge_pair",
    "o200k_harmony",
    "pretokenize",
    "train_bpe",
    "translate_pattern",
]
