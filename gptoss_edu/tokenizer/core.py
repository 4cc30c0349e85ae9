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
U+FFFD; decoding joins token bytes and replaces invalid UTF-8 with U+FFFD.

The public surface is tiktoken's ``Encoding``: the same method names, arguments, results and
exception types (``encode_batch``, ``decode_with_offsets``, ``eot_token``, ``max_token_value``,
``token_byte_values``, ``encode_with_unstable``...; the ``unstable`` module holds the last). Where tiktoken's
message is terse ours names the culprit: an undecodable id raises ``InvalidTokenError``, which
is also the ``KeyError``, ``OverflowError`` or ``TypeError`` tiktoken raises for that id.
"""
from __future__ import annotations

import functools
import operator
import re
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

from .bpe import LONG_CHUNK, bpe_merge, joinable_pairs, run_ranks
from .pretokenizer import O200K_PATTERN, compile_pattern
from .specials import special_token_regex

SpecialSet = Literal["all"] | Collection[str]
_MAX_ID = 2**32 - 1  # tiktoken stores ids as u32
_CACHE_LIMIT = 200_000  # chunks; the cache is emptied when it grows past this


class InvalidTokenError(KeyError, ValueError):
    """A token id this tokenizer cannot decode: a ``KeyError`` as in tiktoken, and a ``ValueError``."""

    def __str__(self) -> str:
        return str(self.args[0])


class TokenOutOfRangeError(InvalidTokenError, OverflowError):
    """A negative id or one past 2**32 - 1: tiktoken raises ``OverflowError`` for these."""


class TokenTypeError(InvalidTokenError, TypeError):
    """An id that is not an integer: tiktoken raises ``TypeError`` for these."""


def _replace_surrogates(text: str) -> str:
    # Lone surrogates cannot be UTF-8 encoded; tiktoken turns them into U+FFFD this same way.
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _raise_disallowed(token: str) -> None:
    # tiktoken's wording (tests match on its first line), with our variable name in the hint.
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
    gives the name listed first. ``max_token_value`` is the largest id and ``n_vocab`` one
    more, as in tiktoken. ``_mergeable_ranks``, ``_special_tokens`` and ``_pat_str`` are
    tiktoken's names for ``mergeable_ranks``, ``special_tokens`` and ``pattern``.
    """

    def __init__(
        self,
        ranks: Mapping[bytes, int],
        special_tokens: Mapping[str, int] | None = None,
        pattern: str = O200K_PATTERN,
        name: str = "bpe",
    ) -> None:
        self.name = name
        self.pattern = self._pat_str = pattern
        self.mergeable_ranks = self._mergeable_ranks = dict(ranks)
        self.special_tokens = self._special_tokens = dict(special_tokens or {})
        self._regex = compile_pattern(pattern)
        self._decoder = {rank: token for token, rank in self.mergeable_ranks.items()}
        if len(self._decoder) != len(self.mergeable_ranks):
            raise ValueError(f"tokenizer {name!r}: two mergeable tokens share a rank")
        clashes = {text: i for text, i in self.special_tokens.items() if i in self._decoder}
        if clashes:
            raise ValueError(f"tokenizer {name!r}: special tokens reuse ids of mergeable tokens: {clashes}")
        for text, token_id in self.special_tokens.items():
            self._decoder.setdefault(token_id, text.encode())
        self._special_token_values = set(self.special_tokens.values())
        self.max_token_value = max(self._decoder, default=-1)
        self._cache: dict[str, list[int]] = {}

    def __repr__(self) -> str:
        return (f"<Tokenizer {self.name!r}: {len(self.mergeable_ranks)} mergeable, "
                f"{len(self._special_token_values)} special ids>")

    @property
    def n_vocab(self) -> int:
        """The largest id plus one (tiktoken's definition)."""
        return self.max_token_value + 1

    @property
    def eot_token(self) -> int:
        """The id of ``<|endoftext|>`` (``KeyError`` if this vocabulary has none)."""
        return self.special_tokens["<|endoftext|>"]

    @functools.cached_property
    def special_tokens_set(self) -> set[str]:
        """The names of all special tokens."""
        return set(self.special_tokens)

    def is_special_token(self, token: int) -> bool:
        """Whether an id is a special token's (``AssertionError`` for a non-int, as in tiktoken)."""
        if not isinstance(token, int):
            raise AssertionError(f"a token id is an int, not {type(token).__name__} ({token!r})")
        return token in self._special_token_values

    def token_byte_values(self) -> list[bytes]:
        """The bytes of every mergeable token, sorted (tiktoken's order)."""
        return list(self._sorted_token_bytes)

    @functools.cached_property
    def _sorted_token_bytes(self) -> list[bytes]:
        return sorted(self.mergeable_ranks)

    # ---- encoding -------------------------------------------------------------------------

    def encode_ordinary(self, text: str) -> list[int]:
        """Token ids of ``text``, with special-token text encoded as plain text."""
        _check_text(text)
        try:
            return self._encode_plain(text)
        except UnicodeEncodeError:
            return self._encode_plain(_replace_surrogates(text))

    def encode(
        self,
        text: str,
        *,
        allowed_special: Literal["all"] | Collection[str] = frozenset(),
        disallowed_special: Literal["all"] | Collection[str] = "all",
    ) -> list[int]:
        """Token ids of ``text``; text that spells a special token is handled as in tiktoken.

        ``allowed_special``: a set of names (or ``"all"``) whose text becomes the special token.
        ``disallowed_special``: names (or ``"all"``, meaning every special not allowed) whose
        text raises ``ValueError``; ``()`` encodes such text as plain text.
        """
        _check_text(text)
        allowed = self._allowed_and_checked(text, allowed_special, disallowed_special)
        try:
            return self._encode_with_specials(text, allowed)
        except UnicodeEncodeError:
            return self._encode_with_specials(_replace_surrogates(text), allowed)

    def _allowed_and_checked(self, text: str, allowed_special, disallowed_special) -> set[str] | frozenset[str]:
        # tiktoken's steps in its order, so that odd arguments fail with its exception types.
        if allowed_special == "all":
            allowed_special = self.special_tokens_set
        if disallowed_special == "all":
            if isinstance(allowed_special, set | frozenset) and not allowed_special:
                disallowed_special = self.special_tokens_set  # the default call: skip the set difference
            else:
                disallowed_special = self.special_tokens_set - allowed_special
        if disallowed_special:
            found = self._specials_regex(disallowed_special).search(text)
            if found:
                _raise_disallowed(found.group())
        if not isinstance(allowed_special, set | frozenset):
            raise TypeError(f"allowed_special must be a set or 'all', not {type(allowed_special).__name__}")
        return allowed_special

    def _specials_regex(self, names: Collection[str]) -> re.Pattern[str]:
        # Every special token, the common case, has its own regex: hashing a 1,088-name set per call is slow.
        if names is self.special_tokens_set:
            return self._all_specials_regex
        return special_token_regex(frozenset(names))

    @functools.cached_property
    def _all_specials_regex(self) -> re.Pattern[str]:
        return special_token_regex(frozenset(self.special_tokens))

    def encode_to_numpy(
        self,
        text: str,
        *,
        allowed_special: Literal["all"] | Collection[str] = frozenset(),
        disallowed_special: Literal["all"] | Collection[str] = "all",
    ):
        """``encode`` as a ``numpy.uint32`` array."""
        import numpy as np

        ids = self.encode(text, allowed_special=allowed_special, disallowed_special=disallowed_special)
        return np.array(ids, dtype=np.uint32)

    def encode_ordinary_batch(self, text: list[str], *, num_threads: int = 8) -> list[list[int]]:
        """``encode_ordinary`` of each text, in order (threads as in tiktoken, though the GIL
        lets only one encode at a time here)."""
        with ThreadPoolExecutor(num_threads) as pool:
            return list(pool.map(self.encode_ordinary, text))

    def encode_batch(
        self,
        text: list[str],
        *,
        num_threads: int = 8,
        allowed_special: Literal["all"] | Collection[str] = frozenset(),
        disallowed_special: Literal["all"] | Collection[str] = "all",
    ) -> list[list[int]]:
        """``encode`` of each text, in order."""
        if allowed_special == "all":
            allowed_special = self.special_tokens_set
        if disallowed_special == "all":
            disallowed_special = self.special_tokens_set - allowed_special
        encoder = functools.partial(self.encode, allowed_special=allowed_special,
                                    disallowed_special=frozenset(disallowed_special))
        with ThreadPoolExecutor(num_threads) as pool:
            return list(pool.map(encoder, text))

    def encode_with_unstable(
        self,
        text: str,
        *,
        allowed_special: Literal["all"] | Collection[str] = frozenset(),
        disallowed_special: Literal["all"] | Collection[str] = "all",
    ) -> tuple[list[int], list[list[int]]]:
        """The stable tokens of ``text`` and every token sequence that may continue it (see
        ``unstable.encode_with_unstable``, which follows tiktoken's algorithm)."""
        from .unstable import encode_with_unstable

        _check_text(text)
        allowed = self._allowed_and_checked(text, allowed_special, disallowed_special)
        return encode_with_unstable(self, text, allowed)

    def _encode_with_specials(self, text: str, allowed: set[str] | frozenset[str]) -> list[int]:
        if allowed is not self.special_tokens_set:
            allowed = allowed & self.special_tokens.keys()
        if not allowed:
            return self._encode_plain(text)
        ids: list[int] = []
        start = 0
        for special in self._specials_regex(allowed).finditer(text):
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

    @functools.cached_property
    def _joinable(self) -> frozenset[int]:
        """The byte pairs a merge can join (built on the first long chunk, about 0.1 s for o200k)."""
        return joinable_pairs(self.mergeable_ranks)

    @functools.cached_property
    def _runs(self) -> dict[int, dict[int, int]]:
        """The ranks of the tokens that repeat one byte (``bpe.run_ranks``), for long runs."""
        return run_ranks(self.mergeable_ranks)

    def _encode_chunk(self, chunk: str) -> list[int]:
        chunk_ids = self._merge(chunk.encode("utf-8"))
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[chunk] = chunk_ids
        return chunk_ids

    def _encode_single_piece(self, text_or_bytes: str | bytes) -> list[int]:
        """BPE of the whole text as one chunk, without the pre-tokenizer (tiktoken's private helper)."""
        piece = text_or_bytes.encode("utf-8") if isinstance(text_or_bytes, str) else text_or_bytes
        return self._merge(piece)

    def _merge(self, piece: bytes) -> list[int]:
        """``bpe_merge`` of one chunk; a long one is first cut where no merge can reach, a long run of one byte
        merged a block at a time."""
        if len(piece) <= LONG_CHUNK:
            return bpe_merge(piece, self.mergeable_ranks)
        return bpe_merge(piece, self.mergeable_ranks, self._joinable, self._runs)

    def _encode_bytes(self, text: bytes) -> list[int]:
        """Tokens of bytes that need not be valid UTF-8 (tiktoken's private helper; ``unstable``)."""
        from .unstable import encode_bytes

        return encode_bytes(self, text)

    def encode_single_token(self, text_or_bytes: str | bytes) -> int:
        """The id of text (or bytes) that is exactly one token, mergeable or special; ``KeyError`` otherwise."""
        token = text_or_bytes.encode("utf-8") if isinstance(text_or_bytes, str) else text_or_bytes
        if not isinstance(token, bytes):
            raise TypeError(f"encode_single_token takes str or bytes, not {type(token).__name__}")
        if token in self.mergeable_ranks:
            return self.mergeable_ranks[token]
        special = token.decode("utf-8", errors="ignore")
        if special in self.special_tokens and special.encode() == token:
            return self.special_tokens[special]
        raise KeyError(token)

    def pieces(self, text: str, **encode_kwargs: SpecialSet) -> list[tuple[int, bytes]]:
        """``(token id, token bytes)`` for each token of ``text``, for visualisation. Keyword
        arguments go to ``encode``."""
        return [(token_id, self._decoder[token_id]) for token_id in self.encode(text, **encode_kwargs)]

    # ---- decoding -------------------------------------------------------------------------

    def decode_bytes(self, tokens: Sequence[int]) -> bytes:
        """The bytes of a token sequence (special tokens give their text)."""
        ids = tokens.tolist() if hasattr(tokens, "tolist") else list(tokens)
        decoder = self._decoder
        try:
            if not set(map(type, ids)) <= {int}:
                ids = list(map(operator.index, ids))  # bools and numpy ints pass, floats and strings do not
            return b"".join([decoder[token_id] for token_id in ids])
        except (KeyError, TypeError):
            raise self._invalid_token(ids) from None

    def decode(self, tokens: Sequence[int], errors: str = "replace") -> str:
        """The text of a token sequence; invalid UTF-8 becomes U+FFFD (``errors="replace"``)."""
        return self.decode_bytes(tokens).decode("utf-8", errors=errors)

    def decode_single_token_bytes(self, token: int) -> bytes:
        """The bytes of one token."""
        return self.decode_bytes([token])

    def decode_tokens_bytes(self, tokens: Sequence[int]) -> list[bytes]:
        """The bytes of each token, one entry per token."""
        ids = tokens.tolist() if hasattr(tokens, "tolist") else list(tokens)
        return [self.decode_single_token_bytes(token_id) for token_id in ids]

    def decode_with_offsets(self, tokens: Sequence[int]) -> tuple[str, list[int]]:
        """The text and, per token, the index of the first character holding its bytes.

        A token that starts inside a multi-byte character (a UTF-8 continuation byte) gets the
        index of that character. Raises ``UnicodeDecodeError`` if the bytes are not valid UTF-8.
        """
        token_bytes = self.decode_tokens_bytes(tokens)
        offsets, characters = [], 0
        for token in token_bytes:
            starts_inside = bool(token) and 0x80 <= token[0] < 0xC0
            offsets.append(max(0, characters - starts_inside))
            characters += sum(1 for byte in token if not 0x80 <= byte < 0xC0)  # count lead bytes
        return b"".join(token_bytes).decode("utf-8", errors="strict"), offsets

    def decode_batch(self, batch: Sequence[Sequence[int]], *, errors: str = "replace",
                     num_threads: int = 8) -> list[str]:
        """``decode`` of each token sequence, in order."""
        with ThreadPoolExecutor(num_threads) as pool:
            return list(pool.map(functools.partial(self.decode, errors=errors), batch))

    def decode_bytes_batch(self, batch: Sequence[Sequence[int]], *, num_threads: int = 8) -> list[bytes]:
        """``decode_bytes`` of each token sequence, in order."""
        with ThreadPoolExecutor(num_threads) as pool:
            return list(pool.map(self.decode_bytes, batch))

    def _invalid_token(self, ids: list[int]) -> InvalidTokenError:
        position, token_id = next((i, t) for i, t in enumerate(ids) if not self._decodable(t))
        message = (f"cannot decode token id {token_id!r} at position {position}: it is not an id of {self.name} "
                   f"(ids run from 0 to {self.max_token_value})")
        if not hasattr(token_id, "__index__"):  # 1.0 would find id 1 in a dict: tiktoken refuses it
            return TokenTypeError(message)
        if not 0 <= token_id <= _MAX_ID:
            return TokenOutOfRangeError(message)
        return InvalidTokenError(message)

    def _decodable(self, token_id: object) -> bool:
        try:
            return operator.index(token_id) in self._decoder
        except TypeError:  # not an integer
            return False


def _check_text(text: object) -> None:
    if not isinstance(text, str):
        raise TypeError(f"text to encode must be a str, not {type(text).__name__}")
