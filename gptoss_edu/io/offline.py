"""Working without a network: hand the vocabulary we found to tiktoken and openai-harmony.

Our tokenizer finds ``o200k_base.tiktoken`` in many places (``gptoss_edu.io.vocab``: a path,
``$GPTOSS_EDU_VOCAB``, a classroom bundle, tiktoken's cache). tiktoken and openai-harmony,
which the notebooks compare against, look in one place each and otherwise download.
``share_vocab_with_peers`` puts the checked file where each of them looks, so a notebook on a
laptop in a room without Wi-Fi compares with the real libraries all the same.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from gptoss_edu.io.vocab import VOCAB_FILENAME, resolve_vocab, tiktoken_cache_path


def cache_root() -> Path:
    """Where the course keeps what it downloads, builds or tunes: ``$GPTOSS_EDU_CACHE`` or ``~/.cache/gptoss_edu``."""
    return Path(os.environ.get("GPTOSS_EDU_CACHE") or Path.home() / ".cache" / "gptoss_edu")


def share_vocab_with_peers(vocab: str | os.PathLike | None = None) -> Path | None:
    """Seed tiktoken's cache and point openai-harmony (``$TIKTOKEN_ENCODINGS_BASE``) at the vocabulary.

    Returns the vocabulary file used, or None (with one line saying so) when this machine has
    none and no network to fetch it. Settings made here last for this Python process only.
    """
    try:
        found = resolve_vocab(vocab, download=False)
    except Exception as e:  # VocabError, or an unreadable path: the caller's notebook goes on
        print(f"the o200k vocabulary is not on this machine, so tiktoken and openai-harmony may try to download it ({e})")
        return None
    cached = tiktoken_cache_path()
    if not cached.is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(found, cached)
    if not os.environ.get("TIKTOKEN_ENCODINGS_BASE"):
        folder = found.parent if found.name == VOCAB_FILENAME else _named_copy(found, cached.parent)
        os.environ["TIKTOKEN_ENCODINGS_BASE"] = str(folder)
    return found


def _named_copy(vocab: Path, beside: Path) -> Path:
    """A folder holding the vocabulary under its own name, which openai-harmony requires."""
    folder = beside / "o200k"
    target = folder / VOCAB_FILENAME
    if not target.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(vocab, target)
    return folder
