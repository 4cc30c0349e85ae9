"""Learning BPE merges from text: the training half of byte-level BPE.

Start from the 256 single bytes (token id = byte value). Cut the text into chunks with the
pre-tokenizer (merges never cross a chunk boundary, exactly as when encoding), then repeat:
count every adjacent pair of tokens inside the chunks, make the most frequent pair a new
token with the next id, and replace it everywhere. The result is a rank table
``{token bytes: id}`` that ``Tokenizer`` encodes with.

Tie-breaking is deterministic: among pairs with the same count the smallest pair of ids
wins (compared as ``(left id, right id)``), i.e. the pair made of older tokens. When a merge
produces bytes that already are a token (``"ab" + "c"`` after ``"a" + "bc"``) the existing
id is reused and the vocabulary does not grow, so ranks stay one id per byte string.
Training stops early when no pair is left (the text is then one token per chunk).

Counting is incremental: each chunk is stored once with its number of occurrences, and a
merge only recounts the chunks that contain the merged pair.
"""
from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Sequence

from .pretokenizer import O200K_PATTERN, pretokenize


def count_pairs(ids: Sequence[int]) -> dict[tuple[int, int], int]:
    """How often each adjacent pair occurs in ``ids`` (``[1, 2, 1, 2]`` -> ``{(1, 2): 2, (2, 1): 1}``)."""
    return dict(Counter(zip(ids, ids[1:])))


def merge_pair(ids: Sequence[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every occurrence of ``pair`` in ``ids``, scanning left to right, by ``new_id``."""
    merged: list[int] = []
    i = 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            merged.append(new_id)
            i += 2
        else:
            merged.append(ids[i])
            i += 1
    return merged


def train_bpe(text: str, vocab_size: int, pattern: str | None = O200K_PATTERN) -> dict[bytes, int]:
    """Learn a byte-level BPE vocabulary of ``vocab_size`` tokens from ``text``.

    Returns ``{token bytes: rank}`` with the 256 bytes as ranks 0..255 and one rank per merge
    after them, in the order learned (fewer if the text runs out of pairs). ``pattern=None``
    trains on the raw text without pre-tokenization.
    """
    if vocab_size < 256:
        raise ValueError(f"vocab_size must be at least 256 (the single bytes), got {vocab_size}")
    chunk_counts = Counter(pretokenize(text, pattern) if pattern is not None else [text])
    words = [list(chunk.encode("utf-8")) for chunk in chunk_counts]
    weights = list(chunk_counts.values())
    vocab = [bytes([b]) for b in range(256)]
    ids_of = {token: i for i, token in enumerate(vocab)}

    pair_counts: Counter[tuple[int, int]] = Counter()
    chunks_with: defaultdict[tuple[int, int], set[int]] = defaultdict(set)  # may list chunks that lost the pair
    for w, ids in enumerate(words):
        for pair in zip(ids, ids[1:]):
            pair_counts[pair] += weights[w]
            chunks_with[pair].add(w)
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)

    while len(vocab) < vocab_size and heap:
        negative_count, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -negative_count or negative_count == 0:
            continue  # stale entry: the count changed after it was pushed
        merged = vocab[pair[0]] + vocab[pair[1]]
        new_id = ids_of.setdefault(merged, len(vocab))
        if new_id == len(vocab):
            vocab.append(merged)
        _merge_everywhere(pair, new_id, words, weights, pair_counts, chunks_with, heap)
    return ids_of


def _merge_everywhere(
    pair: tuple[int, int],
    new_id: int,
    words: list[list[int]],
    weights: list[int],
    pair_counts: Counter[tuple[int, int]],
    chunks_with: defaultdict[tuple[int, int], set[int]],
    heap: list[tuple[int, tuple[int, int]]],
) -> None:
    # Merge ``pair`` in every chunk holding it and update the counts by the difference; only
    # pairs whose count changed get a fresh heap entry, and only pairs with ``new_id`` are new.
    delta: Counter[tuple[int, int]] = Counter()
    for w in chunks_with.pop(pair):
        ids, weight = words[w], weights[w]
        merged = merge_pair(ids, pair, new_id)
        for old_pair in zip(ids, ids[1:]):
            delta[old_pair] -= weight
        for new_pair in zip(merged, merged[1:]):
            delta[new_pair] += weight
            if new_id in new_pair:
                chunks_with[new_pair].add(w)
        words[w] = merged
    for changed, difference in delta.items():
        if difference:
            pair_counts[changed] += difference
            if pair_counts[changed] > 0:
                heapq.heappush(heap, (-pair_counts[changed], changed))
