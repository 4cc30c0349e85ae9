"""Finding special tokens in text: one regex for a set of names, written as a trie.

A flat alternation of o200k_harmony's 1,088 special names would be tried name by name at every
position of the text; a trie (``<\\|(?:end\\|>|start\\|>|...)``) tries one character at a time.
"""
from __future__ import annotations

import functools
import re


@functools.lru_cache(maxsize=64)
def special_token_regex(tokens: frozenset[str]) -> re.Pattern[str]:
    """A regex matching any of ``tokens``, the longest where several start at one place."""
    trie: dict = {}
    for token in tokens:
        node = trie
        for char in token:
            node = node.setdefault(char, {})
        node[""] = {}  # a token ends here
    return re.compile(_trie_pattern(trie))


def _trie_pattern(node: dict) -> str:
    # Longer continuations first, the end of a token ("") last: the longer token wins.
    branches = [re.escape(char) + _trie_pattern(child) for char, child in sorted(node.items()) if char]
    branches += [""] if "" in node else []
    return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
