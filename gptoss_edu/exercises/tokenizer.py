"""Checkers for notebook 01 (tokenizer): counting pairs, applying one merge, encoding a chunk.

Inputs use small alphabets on purpose: pairs repeat and overlap (``[3, 3, 3]``) and many
merges compete, which is where hand-written BPE usually goes wrong.
"""
from __future__ import annotations

import inspect
import random
from collections import Counter
from collections.abc import Callable, Mapping

from gptoss_edu.exercises import Misconception, check_function
from gptoss_edu.tokenizer import bpe_merge, count_pairs, merge_pair


def _random_ids(rng: random.Random) -> list[int]:
    return [rng.randrange(4) for _ in range(rng.randrange(0, 25))]


def check_count_pairs(fn: Callable[[list[int]], Mapping[tuple[int, int], int]]) -> None:
    """Check ``fn(ids)`` returns ``{(a, b): number of times b follows a}``, as ``count_pairs`` does."""

    learner = inspect.unwrap(fn)

    def as_dict(ids: list[int]) -> object:
        counts = learner(ids)
        return dict(counts) if isinstance(counts, Mapping) else counts  # a Counter is fine too

    check_function(as_dict, count_pairs, lambda rng: (_random_ids(rng),), trials=20, name=fn.__name__,
                   inputs=("ids",), forbidden=(count_pairs,), misconceptions=(
                       Misconception(lambda ids: dict.fromkeys(zip(ids, ids[1:]), 1),
                                     "every count is 1: count how often each pair occurs, not only whether it does."),
                       Misconception(lambda ids: dict(Counter(zip(ids[:-2], ids[1:-1]))),
                                     "the last pair is missing: the pairs of n ids run up to (ids[n-2], ids[n-1])."),
                   ))


def check_merge_pair(fn: Callable[[list[int], tuple[int, int], int], list[int]]) -> None:
    """Check ``fn(ids, pair, new_id)`` replaces each occurrence of ``pair``, left to right, like ``merge_pair``."""

    def make_inputs(rng: random.Random) -> tuple[list[int], tuple[int, int], int]:
        ids = _random_ids(rng)
        pair = (rng.randrange(4), rng.randrange(4))
        return ids, pair, 4

    check_function(fn, merge_pair, make_inputs, trials=30, inputs=("ids", "pair", "new_id"), forbidden=(merge_pair,),
                   misconceptions=(Misconception(_merge_overlapping, _OVERLAP_HINT),
                                   Misconception(_merge_first_only, "only the first occurrence was replaced: "
                                                 "replace every occurrence, scanning left to right.")))


_OVERLAP_HINT = ("after a merge you moved on by one id instead of two, so the pair's second id was used again: "
                 "in [3, 3, 3] the pair (3, 3) merges once, giving [4, 3].")


def _merge_overlapping(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    merged, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            merged.append(new_id)
        else:
            merged.append(ids[i])
        i += 1
    return merged


def _merge_first_only(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    for i in range(len(ids) - 1):
        if (ids[i], ids[i + 1]) == pair:
            return ids[:i] + [new_id] + ids[i + 2 :]
    return list(ids)


def random_vocabulary(rng: random.Random, n_merges: int = 40) -> dict[bytes, int]:
    """A BPE vocabulary over the letters ``a``, ``b``, ``c``: the 256 bytes, then ``n_merges``
    tokens, each the concatenation of two earlier ones (at most 4 letters), in random order.
    Many overlapping candidates make the order of merges matter."""
    ranks = {bytes([b]): b for b in range(256)}
    tokens = [b"a", b"b", b"c"]
    while len(ranks) < 256 + n_merges:
        merged = rng.choice(tokens) + rng.choice(tokens)
        if len(merged) <= 4 and merged not in ranks:
            ranks[merged] = len(ranks)
            tokens.append(merged)
    return ranks


def check_encode_chunk(fn: Callable[[bytes, dict[bytes, int]], list[int]]) -> None:
    """Check ``fn(chunk_bytes, ranks)`` merges the lowest-rank pair (leftmost on a tie) until
    none is left, like ``bpe_merge``, on random chunks and vocabularies over ``a``, ``b``, ``c``."""

    def make_inputs(rng: random.Random) -> tuple[bytes, dict[bytes, int]]:
        chunk = "".join(rng.choice("abc") for _ in range(rng.randint(2, 12))).encode()
        return chunk, random_vocabulary(rng)

    check_function(fn, bpe_merge, make_inputs, trials=30, inputs=("chunk", "ranks"), forbidden=(bpe_merge,),
                   misconceptions=(Misconception(_merge_left_to_right, "you merged the leftmost mergeable pair; BPE "
                                                 "merges the pair of LOWEST RANK first, wherever it is."),))


def _merge_left_to_right(chunk: bytes, ranks: dict[bytes, int]) -> list[int]:
    parts = [bytes([b]) for b in chunk]
    while True:
        for i in range(len(parts) - 1):
            if parts[i] + parts[i + 1] in ranks:
                parts[i : i + 2] = [parts[i] + parts[i + 1]]
                break
        else:
            return [ranks[p] for p in parts]
