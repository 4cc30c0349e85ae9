"""Byte-pair encoding of one chunk: repeatedly merge the adjacent pair with the lowest rank.

A *rank* table maps token bytes to token ids; a lower id was learned earlier, so it merges
first. Encoding a chunk starts from its single bytes and, while some adjacent pair of parts
is itself a token, merges the pair of lowest rank (the leftmost one on a tie), exactly as
tiktoken does. When no adjacent pair is a token, the parts are the tokens.

Two implementations of that one rule, chosen by length:

- ``_merge_short``: a list of pair ranks, scanned for the minimum after every merge.
  Quadratic in the chunk length but with tiny constants; almost every chunk is a few bytes long.
- ``_merge_long``: a heap of candidate pairs and a linked list of parts, O(n log n), so that
  a megabyte-long run of one character takes seconds, not hours. Heap entries are single ints
  ``rank << shift | start`` (cheaper to compare than tuples); an entry is stale when the pair
  starting there has changed since, which its rank tells: a longer pair is another token.

Every byte of a chunk must have a rank (true for byte-level vocabularies: all 256 bytes are
tokens); a missing byte raises ``KeyError`` naming it.
"""
from __future__ import annotations

import heapq
from collections.abc import Mapping
from itertools import repeat
from operator import add

_LONG_CHUNK = 64  # bytes; beyond this the heap version is faster than rescanning
_NO_MERGE = 1 << 62  # larger than any rank
_SINGLE_BYTES = [bytes([byte]) for byte in range(256)]


def bpe_merge(piece: bytes, ranks: Mapping[bytes, int]) -> list[int]:
    """The token ids of one pre-tokenized chunk (``piece`` as UTF-8 bytes)."""
    rank = ranks.get(piece)
    if rank is not None:  # a chunk that is a whole token is looked up directly, as tiktoken does
        return [rank]
    return byte_pair_encode(piece, ranks)


def byte_pair_encode(piece: bytes, ranks: Mapping[bytes, int]) -> list[int]:
    """The merges alone, without the whole-chunk lookup (the two can differ on rare chunks)."""
    parts = _merge_long(piece, ranks) if len(piece) > _LONG_CHUNK else _merge_short(piece, ranks)
    try:
        return [ranks[part] for part in parts]
    except KeyError:
        missing = next(part for part in parts if part not in ranks)
        raise KeyError(f"byte {missing!r} of chunk {piece[:40]!r} has no rank in this vocabulary") from None


def _merge_short(piece: bytes, ranks: Mapping[bytes, int]) -> list[bytes]:
    parts = list(map(_SINGLE_BYTES.__getitem__, piece))
    get = ranks.get
    # pair_ranks[i] is the rank of parts[i] + parts[i + 1]; a merge only changes its two neighbours.
    pair_ranks = list(map(get, map(add, parts, parts[1:]), repeat(_NO_MERGE)))
    while pair_ranks:
        best = min(pair_ranks)
        if best == _NO_MERGE:
            break
        i = pair_ranks.index(best)  # leftmost pair of lowest rank
        parts[i : i + 2] = [parts[i] + parts[i + 1]]
        del pair_ranks[i]
        if i > 0:
            pair_ranks[i - 1] = get(parts[i - 1] + parts[i], _NO_MERGE)
        if i < len(pair_ranks):
            pair_ranks[i] = get(parts[i] + parts[i + 1], _NO_MERGE)
    return parts


def _merge_long(piece: bytes, ranks: Mapping[bytes, int]) -> list[bytes]:
    # Parts are named by their start offset; next_start/prev_start link the live ones in order.
    # pair_rank[start] is the rank of the live pair beginning at start (-1: none).
    n = len(piece)
    get = ranks.get
    shift = n.bit_length()
    mask = (1 << shift) - 1
    next_start = list(range(1, n + 1))
    prev_start = list(range(-1, n - 1))
    pair_rank = [get(piece[i : i + 2], -1) for i in range(n - 1)] + [-1]
    heap = [rank << shift | start for start, rank in enumerate(pair_rank) if rank >= 0]
    heapq.heapify(heap)
    pop, push = heapq.heappop, heapq.heappush
    while heap:
        entry = pop(heap)
        left = entry & mask
        if pair_rank[left] != entry >> shift:
            continue  # stale: the pair starting at `left` changed after this entry was pushed
        right = next_start[left]
        end = next_start[right]
        pair_rank[right] = -1  # the right part is absorbed
        next_start[left] = end
        if end < n:
            prev_start[end] = left
            rank = pair_rank[left] = get(piece[left : next_start[end]], -1)
            if rank >= 0:
                push(heap, rank << shift | left)
        else:
            pair_rank[left] = -1
        before = prev_start[left]
        if before >= 0:
            rank = pair_rank[before] = get(piece[before:end], -1)
            if rank >= 0:
                push(heap, rank << shift | before)
    parts = []
    start = 0
    while start < n:
        parts.append(piece[start : next_start[start]])
        start = next_start[start]
    return parts
