"""Byte-pair encoding of one chunk: repeatedly merge the adjacent pair with the lowest rank.

A *rank* table maps token bytes to token ids; a lower id was learned earlier, so it merges
first. Encoding a chunk starts from its single bytes and, while some adjacent pair of parts
is itself a token, merges the pair of lowest rank (the leftmost one on a tie), exactly as
tiktoken does. When no adjacent pair is a token, the parts are the tokens.

Two implementations of that one rule, chosen by length:

- ``_merge_short``: a list of pair ranks, scanned for the minimum after every merge.
  Quadratic in the chunk length but with tiny constants; almost every chunk is a few bytes long.
- ``_merge_long``: a linked list of parts and, per rank, the places where a pair of that rank
  was seen; ranks are taken lowest first from a heap, and all pairs of one rank are merged in
  one left-to-right sweep, O(n log n) overall, so a megabyte-long run of one character takes
  seconds, not hours. An entry is stale when the pair starting there has changed since, which
  its rank tells (a longer pair is another token). A merge can only create pairs of *other*
  ranks (longer bytes); should one be lower than the sweep's (possible in a hand-made
  vocabulary), the sweep stops there and its remaining pairs wait their turn.

A long chunk is first cut where no merge can ever join its two neighbours: between bytes
``a`` and ``b`` when no token contains ``ab`` (``joinable_pairs`` lists the pairs that occur).
A merge stays inside one piece, and the lowest-rank-first order restricted to one piece is
that piece's own order, so encoding the pieces separately gives the same tokens. One megabyte
of random punctuation falls into pieces of about three bytes, most of them repeats.

Every byte of a chunk must have a rank (true for byte-level vocabularies: all 256 bytes are
tokens); a missing byte raises ``KeyError`` naming it.
"""
from __future__ import annotations

import heapq
import operator
from collections.abc import Collection, Mapping
from itertools import compress, groupby, repeat
from typing import NoReturn

LONG_CHUNK = 64  # bytes; beyond this the heap version is faster than rescanning
_NO_MERGE = 1 << 62  # larger than any rank
_SINGLE_BYTES = [bytes([byte]) for byte in range(256)]
_ABSORBED = -2  # prev_start of a part merged into its left neighbour


def bpe_merge(piece: bytes, ranks: Mapping[bytes, int], joinable: Collection[int] | None = None) -> list[int]:
    """The token ids of one pre-tokenized chunk (``piece`` as UTF-8 bytes).

    ``joinable``, when given, is ``joinable_pairs(ranks)``: long chunks are then cut where no
    merge can reach (same result, faster).
    """
    rank = ranks.get(piece)
    if rank is not None:  # a chunk that is a whole token is looked up directly, as tiktoken does
        return [rank]
    return byte_pair_encode(piece, ranks, joinable)


def joinable_pairs(ranks: Mapping[bytes, int]) -> frozenset[int]:
    """Every adjacent byte pair ``(a, b)`` inside some token, as ``256 * a + b``."""
    pairs: set[int] = set()
    for token in ranks:
        pairs.update(map(operator.add, map(operator.mul, token[:-1], repeat(256)), token[1:]))
    return frozenset(pairs)


def byte_pair_encode(piece: bytes, ranks: Mapping[bytes, int], joinable: Collection[int] | None = None) -> list[int]:
    """The merges alone, without the whole-chunk lookup (the two can differ on rare chunks)."""
    if len(piece) > LONG_CHUNK:
        return _merge_long(piece, ranks) if joinable is None else _merge_pieces(piece, ranks, joinable)
    parts = _merge_short(piece, ranks)
    try:
        return list(map(ranks.__getitem__, parts))
    except KeyError:
        _raise_missing_byte(piece, ranks)


def _raise_missing_byte(piece: bytes, ranks: Mapping[bytes, int]) -> NoReturn:
    missing = next(_SINGLE_BYTES[byte] for byte in piece if _SINGLE_BYTES[byte] not in ranks)
    raise KeyError(f"byte {missing!r} of chunk {piece[:40]!r} has no rank in this vocabulary") from None


def _merge_pieces(piece: bytes, ranks: Mapping[bytes, int], joinable: Collection[int]) -> list[int]:
    """``_merge_long``'s result, from the pieces between the unjoinable byte pairs; repeated pieces encoded once."""
    pairs = map(operator.add, map(operator.mul, piece[:-1], repeat(256)), piece[1:])  # pair i: bytes i, i + 1
    cuts = list(compress(range(1, len(piece)), map(operator.not_, map(joinable.__contains__, pairs))))
    if not cuts:
        return _merge_long(piece, ranks)
    done: dict[bytes, list[int]] = {}
    ids: list[int] = []
    for start, end in zip([0, *cuts], [*cuts, len(piece)]):
        part = piece[start:end]
        part_ids = done.get(part)
        if part_ids is None:
            part_ids = done[part] = byte_pair_encode(part, ranks, joinable)
        ids += part_ids
    return ids


def _merge_short(piece: bytes, ranks: Mapping[bytes, int]) -> list[bytes]:
    parts = list(map(_SINGLE_BYTES.__getitem__, piece))
    get = ranks.get
    # pair_ranks[i] is the rank of parts[i] + parts[i + 1]; a merge only changes its two neighbours.
    pair_ranks = list(map(get, map(operator.add, parts, parts[1:]), repeat(_NO_MERGE)))
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


def _merge_long(piece: bytes, ranks: Mapping[bytes, int]) -> list[int]:
    # Returns the token ids. Parts are named by their start offset; next_start/prev_start link
    # the live ones in order, and part_id holds each one's id (a merged part's id is the rank of
    # the pair that made it). pair_rank[start] is the rank of the live pair beginning at start
    # (-1: none). buckets[rank] lists the starts where a pair of that rank was seen (some since
    # changed: checked on use); queue holds the ranks, lowest first. A rank's pairs are merged
    # left to right in one sweep.
    n = len(piece)
    get = ranks.get
    next_start = list(range(1, n + 1))
    prev_start = list(range(-1, n - 1))
    # Pairs as ints (256 * first byte + second): each distinct pair is looked up once.
    pairs = list(map(operator.add, map(operator.mul, piece[:-1], repeat(256)), piece[1:]))
    pair_ranks = {pair: get(bytes(divmod(pair, 256)), -1) for pair in set(pairs)}
    pair_rank = list(map(pair_ranks.__getitem__, pairs))
    pair_rank.append(-1)
    part_id = list(map(get, map(_SINGLE_BYTES.__getitem__, piece)))
    if None in part_id:
        _raise_missing_byte(piece, ranks)
    # Group the starts of mergeable pairs by rank in C (a stable sort keeps each group in text order).
    mergeable = compress(range(n - 1), map((0).__le__, pair_rank))
    by_rank = sorted(mergeable, key=pair_rank.__getitem__)
    buckets = {rank: list(starts) for rank, starts in groupby(by_rank, key=pair_rank.__getitem__)}
    queue = list(buckets)
    heapq.heapify(queue)
    pop, push = heapq.heappop, heapq.heappush
    while queue:
        rank = pop(queue)
        starts = buckets.pop(rank, None)
        if starts is None:
            continue
        starts.sort()
        for index, left in enumerate(starts):
            if pair_rank[left] != rank:
                continue  # stale: this pair changed, or its left part was absorbed earlier in the sweep
            right = next_start[left]
            end = next_start[right]
            pair_rank[right] = -1
            prev_start[right] = _ABSORBED
            part_id[left] = rank
            next_start[left] = end
            lowest = rank
            if end < n:
                prev_start[end] = left
                new = pair_rank[left] = get(piece[left:next_start[end]], -1)
                if new >= 0:
                    bucket = buckets.get(new)
                    if bucket is None:
                        buckets[new] = [left]
                        push(queue, new)
                    else:
                        bucket.append(left)
                    if new < lowest:
                        lowest = new
            else:
                pair_rank[left] = -1
            before = prev_start[left]
            if before >= 0:
                new = pair_rank[before] = get(piece[before:end], -1)
                if new >= 0:
                    bucket = buckets.get(new)
                    if bucket is None:
                        buckets[new] = [before]
                        push(queue, new)
                    else:
                        bucket.append(before)
                    if new < lowest:
                        lowest = new
            if lowest < rank:  # a pair of lower rank appeared: it goes first, the rest of this rank waits
                buckets.setdefault(rank, []).extend(starts[index + 1:])
                push(queue, rank)
                break
    return list(compress(part_id, map(_ABSORBED.__ne__, prev_start)))
