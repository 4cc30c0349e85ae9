"""Differential fuzz: random strings mixing scripts, marks, digits, whitespace kinds and
apostrophes encode to tiktoken's ids; the BPE's two merge loops agree with each other."""
from __future__ import annotations

import itertools
import random
import string

import pytest
import tiktoken
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gptoss_edu.tokenizer import bpe
from gptoss_edu.tokenizer.bpe import (
    _merge_long,
    _merge_pieces,
    _merge_run,
    _merge_short,
    bpe_merge,
    byte_pair_encode,
    joinable_pairs,
    run_ranks,
)

_RANGES = {
    "ascii letters": [(0x41, 0x5A), (0x61, 0x7A)],
    "ascii digits and punctuation": [(0x21, 0x40), (0x5B, 0x60), (0x7B, 0x7E)],
    "latin, greek, cyrillic, armenian": [(0xC0, 0x24F), (0x370, 0x3FF), (0x400, 0x52F), (0x531, 0x58F)],
    "hebrew, arabic, syriac, nko": [(0x591, 0x5F4), (0x600, 0x6FF), (0x700, 0x74F), (0x7C0, 0x7FF), (0x860, 0x8FF)],
    "indic and southeast asian": [(0x900, 0xDFF), (0xE00, 0xEFF), (0x1000, 0x109F), (0x1780, 0x17FF)],
    "cjk, kana, hangul": [(0x3040, 0x30FF), (0x4E00, 0x4E80), (0xAC00, 0xAC80), (0x3400, 0x3440), (0x20000, 0x20040)],
    "combining marks": [(0x300, 0x36F), (0x1AB0, 0x1AFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F)],
    "titlecase and modifier letters": [(0x1C4, 0x1CC), (0x2B0, 0x2FF), (0x1D2C, 0x1D6A), (0xA700, 0xA720)],
    "numbers of every kind": [(0x660, 0x669), (0x966, 0x96F), (0xFF10, 0xFF19), (0x2150, 0x218B),
                              (0x2460, 0x24FF), (0x1D7CE, 0x1D7FF), (0x1F100, 0x1F10C)],
    "symbols and emoji": [(0x2000, 0x206F), (0x2190, 0x23FF), (0x1F300, 0x1F6FF), (0x1F900, 0x1F9FF)],
    "astral scripts": [(0x10000, 0x1007F), (0x10400, 0x1047F), (0x11000, 0x1107F), (0x1E900, 0x1E95F)],
    "new in Unicode 17 or unassigned": [(0x0558, 0x0558), (0x058B, 0x058B), (0x05C8, 0x05C8), (0x088F, 0x088F),
                                        (0x11DB0, 0x11DEF), (0x16EA0, 0x16EDF), (0x1CEC0, 0x1CEFF), (0x2FFFE, 0x30010)],
    "private use and noncharacters": [(0xE000, 0xE010), (0xFDD0, 0xFDEF), (0xFFFE, 0xFFFF), (0x10FFF0, 0x10FFFF)],
}
_SPACES = list("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2005\u200a\u2028\u2029\u202f\u205f\u3000")
_NOT_RUST_SPACES = list("\x1c\x1d\x1e\x1f\u180e\u200b\ufeff")  # Python's str.isspace says yes for some
_CONTRACTIONS = ["'", "'s", "'S", "'ſ", "'t", "'T", "'re", "'RE", "'rE", "'ve", "'VE", "'m", "'M", "'ll", "'LL",
                 "'lL", "'d", "'D", "’s", "K", "\u212a", "ſ", "s", "'k", "'\u212a"]
_SPECIALS = ["<|endoftext|>", "<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|reserved_200100|>", "<|", "|>"]


def _random_piece(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.15:
        return rng.choice(_SPACES + _NOT_RUST_SPACES) * rng.choice([1, 1, 2, 3])
    if kind < 0.3:
        return rng.choice(_CONTRACTIONS)
    if kind < 0.35:
        code = rng.randrange(0x110000)  # any code point at all
        return chr(code) if not 0xD800 <= code <= 0xDFFF else "\ufffd"
    first, last = rng.choice(_RANGES[rng.choice(list(_RANGES))])
    return "".join(chr(rng.randint(first, last)) for _ in range(rng.choice([1, 1, 2, 3, 5])))


def random_text(rng: random.Random, max_pieces: int = 12) -> str:
    """A short string drawn from the pools above."""
    return "".join(_random_piece(rng) for _ in range(rng.randint(0, max_pieces)))


FUZZ_STRINGS = 20_000


def test_random_strings_match_tiktoken(ours, theirs):
    rng = random.Random(2026)
    for index in range(FUZZ_STRINGS):
        text = random_text(rng)
        assert ours.encode_ordinary(text) == theirs.encode_ordinary(text), (index, text)


def test_random_strings_with_special_tokens_match_tiktoken(ours, theirs):
    rng = random.Random(7)
    for _ in range(2000):
        text = rng.choice(_SPECIALS).join(random_text(rng, 4) for _ in range(rng.randint(1, 4)))
        assert ours.encode(text, allowed_special="all") == theirs.encode(text, allowed_special="all"), text
        assert ours.encode(text, disallowed_special=()) == theirs.encode(text, disallowed_special=()), text


def test_long_runs_match_tiktoken(ours, theirs):
    # Long chunks take the heap merge path; runs of one piece are tiktoken's catastrophic cases.
    rng = random.Random(3)
    for _ in range(60):
        text = random_text(rng, 3) * rng.choice([10, 100, 700])
        assert ours.encode_ordinary(text) == theirs.encode_ordinary(text), text[:40]


def test_long_punctuation_and_letter_chunks_match_tiktoken(ours, theirs):
    # One giant chunk each: cut where no token holds the byte pair, the pieces merged apart.
    rng = random.Random(4)
    for alphabet in (string.punctuation, string.ascii_lowercase, string.punctuation + "\u00e9\u4e2d", "ab!?"):
        for length in (65, 300, 5000):
            text = "".join(rng.choices(alphabet, k=length))
            assert ours.encode_ordinary(text) == theirs.encode_ordinary(text), text[:40]
            assert ours._encode_single_piece(text) == theirs._encode_single_piece(text.encode()), text[:40]


def test_cutting_at_unjoinable_pairs_changes_no_merge():
    """Random sparse vocabularies (many byte pairs in no token) in random rank order, against tiktoken."""
    rng = random.Random(12)
    for _ in range(20):
        pieces = {bytes([byte]) for byte in range(256)}
        for _ in range(rng.choice([20, 60, 200])):
            text = "".join(rng.choices("abcdef", k=10)).encode()
            start = rng.randrange(9)
            pieces.add(text[start : start + rng.randint(2, 5)])
        order = list(pieces)
        rng.shuffle(order)
        ranks = {piece: rank for rank, piece in enumerate(order)}
        joinable = joinable_pairs(ranks)
        reference = tiktoken.Encoding("sparse", pat_str=r"\S+", mergeable_ranks=ranks, special_tokens={})
        for _ in range(20):
            piece = "".join(rng.choices("abcdef", k=rng.choice([70, 300, 2000]))).encode()
            expected = _merge_long(piece, ranks)
            assert _merge_pieces(piece, ranks, joinable) == expected, piece
            assert reference._encode_single_piece(piece) == ([ranks[piece]] if piece in ranks else expected), piece


def test_short_and_long_merge_loops_agree(ours):
    rng = random.Random(5)
    ranks = ours.mergeable_ranks
    for _ in range(500):
        piece = random_text(rng, 30).encode()
        if piece:
            assert [ranks[part] for part in _merge_short(piece, ranks)] == _merge_long(piece, ranks), piece


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_hypothesis_text_matches_tiktoken(ours, theirs, text):
    assert ours.encode_ordinary(text) == theirs.encode_ordinary(text)
    assert ours.decode(ours.encode_ordinary(text)) == text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=40))
def test_hypothesis_bytes_match_tiktoken(ours, theirs, data):
    assert ours._encode_bytes(data) == theirs._encode_bytes(data)
    assert ours.decode_bytes(ours._encode_bytes(data)) == data


def _scrambled_vocabulary(rng: random.Random) -> dict[bytes, int]:
    """All bytes plus random substrings of random a/b/c text, with ranks in random order: merges
    then often create pairs of *lower* rank than the one just merged, the merge loop's rare case."""
    pieces = {bytes([byte]) for byte in range(256)}
    for _ in range(300):
        text = "".join(rng.choices("abc", k=12)).encode()
        start = rng.randrange(11)
        pieces.add(text[start : start + rng.randint(2, 6)])
    order = list(pieces)
    rng.shuffle(order)
    return {piece: rank for rank, piece in enumerate(order)}


def test_merge_loops_agree_with_tiktoken_on_scrambled_vocabularies():
    rng = random.Random(11)
    for _ in range(20):
        ranks = _scrambled_vocabulary(rng)
        reference = tiktoken.Encoding("scrambled", pat_str=r"\S+", mergeable_ranks=ranks, special_tokens={})
        for _ in range(25):
            piece = "".join(rng.choices("abc", k=rng.choice([5, 40, 70, 300]))).encode()
            expected = [ranks[part] for part in _merge_short(piece, ranks)]
            assert _merge_long(piece, ranks) == expected, piece
            assert reference._encode_single_piece(piece) == (
                [ranks[piece]] if piece in ranks else expected), piece


def test_runs_of_one_byte_match_tiktoken_for_every_length(ours, theirs):
    # Long runs of one byte are merged a block of equal parts at a time (``_merge_run``).
    for character in (" ", "a", "0", "-", "=", "\n"):
        for length in range(1, 5001):
            piece = (character * length).encode()
            assert ours._encode_single_piece(piece) == theirs._encode_single_piece(piece), (character, length)
        assert ours.encode_ordinary(character * 5000) == theirs.encode_ordinary(character * 5000), character


def test_runs_of_a_multibyte_character_match_tiktoken(ours, theirs):
    # Not a run of one byte: the general merge loop, checked here beside the run shortcut.
    for character in ("\u00e9", "\u3000", "\U0001f600"):
        for length in [*range(1, 400), 1000, 2047, 5000]:
            piece = (character * length).encode()
            assert ours._encode_single_piece(piece) == theirs._encode_single_piece(piece), (character, length)


def _run_rich_vocabulary(rng: random.Random) -> dict[bytes, int]:
    """All bytes, runs of ``a`` and ``b`` of random lengths, and random a/b/c substrings, ranks shuffled:
    merges inside a run then often create pairs of lower rank than the one just merged."""
    pieces = {bytes([byte]) for byte in range(256)}
    for byte in b"ab":
        longest = rng.choice([12, 20, 40])
        pieces.update(bytes([byte]) * length for length in rng.sample(range(2, longest), rng.randint(2, 10)))
    for _ in range(rng.choice([0, 50])):
        text = "".join(rng.choices("abc", k=10)).encode()
        start = rng.randrange(9)
        pieces.add(text[start : start + rng.randint(2, 5)])
    order = list(pieces)
    rng.shuffle(order)
    return {piece: rank for rank, piece in enumerate(order)}


@pytest.mark.parametrize("max_blocks", [bpe._MAX_BLOCKS, 2])
def test_run_merge_matches_tiktoken_on_random_run_vocabularies(monkeypatch, max_blocks):
    # With at most 2 blocks allowed, most long runs take the fallback to the ordinary merge loop.
    monkeypatch.setattr(bpe, "_MAX_BLOCKS", max_blocks)
    rng = random.Random(13)
    for _ in range(150):
        ranks = _run_rich_vocabulary(rng)
        runs, joinable = run_ranks(ranks), joinable_pairs(ranks)
        reference = tiktoken.Encoding("runs", pat_str=r"\S+", mergeable_ranks=ranks, special_tokens={})
        for length in [*range(1, 100), *rng.sample(range(100, 3000), 5)]:
            piece = b"a" * length
            expected = reference._encode_single_piece(piece)
            assert _merge_run(length, runs[ord("a")]) in (_merge_long(piece, ranks), None), length
            assert bpe_merge(piece, ranks, joinable, runs) == expected, length


def test_short_chunks_match_tiktoken_on_scrambled_vocabularies():
    # Every string of one to four bytes over a, b, c, in random rank orders (ties, lower ranks created).
    rng = random.Random(14)
    words = [bytes(word) for length in range(1, 5) for word in itertools.product(b"abc", repeat=length)]
    assert byte_pair_encode(b"", {}) == []
    for _ in range(30):
        ranks = _scrambled_vocabulary(rng)
        reference = tiktoken.Encoding("scrambled", pat_str=r"\S+", mergeable_ranks=ranks, special_tokens={})
        for word in words:
            expected = [ranks[part] for part in _merge_short(word, ranks)]
            assert byte_pair_encode(word, ranks) == expected, word
            assert bpe_merge(word, ranks) == reference._encode_single_piece(word), word


def test_merge_loop_on_very_long_chunks_matches_tiktoken(ours, theirs):
    rng = random.Random(15)
    for _ in range(3):
        ranks = _scrambled_vocabulary(rng)
        reference = tiktoken.Encoding("scrambled", pat_str=r"\S+", mergeable_ranks=ranks, special_tokens={})
        piece = "".join(rng.choices("abc", k=13_000)).encode()
        assert _merge_long(piece, ranks) == reference._encode_single_piece(piece)
    text = "".join(rng.choices(string.ascii_lowercase, k=30_000))
    assert ours.encode_ordinary(text) == theirs.encode_ordinary(text)
