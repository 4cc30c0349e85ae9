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

A long run of one byte (``"a" * 1_000_000``, a line of ``=``) is merged by ``_merge_run``, which
applies the same rule to blocks of equal parts (``run_ranks`` lists the run tokens): the merges
are the rule's, one at a time, many done at once where the rule provably repeats itself.

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
_MAX_BLOCKS = 64  # _merge_run gives up beyond this many blocks of equal parts


def bpe_merge(piece: bytes, ranks: Mapping[bytes, int], joinable: Collection[int] | None = None,
              runs: Mapping[int, Mapping[int, int]] | None = None) -> list[int]:
    """The token ids of one pre-tokenized chunk (``piece`` as UTF-8 bytes).

    ``joinable``, when given, is ``joinable_pairs(ranks)``: long chunks are then cut where no
    merge can reach. ``runs``, when given, is ``run_ranks(ranks)``: a long run of one byte is
    then merged a block of equal parts at a time. Both give the same result, faster.
    """
    rank = ranks.get(piece)
    if rank is not None:  # a chunk that is a whole token is looked up directly, as tiktoken does
        return [rank]
    return byte_pair_encode(piece, ranks, joinable, runs)


def joinable_pairs(ranks: Mapping[bytes, int]) -> frozenset[int]:
    """Every adjacent byte pair ``(a, b)`` inside some token, as ``256 * a + b``."""
    pairs: set[int] = set()
    for token in ranks:
        pairs.update(map(operator.add, map(operator.mul, token[:-1], repeat(256)), token[1:]))
    return frozenset(pairs)


def run_ranks(ranks: Mapping[bytes, int]) -> dict[int, dict[int, int]]:
    """For each byte, ``{k: rank}`` of every token that is that byte repeated ``k`` times."""
    runs: dict[int, dict[int, int]] = {}
    for token, rank in ranks.items():
        if token and token.count(token[:1]) == len(token):
            runs.setdefault(token[0], {})[len(token)] = rank
    return runs


def byte_pair_encode(piece: bytes, ranks: Mapping[bytes, int], joinable: Collection[int] | None = None,
                     runs: Mapping[int, Mapping[int, int]] | None = None) -> list[int]:
    """The merges alone, without the whole-chunk lookup (the two can differ on rare chunks)."""
    if len(piece) > LONG_CHUNK:
        if runs is not None and piece.count(piece[:1]) == len(piece):
            run = runs.get(piece[0], {})
            if 1 not in run:
                _raise_missing_byte(piece, ranks)
            ids = _merge_run(len(piece), run)
            if ids is not None:
                return ids
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


def _merge_run(n: int, run: Mapping[int, int]) -> list[int] | None:
    """The token ids of one byte repeated ``n`` times; ``run[k]`` is the rank of that byte repeated ``k`` times.

    Every part is then the byte repeated some number of times, so a pair's rank depends only on
    the sum of its two lengths, and the parts are kept as blocks ``[length, count]`` of equal
    neighbours (a megabyte of ``a`` is one block ``[1, 1_000_000]``, later ``[8, 125_000]``).
    The merges are exactly the rule's, one at a time: find the lowest-rank pair, leftmost on a
    tie (inside a block of ``count >= 2`` or where two blocks meet), and merge it. When it is
    the first pair of a block ``[L, c]`` of rank ``r``, the next merges are the block's next
    pairs, left to right, for as long as the pairs each merge creates (``(previous, 2L)``,
    ``(2L, 2L)``, ``(2L, L)``, ``(2L, next)``) have no rank below ``r``: the pairs left of the
    block are unchanged save one whose rank is not ``r`` (it holds more bytes than token ``r``),
    so the leftmost pair of the lowest rank is still the block's next one. Those merges are
    done at once, ``[L, c]`` becoming ``[2L, k], [L, c - 2k]``. The blocks stay few (a handful
    for o200k), so each search for the lowest pair is short; should a contrived vocabulary make
    more than ``_MAX_BLOCKS`` of them, ``None`` is returned and the caller merges the bytes the
    ordinary way.
    """
    rank_of = run.get
    blocks = [[1, n]]
    while True:
        best, where, inner = None, 0, False
        for i, (length, count) in enumerate(blocks):  # pairs in text order: strict < keeps the leftmost
            if count > 1:
                rank = rank_of(2 * length)
                if rank is not None and (best is None or rank < best):
                    best, where, inner = rank, i, True
            if i + 1 < len(blocks):
                rank = rank_of(length + blocks[i + 1][0])
                if rank is not None and (best is None or rank < best):
                    best, where, inner = rank, i, False
        if best is None:
            break
        length, count = blocks[where]
        if inner:
            merges = _block_merges(best, length, count, blocks[where - 1][0] if where else None,
                                   blocks[where + 1][0] if where + 1 < len(blocks) else None, rank_of)
            blocks[where : where + 1] = [[2 * length, merges], [length, count - 2 * merges]]
        else:
            following, after = blocks[where + 1]
            blocks[where : where + 2] = [[length, count - 1], [length + following, 1], [following, after - 1]]
        blocks = _coalesced(blocks)
        if len(blocks) > _MAX_BLOCKS:
            return None
    return [rank for length, count in blocks for rank in repeat(run[length], count)]


def _block_merges(rank: int, length: int, count: int, previous: int | None, following: int | None,
                  rank_of) -> int:
    """How many of block ``[length, count]``'s pairs (rank ``rank``) merge in a row from its left end."""
    def lower(total: int | None) -> bool:
        if total is None:
            return False
        created = rank_of(total)
        return created is not None and created < rank

    double, most = 2 * length, count // 2
    # The first merge creates (previous, 2L), and (2L, L) or, when the block had two parts, (2L, next).
    right = 3 * length if count > 2 else (double + following if following is not None else None)
    if lower(previous + double if previous is not None else None) or lower(right) or most == 1:
        return 1
    # Merge j >= 2 creates (2L, 2L), and (2L, L) (not lower: the first merge made one) or, when it
    # is the block's last pair, (2L, next), after which the block is done anyway.
    return 2 if lower(2 * double) else most


def _coalesced(blocks: list[list[int]]) -> list[list[int]]:
    """The blocks without empty ones, neighbours of one length joined."""
    joined: list[list[int]] = []
    for length, count in blocks:
        if count == 0:
            continue
        if joined and joined[-1][0] == length:
            joined[-1][1] += count
        else:
            joined.append([length, count])
    return joined
