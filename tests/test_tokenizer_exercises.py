"""The notebook-01 checkers accept the library's answers and reject wrong or missing ones."""
from __future__ import annotations

import random
from collections import Counter

import pytest

from gptoss_edu.exercises import ExerciseError
from gptoss_edu.exercises.tokenizer import check_count_pairs, check_encode_chunk, check_merge_pair, random_vocabulary
from gptoss_edu.tokenizer import bpe_merge, merge_pair


def test_checkers_accept_correct_answers(library_answers_allowed):
    check_count_pairs(lambda ids: Counter(zip(ids, ids[1:])))
    check_merge_pair(merge_pair)
    check_encode_chunk(bpe_merge)


def test_count_pairs_checker_notes_a_stub_and_rejects_an_off_by_one(capsys):
    def stub(ids):
        raise NotImplementedError

    check_count_pairs(stub)
    assert "not written yet" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="differs"):
        check_count_pairs(lambda ids: dict(Counter(zip(ids, ids[2:]))))


def test_merge_pair_checker_rejects_overlapping_merges():
    def overlapping(ids, pair, new_id):
        # merges (5, 5) in [5, 5, 5] twice: wrong, occurrences must not overlap
        return [new_id if (a, b) == pair else a for a, b in zip(ids, ids[1:])] if len(ids) > 1 else list(ids)

    with pytest.raises(ExerciseError):
        check_merge_pair(overlapping)


def test_encode_chunk_checker_rejects_merging_by_frequency_order():
    def highest_rank_first(piece, ranks):
        parts = [piece[i : i + 1] for i in range(len(piece))]
        while True:
            candidates = [(ranks[a + b], i) for i, (a, b) in enumerate(zip(parts, parts[1:])) if a + b in ranks]
            if not candidates:
                return [ranks[p] for p in parts]
            _, i = max(candidates)
            parts[i : i + 2] = [parts[i] + parts[i + 1]]

    with pytest.raises(ExerciseError):
        check_encode_chunk(highest_rank_first)


def test_random_vocabulary_is_a_valid_merge_table():
    ranks = random_vocabulary(random.Random(3))
    assert sorted(ranks.values()) == list(range(len(ranks)))
    by_rank = sorted(ranks, key=ranks.get)
    for rank, token in enumerate(by_rank[256:], start=256):  # every token splits into two earlier ones
        assert any(ranks.get(token[:k], rank) < rank and ranks.get(token[k:], rank) < rank for k in range(1, len(token)))
