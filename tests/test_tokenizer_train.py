"""Training BPE and building tokenizers from any ``(ranks, special_tokens, pattern)``."""
from __future__ import annotations

import random

import pytest
import tiktoken

from gptoss_edu.tokenizer import O200K_PATTERN, Tokenizer, bpe_merge, count_pairs, merge_pair, train_bpe
from gptoss_edu.tokenizer.bpe import _merge_long, _merge_short
from gptoss_edu.tokenizer.display import token_label, tokens_html
from gptoss_edu.tokenizer.pretokenizer import O200K_ALTERNATIVES, explain_chunks, pretokenize

PARAGRAPH = (
    "The tokenizer turns text into numbers. It starts from bytes and learns merges: the most "
    "frequent pair of neighbouring tokens becomes a new token, again and again. Common words "
    "end up as single tokens; rare words are spelled with several. Les mots français, les "
    "accents é è à, und deutsche Wörter auch. 1234 5678 90. The the THE theme thermal there."
)
SPECIALS = {"<|endoftext|>": 100_000, "<|pad|>": 100_001}


def naive_train(text: str, vocab_size: int, pattern: str | None) -> dict[bytes, int]:
    """Training spelled out: recount all pairs after every merge (the documented rules)."""
    chunks = [list(chunk.encode()) for chunk in (pretokenize(text, pattern) if pattern else [text])]
    vocab = [bytes([b]) for b in range(256)]
    ids_of = {token: i for i, token in enumerate(vocab)}
    while len(vocab) < vocab_size:
        counts: dict[tuple[int, int], int] = {}
        for chunk in chunks:
            for pair, count in count_pairs(chunk).items():
                counts[pair] = counts.get(pair, 0) + count
        if not counts:
            break
        pair = min(counts, key=lambda p: (-counts[p], p))
        merged = vocab[pair[0]] + vocab[pair[1]]
        new_id = ids_of.setdefault(merged, len(vocab))
        if new_id == len(vocab):
            vocab.append(merged)
        chunks = [merge_pair(chunk, pair, new_id) for chunk in chunks]
    return ids_of


def test_count_pairs_and_merge_pair():
    assert count_pairs([1, 2, 1, 2, 3]) == {(1, 2): 2, (2, 1): 1, (2, 3): 1}
    assert count_pairs([7]) == {}
    assert merge_pair([1, 2, 1, 2, 3], (1, 2), 9) == [9, 9, 3]
    assert merge_pair([5, 5, 5], (5, 5), 6) == [6, 5]  # left to right, no overlap


def test_first_merges_of_a_classic_example():
    ranks = train_bpe("aaabdaaabac", 259, pattern=None)
    learned = sorted(ranks, key=ranks.get)[256:]
    # after "aa": ("aa","a") and ("a","b") both occur twice; the smaller pair of ids, (97, 98), wins
    assert learned == [b"aa", b"ab", b"aaab"]


REPETITIVE = "aaaaaaa aaa aa abababab ba ba bab aaaabaaaab\n\n\n   xxxxxxxxxxxxxxxxxxxxxxx " * 3


@pytest.mark.parametrize("pattern", [O200K_PATTERN, None])
@pytest.mark.parametrize("vocab_size", [256, 300, 420])
@pytest.mark.parametrize("text", [PARAGRAPH, REPETITIVE], ids=["paragraph", "repetitive"])
def test_incremental_training_equals_the_spelled_out_rules(text, pattern, vocab_size):
    assert train_bpe(text, vocab_size, pattern) == naive_train(text, vocab_size, pattern)


def test_training_is_deterministic_and_sized():
    ranks = train_bpe(PARAGRAPH * 3, 400)
    assert ranks == train_bpe(PARAGRAPH * 3, 400)
    assert sorted(ranks.values()) == list(range(400))
    assert all(ranks[bytes([b])] == b for b in range(256))


def test_training_stops_when_the_text_runs_out_of_pairs():
    ranks = train_bpe("ab ab", 1000)
    assert len(ranks) < 1000
    assert Tokenizer(ranks).encode("ab ab") == [ranks[b"ab"], ranks[b" ab"]]


def test_vocab_size_below_256_is_refused():
    with pytest.raises(ValueError, match="at least 256"):
        train_bpe("x", 100)


def test_tokenizer_from_trained_ranks_matches_tiktoken():
    ranks = train_bpe(PARAGRAPH * 2, 500)
    ours = Tokenizer(ranks, SPECIALS, O200K_PATTERN, name="nano")
    theirs = tiktoken.Encoding("nano", pat_str=O200K_PATTERN, mergeable_ranks=ranks, special_tokens=SPECIALS)
    texts = [PARAGRAPH, "unseen words: zebra quokka 😀 中文 Ωmega", "The end<|endoftext|>", "", "  \n\n x"]
    for text in texts:
        assert ours.encode(text, allowed_special="all") == theirs.encode(text, allowed_special="all")
        assert ours.encode_ordinary(text) == theirs.encode_ordinary(text)
        assert ours.decode(ours.encode_ordinary(text)) == text
    assert ours.n_vocab == theirs.n_vocab == 100_002


def test_tokenizer_with_another_pattern_matches_tiktoken():
    ranks = train_bpe(PARAGRAPH, 350, pattern=r"\S+|\s+")
    ours = Tokenizer(ranks, pattern=r"\S+|\s+")
    theirs = tiktoken.Encoding("ws", pat_str=r"\S+|\s+", mergeable_ranks=ranks, special_tokens={})
    assert ours.encode(PARAGRAPH) == theirs.encode(PARAGRAPH)


def test_tokenizer_refuses_clashing_ids():
    with pytest.raises(ValueError, match="share a rank"):
        Tokenizer({b"a": 0, b"b": 0})
    with pytest.raises(ValueError, match="<\\|x\\|>"):
        Tokenizer({b"a": 0, b"b": 1}, {"<|x|>": 1})


def test_missing_byte_is_named():
    with pytest.raises(KeyError, match="b'c'"):
        Tokenizer({b"a": 0, b"b": 1}).encode("abc")


def test_long_and_short_merge_agree():
    ranks = train_bpe(PARAGRAPH * 2, 600, pattern=None)
    rng = random.Random(0)
    alphabet = PARAGRAPH.encode()
    for _ in range(200):
        piece = bytes(rng.choice(alphabet) for _ in range(rng.randrange(1, 150)))
        assert _merge_long(piece, ranks) == [ranks[part] for part in _merge_short(piece, ranks)]
        assert b"".join(_merge_short(piece, ranks)) == piece
    long_piece = PARAGRAPH.encode() * 2
    assert bpe_merge(long_piece, ranks) == [ranks[token] for token in _merge_short(long_piece, ranks)]


def test_explain_chunks_names_each_alternative():
    examples = ["hello", "HELLO", "123", " {}", "  \n", "   x", " 5"]
    expected_first = [0, 1, 2, 3, 4, 5, 6]
    for text, index in zip(examples, expected_first):
        chunk, alternative = explain_chunks(text)[0]
        assert alternative == index, (text, chunk, O200K_ALTERNATIVES[alternative][1])
    assert [chunk for chunk, _ in explain_chunks(PARAGRAPH)] == pretokenize(PARAGRAPH)


def test_tokens_html_shows_ids_and_escapes():
    ranks = train_bpe(PARAGRAPH, 300)
    tokenizer = Tokenizer(ranks, SPECIALS)
    page = tokens_html(tokenizer, "<b>é</b> 😀<|endoftext|>")
    ids = tokenizer.encode("<b>é</b> 😀<|endoftext|>", allowed_special="all")
    assert page.count("<span") == len(ids)
    assert all(f'title="id {token_id}"' in page for token_id in ids)
    assert "&lt;" in page and "<b>" not in page
    assert token_label(b"\xf0\x9f") == ("f0 9f", False)
    assert token_label(b" a\n") == ("·a↵\n", True)
