"""Byte-pair encoding of one chunk: repeatedly merge the adjacent pair with the lowest rank.

A *rank* table maps token bytes to token ids; a lower id was learned earlier, so it merges
first. Encoding a chunk starts from its single bytes and, while some adjacent pair of parts
is itself a token, merges the pair of lowest rank (the leftmost one on a tie), exactly as
tiktoken does. When no adjacent pair is a token, the parts are the tokens.

Two implementations of that one rule, chosen by length:

- ``_merge_short``: a list of pair ranks, scanned for the minimum after every merge.
  Quadratic in the chunk length but with tiny constants; almost every chunk is a few bytes long.
- ``_merge_long``: a heap of candidate pairs and a linked list of parts, O(n log n), so that
  a 100 kB run of one character does not take minutes.

Every byte of a chunk must have a rank (true for byte-level vocabularies: all 256 bytes are
tokens); a missing byte raises ``KeyError`` naming it.
"""
from __future__ import annotations

import heapq
from collections.abc import Mapping

_LONG_CHUNK = 64  # bytes; beyond this the heap version is faster than rescanning
_NO_MERGE = float("inf")


def bpe_merge(piece: bytes, ranks: Mapping[bytes, int]) -> list[int]:
    """The token ids of one pre-tokenized chunk (``piece`` as UTF-8 bytes)."""
    rank = ranks.get(piece)
    if rank is not None:  # a chunk that is a whole token is looked up directly, as tiktoken does
        return [rank]
    parts = _merge_long(piece, ranks) if len(piece) > _LONG_CHUNK else _merge_short(piece, ranks)
    try:
        return [ranks[part] for part in parts]
    except KeyError:
        missing = next(part for part in parts if part not in ranks)
        raise KeyError(f"byte {missing!r} of chunk {piece[:40]!r} has no rank in this vocabulary") from None


def _merge_short(piece: bytes, ranks: Mapping[bytes, int]) -> list[bytes]:
    parts = [piece[i : i + 1] for i in range(len(piece))]
    get = ranks.get
    # pair_ranks[i] is the rank of parts[i] + parts[i + 1]; a merge only changes its two neighbours.
    pair_ranks = [get(left + right, _NO_MERGE) for left, right in zip(parts, parts[1:])]
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
    # Parts are identified by their start offset; next_start/prev_start link them in order.
    # The heap holds (rank, left start, right start, right end) for candidate pairs; an entry is
    # stale when either part has changed since it was pushed, which the start/end check detects.
    n = len(piece)
    next_start = list(range(1, n + 1))
    prev_start = list(range(-1, n - 1))
    alive = [True] * n
    heap: list[tuple[int, int, int, int]] = []

    def push(left: int) -> None:
        right = next_start[left]
        if right >= n:
            return
        end = next_start[right]
        rank = ranks.get(piece[left:end])
        if rank is not None:
            heapq.heappush(heap, (rank, left, right, end))

    for start in range(n - 1):
        push(start)
    while heap:
        _, left, right, end = heapq.heappop(heap)
        if not (alive[left] and next_start[left] == right and next_start[right] == end):
            continue  # stale: one of the two parts was merged away or grew
        alive[right] = False
        next_start[left] = end
        if end < n:
            prev_start[end] = left
        push(left)
        if prev_start[left] >= 0:
            push(prev_start[left])
    parts = []
    start = 0
    while start < n:
        parts.append(piece[start : next_start[start]])
        start = next_start[start]
    return parts
