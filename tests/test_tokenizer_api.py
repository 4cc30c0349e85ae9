"""Our tokenizer offers tiktoken's ``Encoding`` surface: same names, arguments, results and
exception types, and the behaviours tiktoken's own test suite checks (written anew here)."""
from __future__ import annotations

import inspect
import pickle

import numpy as np
import pytest
import tiktoken
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gptoss_edu.tokenizer import InvalidTokenError, Tokenizer

_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# Private names that code written for tiktoken reads (transformers, openai-harmony's Python side, tiktoken's tests).
PRIVATE_NAMES = ["_mergeable_ranks", "_special_tokens", "_pat_str", "_encode_single_piece", "_encode_bytes"]


def public_names() -> list[str]:
    # An instance's names: max_token_value and name are set in __init__.
    return sorted(name for name in dir(tiktoken.get_encoding("o200k_harmony")) if not name.startswith("_"))


def test_tiktoken_public_surface_is_known():
    # If tiktoken grows a method, this fails first and names it.
    assert public_names() == [
        "decode", "decode_batch", "decode_bytes", "decode_bytes_batch", "decode_single_token_bytes",
        "decode_tokens_bytes", "decode_with_offsets", "encode", "encode_batch", "encode_ordinary",
        "encode_ordinary_batch", "encode_single_token", "encode_to_numpy", "encode_with_unstable",
        "eot_token", "is_special_token", "max_token_value", "n_vocab", "name", "special_tokens_set",
        "token_byte_values",
    ]


@pytest.mark.parametrize("name", [*public_names(), *PRIVATE_NAMES])
def test_every_name_exists(ours, name):
    assert hasattr(ours, name)


@pytest.mark.parametrize("name", [n for n in public_names() if callable(getattr(tiktoken.Encoding, n, None))])
def test_methods_take_tiktokens_arguments(name):
    def shape(function):
        return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]

    assert shape(getattr(Tokenizer, name)) == shape(getattr(tiktoken.Encoding, name))


def test_attributes_equal_tiktokens(ours, theirs):
    for name in ["eot_token", "max_token_value", "n_vocab", "special_tokens_set", "name", *PRIVATE_NAMES[:3]]:
        assert getattr(ours, name) == getattr(theirs, name), name
    assert ours.token_byte_values() == theirs.token_byte_values()
    assert ours.special_tokens_set is ours.special_tokens_set  # cached, as tiktoken's


TEXTS = ["hello world", "", "naïve café 世界 🦊", "<|end|> not special", "x" * 300, " \n\t 12345 ' 's"]


def test_batch_methods_equal_tiktokens(ours, theirs):
    assert ours.encode_ordinary_batch(TEXTS) == theirs.encode_ordinary_batch(TEXTS)
    assert ours.encode_batch(TEXTS, disallowed_special=()) == theirs.encode_batch(TEXTS, disallowed_special=())
    assert ours.encode_batch(TEXTS, allowed_special="all", num_threads=2) == theirs.encode_batch(
        TEXTS, allowed_special="all", num_threads=2)
    batch = theirs.encode_ordinary_batch(TEXTS) + [[200006, 1, 200007], [theirs.encode_single_token(b"\xe4")]]
    assert ours.decode_batch(batch) == theirs.decode_batch(batch)
    assert ours.decode_batch(batch, errors="ignore", num_threads=1) == theirs.decode_batch(batch, errors="ignore")
    assert ours.decode_bytes_batch(batch) == theirs.decode_bytes_batch(batch)


def test_single_value_methods_equal_tiktokens(ours, theirs):
    ids = theirs.encode("hi <|start|>", allowed_special="all")
    assert np.array_equal(ours.encode_to_numpy("hi <|start|>", allowed_special="all"), theirs.encode_to_numpy(
        "hi <|start|>", allowed_special="all"))
    assert ours.encode_to_numpy("hi").dtype == np.uint32
    assert ours.decode_tokens_bytes(ids) == theirs.decode_tokens_bytes(ids)
    assert ours.decode_with_offsets(ids) == theirs.decode_with_offsets(ids)
    assert [ours.is_special_token(t) for t in ids] == [theirs.is_special_token(t) for t in ids]
    for piece in ["hello world", b"hello\xff", "  \u00a0x"]:
        assert ours._encode_single_piece(piece) == theirs._encode_single_piece(piece)


@pytest.mark.parametrize("text", ["hello fanta", "x ", "", "hi <|end|>", "don'", "a\t\t", "naïve 世", "12 34"])
def test_encode_with_unstable_equals_tiktokens(ours, theirs, text):
    stable, completions = ours.encode_with_unstable(text, allowed_special="all")
    their_stable, their_completions = theirs.encode_with_unstable(text, allowed_special="all")
    assert stable == their_stable
    assert sorted(completions) == sorted(their_completions)  # tiktoken's order comes from a hash set


def _failure(call):
    try:
        call()
    except BaseException as error:  # noqa: BLE001 - the type is what we compare
        return error
    return None


BAD_CALLS = {
    "unknown id": lambda e: e.decode([1, 201088]),
    "negative id": lambda e: e.decode([-1]),
    "id past u32": lambda e: e.decode_bytes([2**32]),
    "string id": lambda e: e.decode(["7"]),
    "None id": lambda e: e.decode([None]),
    "float id": lambda e: e.decode_tokens_bytes([1.0]),
    "string instead of ids": lambda e: e.decode("ab"),
    "single unknown id": lambda e: e.decode_single_token_bytes(201088),
    "single negative id": lambda e: e.decode_single_token_bytes(-5),
    "offsets of a cut character": lambda e: e.decode_with_offsets([e.encode_single_token(b"\xe4")]),
    "offsets of an unknown id": lambda e: e.decode_with_offsets([201088]),
    "not one token": lambda e: e.encode_single_token("hello world"),
    "not one token (bytes)": lambda e: e.encode_single_token(b"\xff\xfe\xfd"),
    "token from an int": lambda e: e.encode_single_token(123),
    "special id check of a float": lambda e: e.is_special_token(1.0),
    "encode an int": lambda e: e.encode(123),
    "encode_ordinary None": lambda e: e.encode_ordinary(None),
    "disallowed special": lambda e: e.encode("a <|end|>"),
    "disallowed by name": lambda e: e.encode("<|start|>", disallowed_special={"<|start|>"}),
    "allowed as a list": lambda e: e.encode("<|end|>", allowed_special=["<|end|>"]),
    "allowed as a string": lambda e: e.encode("x", allowed_special="al"),
    "batch of zero threads": lambda e: e.encode_batch(["a"], num_threads=0),
    "batch with None": lambda e: e.encode_ordinary_batch(["a", None]),
    "batch with a disallowed special": lambda e: e.encode_batch(["ok", "<|call|>"]),
    "decode batch with an unknown id": lambda e: e.decode_batch([[1], [201088]]),
    "unstable with a disallowed special": lambda e: e.encode_with_unstable("<|end|>"),
    "numpy with a disallowed special": lambda e: e.encode_to_numpy("<|end|>"),
    "eot of a vocabulary without one": lambda e: type(e)("x", pat_str=e._pat_str, mergeable_ranks={b"a": 0},
                                                         special_tokens={}).eot_token,
}


def _build(kind, name, pat_str, mergeable_ranks, special_tokens):
    # tiktoken.Encoding's constructor, and ours, from the same arguments.
    if kind is Tokenizer:
        return Tokenizer(mergeable_ranks, special_tokens, pat_str, name=name)
    return tiktoken.Encoding(name, pat_str=pat_str, mergeable_ranks=mergeable_ranks, special_tokens=special_tokens)


@pytest.mark.parametrize("case", BAD_CALLS)
def test_errors_have_tiktokens_types(ours, theirs, case):
    if case == "eot of a vocabulary without one":
        mine = _failure(lambda: _build(Tokenizer, "x", ours._pat_str, {b"a": 0}, {}).eot_token)
        reference = _failure(lambda: _build(tiktoken.Encoding, "x", ours._pat_str, {b"a": 0}, {}).eot_token)
    else:
        mine, reference = _failure(lambda: BAD_CALLS[case](ours)), _failure(lambda: BAD_CALLS[case](theirs))
    assert reference is not None and mine is not None, case
    assert isinstance(mine, type(reference)), f"{case}: ours raised {mine!r}, tiktoken {reference!r}"
    if isinstance(reference, ValueError) and "disallowed special" in str(reference):
        assert str(mine).split("\n")[0] == str(reference).split("\n")[0]


def test_undecodable_ids_name_id_and_position(ours):
    with pytest.raises(InvalidTokenError, match=r"-1 at position 2"):
        ours.decode([5, 6, -1])
    with pytest.raises(OverflowError):
        ours.decode([5, 6, -1])


# ---- behaviours tiktoken's own test suite checks ---------------------------------------------


def test_round_trip_of_every_single_token(ours, theirs):
    for token in range(ours.max_token_value + 1):
        token_bytes = ours.decode_single_token_bytes(token)
        assert token_bytes == theirs.decode_single_token_bytes(token)
        if token != 200018:  # <|endofprompt|> and <|reserved_200018|> share it: the name gives 200018 either way
            assert ours.encode_single_token(token_bytes) == token


def test_runs_of_zeros_group_like_tiktoken(ours, theirs):
    for length in range(1, 40):
        assert ours.encode("0" * length) == theirs.encode("0" * length)


@pytest.mark.parametrize("unit", ["^", "0", "a", "'s", " ", "\n", "x"])
def test_catastrophically_repetitive_text_round_trips(ours, theirs, unit):
    for text in [unit * 10_000, " " + unit * 10_000, " " + unit * 10_000 + "\n"]:
        ids = ours.encode(text)
        assert ids == theirs.encode(text)
        assert ours.decode(ids) == text


@pytest.mark.slow
def test_a_million_repeated_characters_encode(ours, theirs):
    assert ours.encode("x" * 1_000_000) == theirs.encode("x" * 1_000_000)


def test_regex_edge_cases_like_tiktoken(ours, theirs):
    for text in ["rer", "'rer", "today\n ", "today\n \n", "today\n  \n", " \x850", "hello <|endoftext|>"]:
        assert ours.encode(text, allowed_special="all") == theirs.encode(text, allowed_special="all"), text


def test_surrogate_pairs_and_lone_surrogates(ours, theirs):
    assert ours.encode("\ud83d\udc4d") == theirs.encode("\ud83d\udc4d") == ours.encode("👍")
    assert ours.encode("\ud83d") == ours.encode("\ufffd") == theirs.encode("\ud83d")


def test_encode_bytes_examples(ours, theirs):
    for data in [b" \xec\x8b\xa4\xed", *(b"\x80" * i for i in range(10)), b"hello \xe4\xb8", b"  \n\xff"]:
        assert ours._encode_bytes(data) == theirs._encode_bytes(data)
        assert ours.decode_bytes(ours._encode_bytes(data)) == data


def test_offsets_of_partial_characters(ours, theirs):
    for text in ["hello world", "hello 世界", "👍👍 ok", "\u0301\u0301a", "<|end|>"]:
        ids = theirs.encode(text, allowed_special="all")
        assert ours.decode_with_offsets(ids) == theirs.decode_with_offsets(ids)
    ids = theirs.encode(" 丗")  # b" \xe4\xb8" + b"\x97": the character is cut in two
    assert len(ids) == 2
    assert ours.decode_with_offsets(ids) == theirs.decode_with_offsets(ids) == (" 丗", [0, 1])


def test_pickle_round_trip(ours):
    copy = pickle.loads(pickle.dumps(ours))
    assert copy.encode("hello <|end|>", allowed_special="all") == ours.encode("hello <|end|>", allowed_special="all")


def test_custom_vocabulary_like_tiktoken(theirs):
    ranks = {bytes([b]): b for b in range(256)} | {b"ab": 256, b"abc": 257}
    reference = _build(tiktoken.Encoding, "tiny", theirs._pat_str, ranks, {"<|x|>": 300})
    mine = _build(Tokenizer, "tiny", theirs._pat_str, ranks, {"<|x|>": 300})
    for text in ["abcab <|x|>", "cab abc", ""]:
        assert mine.encode(text, allowed_special="all") == reference.encode(text, allowed_special="all")
    assert mine.max_token_value == reference.max_token_value == 300 and mine.n_vocab == reference.n_vocab


@_SETTINGS
@given(st.text())
def test_hypothesis_round_trip_and_special_free_text(ours, theirs, text):
    ids = ours.encode(text, disallowed_special=())
    assert ids == ours.encode_ordinary(text) == theirs.encode_ordinary(text)
    without_surrogates = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")  # what tiktoken encodes
    assert ours.decode(ids) == without_surrogates


@_SETTINGS
@given(st.lists(st.text(max_size=20), max_size=6))
def test_hypothesis_batches_round_trip(ours, theirs, batch):
    ids = ours.encode_batch(batch, disallowed_special=())
    assert ids == theirs.encode_batch(batch, disallowed_special=())
    assert ours.decode_batch(ids) == theirs.decode_batch(ids)


@_SETTINGS
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=30))
def test_hypothesis_offsets(ours, theirs, text):
    ids = ours.encode_ordinary(text)
    assert ours.decode_with_offsets(ids) == theirs.decode_with_offsets(ids)
