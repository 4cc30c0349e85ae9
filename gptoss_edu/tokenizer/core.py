"""``Tokenizer``: byte-level BPE with special tokens, tiktoken's API and semantics.

A tokenizer is three things: ``ranks`` (token bytes -> id, the learned merges), a
pre-tokenizer ``pattern`` (see ``pretokenizer``) and ``special_tokens`` (text -> id, tokens
that ordinary text never produces). Encoding cuts the text at allowed special tokens, cuts
each stretch in between into chunks with the pattern, and BPE-encodes every chunk (``bpe``).
Speed comes from two shortcuts that do not change the result: a chunk that is itself a token
is looked up directly, and the ids of every chunk seen are cached (text repeats a lot).

Handled as tiktoken does: special-token text is refused by default (``ValueError``);
``allowed_special="all"`` or a set of names turns that text into special tokens;
``disallowed_special=()`` encodes it as plain text; lone surrogates in the input become
U+FFFD; decoding joins token bytes and replaces invalid UTF-8 with U+FFFD. Not handled:
tiktoken's batch, numpy and "unstable" encoders.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Literal

from .bpe import bpe_merge
from .pretokenizer import O200K_PATTERN, compile_pattern

SpecialSet = Literal["all"] | Collection[str]
_CACHE_LIMIT = 200_000  # chunks; the cache is emptied when it grows past this


class InvalidTokenError(KeyError, ValueError):
    """A token id this tokenizer cannot decode: a ``KeyError`` as in tiktoken, and a ``ValueError``."""

    def __str__(self) -> str:
        return str(self.args[0])


@functools.lru_cache(maxsize=64)
def _special_regex(tokens: frozenset[str]) -> re.Pattern[str]:
    # Longest first: of two tokens starting at the same place the longer one wins.
    return re.compile("|".join(re.escape(token) for token in sorted(tokens, key=lambda t: (-len(t), t))))


def _replace_surrogates(text: str) -> str:
    # Lone surrogates cannot be UTF-8 encoded; tiktoken turns them into U+FFFD this same way.
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _raise_disallowed(token: str) -> None:
    raise ValueError(
        f"Encountered text corresponding to disallowed special token {token!r}.\n"
        f"To encode it as the special token, pass allowed_special={{{token!r}, ...}}; to encode it as "
        f"plain text, pass disallowed_special=(tokenizer.special_tokens_set - {{{token!r}}}), "
        "or disallowed_special=() to turn the check off for every special token."
    )


class Tokenizer:
    """Byte-level BPE tokenizer built from ``(ranks, special_tokens, pattern)``.

    ``ranks`` should give every single byte a rank (a byte without one cannot be encoded).
    Special ids must differ from mergeable ranks; several special names may share one id
    (o200k_harmony has ``<|endofprompt|>`` and ``<|reserved_200018|>`` on 200018): decoding
    gives the name listed first. ``n_vocab`` is the largest id plus one, as in tiktoken.
    """

    def __init__(
        self,
        ranks: Mapping[bytes, int],
        special_tokens: Mapping[str, int] | None = None,
        pattern: str = O200K_PATTERN,
        name: str = "bpe",
    ) -> None:
        self.name = name
        self.pattern = pattern
        self.mergeable_ranks = dict(ranks)
        self.special_tokens = dict(special_tokens or {})
        self._regex = compile_pattern(pattern)
        self._decoder = {rank: token for token, rank in self.mergeable_ranks.items()}
        if len(self._decoder) != len(self.mergeable_ranks):
            raise ValueError(f"tokenizer {name!r}: two mergeable tokens share a rank")
        clashes = {text: i for text, i in self.special_tokens.items() if i in self._decoder}
        if clashes:
            raise ValueError(f"tokenizer {name!r}: special tokens reuse ids of mergeable tokens: {clashes}")
        for text, token_id in self.special_tokens.items():
            self._decoder.setdefault(token_id, text.encode())
        self._special_ids = frozenset(self.special_tokens.values())
        self.n_vocab = max(self._decoder) + 1 if self._decoder else 0
        self._cache: dict[str, list[int]] = {}

    def __repr__(self) -> str:
        return f"<Tokenizer {self.name!r}: {len(self.mergeable_ranks)} mergeable, {len(self._special_ids)} special ids>"

    @property
    def special_tokens_set(self) -> set[str]:
        """The names of all special tokens."""
        return set(self.special_tokens)

    def is_special_token(self, token_id: int) -> bool:
        return token_id in self._special_ids

    # ---- encoding -------------------------------------------------------------------------

    def encode_ordinary(self, text: str) -> list[int]:
        """Token ids of ``text``, with special-token text encoded as plain text."""
        try:
            return self._encode_plain(text)
        except UnicodeEncodeError:
            return self._encode_plain(_replace_surrogates(text))

    def encode(
        self,
        text: str,
        *,
        allowed_special: SpecialSet = frozenset(),
        disallowed_special: SpecialSet = "all",
    ) -> list[int]:
        """Token ids of ``text``; text that spells a special token is handled as in tiktoken.

        ``allowed_special``: names (or ``"all"``) whose text becomes the special token.
        ``disallowed_special``: names (or ``"all"``, meaning every special not allowed) whose
        text raises ``ValueError``; ``()`` encodes such text as plain text.
        """
        allowed = self.special_tokens_set if allowed_special == "all" else set(allowed_special)
        disallowed = self.special_tokens_set - allowed if disallowed_special == "all" else disallowed_special
        if disallowed:
            found = _special_regex(frozenset(disallowed)).search(text)
            if found:
                _raise_disallowed(found.group())
        try:
            return self._encode_with_specials(text, allowed)
        except UnicodeEncodeError:
            return self._encode_with_specials(_replace_surrogates(text), allowed)

    def _encode_with_specials(self, text: str, allowed: set[str]) -> list[int]:
        allowed = allowed & self.special_tokens.keys()
        if not allowed:
            return self._encode_plain(text)
        ids: list[int] = []
        start = 0
        for special in _special_regex(frozenset(allowed)).finditer(text):
            ids += self._encode_plain(text[start : special.start()])
            ids.append(self.special_tokens[special.group()])
            start = special.end()
        ids += self._encode_plain(text[start:])
        return ids

    def _encode_plain(self, text: str) -> list[int]:
        cache = self._cache
        ids: list[int] = []
        for chunk in self._regex.findall(text):
            chunk_ids = cache.get(chunk)
            if chunk_ids is None:
                chunk_ids = self._encode_chunk(chunk)
            ids += chunk_ids
        return ids

    def _encode_chunk(self, chunk: str) -> list[int]:
        chunk_ids = bpe_merge(chunk.encode("utf-8"), self.mergeable_ranks)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[chunk] = chunk_ids
        return chunk_ids

    def encode_single_token(self, text_or_bytes: str | bytes) -> int:
        """The id of text (or bytes) that is exactly one token, mergeable or special; ``KeyError`` otherwise."""
        token = text_or_bytes.encode("utf-8") if isinstance(text_or_bytes, str) else text_or_bytes
        if token in self.mergeable_ranks:
            return self.mergeable_ranks[token]
        special = token.decode("utf-8", errors="replace")
        if special in self.special_tokens:
            return self.special_tokens[special]
        raise KeyError(token)

    def pieces(self, text: str, **encode_kwargs: SpecialSet) -> list[tuple[int, bytes]]:
        """``(token id, token bytes)`` for each token of ``text``, for visualisation. Keyword
        arguments go to ``encode``."""
        return [(token_id, self._decoder[token_id]) for token_id in self.encode(text, **encode_kwargs)]

    # ---- decoding -------------------------------------------------------------------------

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes of a token sequence (special tokens give their text)."""
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        decoder = self._decoder
        try:
            return b"".join([decoder[token_id] for token_id in ids])
        except (KeyError, TypeError):
            raise self._invalid_token(ids) from None

    def decode(self, ids: Iterable[int], errors: str = "replace") -> str:
        """The text of a token sequence; invalid UTF-8 becomes U+FFFD (``errors="replace"``)."""
        return self.decode_bytes(ids).decode("utf-8", errors=errors)

    def decode_single_token_bytes(self, token_id: int) -> bytes:
        """The bytes of one token."""
        return self.decode_bytes([token_id])

    def decode_tokens_bytes(self, ids: Iterable[int]) -> list[bytes]:
        """The bytes of each token, one entry per token."""
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        return [self.decode_single_token_bytes(token_id) for token_id in ids]

    def _invalid_token(self, ids: list[int]) -> InvalidTokenError:
        position, token_id = next((i, t) for i, t in enumerate(ids) if not self._decodable(t))
        return InvalidTokenError(
            f"cannot decode token id {token_id!r} at position {position}: it is not an id of {self.name} "
            f"(ids run from 0 to {self.n_vocab - 1})"
        )

    def _decodable(self, token_id: object) -> bool:
        try:
            return token_id in self._decoder
        except TypeError:  # unhashable
            return False
