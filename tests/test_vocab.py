"""The vocabulary resolver: hash-checked, offline-friendly, clear errors."""
from __future__ import annotations

import pytest

from gptoss_edu.io import vocab
from gptoss_edu.io.vocab import VOCAB_SHA256, VocabError, load_o200k_ranks, resolve_vocab


def test_resolves_the_official_file_and_it_equals_tiktokens_ranks():
    tiktoken = pytest.importorskip("tiktoken")
    ranks = load_o200k_ranks()
    assert len(ranks) == 199998
    assert ranks == tiktoken.get_encoding("o200k_base")._mergeable_ranks


def test_explicit_missing_path_is_an_error(tmp_path):
    with pytest.raises(VocabError, match="does not exist.*GPTOSS_EDU_VOCAB"):
        resolve_vocab(tmp_path / "nope.tiktoken")


def test_wrong_hash_names_both_hashes(tmp_path):
    good = resolve_vocab().read_bytes()
    bad = tmp_path / "o200k_base.tiktoken"
    bad.write_bytes(good[: len(good) // 2])  # truncated
    with pytest.raises(VocabError) as info:
        resolve_vocab(bad)
    assert VOCAB_SHA256 in str(info.value) and "truncated" in str(info.value)


def test_environment_variable_and_folder(tmp_path, monkeypatch):
    (tmp_path / "o200k_base.tiktoken").write_bytes(resolve_vocab().read_bytes())
    monkeypatch.setenv("GPTOSS_EDU_VOCAB", str(tmp_path))
    assert resolve_vocab() == tmp_path / "o200k_base.tiktoken"


def test_no_file_and_no_download_is_a_clear_error(tmp_path, monkeypatch):
    for var in ("GPTOSS_EDU_VOCAB", "GPTOSS_EDU_BUNDLE", "TIKTOKEN_ENCODINGS_BASE", "DATA_GYM_CACHE_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    with pytest.raises(VocabError, match="not found and downloading is off"):
        resolve_vocab(download=False)


def test_failed_download_says_how_to_fix(tmp_path, monkeypatch):
    for var in ("GPTOSS_EDU_VOCAB", "GPTOSS_EDU_BUNDLE", "TIKTOKEN_ENCODINGS_BASE", "DATA_GYM_CACHE_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(vocab, "VOCAB_URL", "http://127.0.0.1:9/o200k_base.tiktoken")
    with pytest.raises(VocabError, match="could not download.*GPTOSS_EDU_VOCAB"):
        resolve_vocab()


def test_malformed_line_is_named():
    with pytest.raises(VocabError, match="line 2"):
        vocab.parse_ranks(b"IQ== 0\nnot-a-line\n", "x")
