"""``encode_with_unstable``: the tokens of a text that more text cannot change, and the rest's options.

When a model completes a prompt, the prompt's last tokens may not survive: ``"hello fanta"``
ends in the chunk ``" fanta"``, which a following ``"stic"`` would re-tokenize. tiktoken's
``Encoding.encode_with_unstable`` returns the *stable* tokens (those before the last
pre-tokenizer chunk, widened over trailing whitespace tokens) and every token sequence that
could spell the unstable bytes followed by some continuation. This module follows tiktoken's
published algorithm (``_encode_unstable_native`` in its ``src/lib.rs``) step by step, so the
results are equal as sets (tiktoken builds them in a hash set, so its list order is arbitrary;
ours is sorted).
"""
from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

from .bpe import byte_pair_encode
from .charclass import class_ranges
from .specials import special_token_regex

if TYPE_CHECKING:
    from .core import Tokenizer

_SPACE_BYTES = frozenset(b" \n\t")


def encode_with_unstable(tokenizer: Tokenizer, text: str, allowed: set[str] | frozenset[str]) -> tuple[list[int], list[list[int]]]:
    """Stable tokens of ``text`` and the possible token sequences for its unstable end."""
    tokens, last_piece_tokens = _encode_with_last_piece(tokenizer, text, allowed)
    if last_piece_tokens == 0:  # empty text, or it ends with a special token: nothing is unstable
        return tokens, []
    last_piece_tokens = _widen_over_spaces(tokenizer, tokens, last_piece_tokens)
    unstable = tokenizer.decode_bytes(tokens[-last_piece_tokens:])
    stable = tokens[:-last_piece_tokens]
    completions = {(token_id,) for token_id in _tokens_starting_with(tokenizer, unstable)}
    for cut in range(1, len(unstable)):  # a token that straddles the end, starting at `cut`
        prefix = unstable[:cut]
        for token_id in _tokens_starting_with(tokenizer, unstable[cut:]):
            completions.add(_covering(tokenizer, prefix + tokenizer.decode_single_token_bytes(token_id), len(unstable)))
    completions |= _whitespace_split(tokenizer, unstable)
    return stable, [list(sequence) for sequence in sorted(completions)]


def encode_bytes(tokenizer: Tokenizer, data: bytes) -> list[int]:
    """Tokens of bytes that may not be valid UTF-8 (tiktoken's ``_encode_bytes``): the valid
    prefix is encoded as text, then its unstable end and the invalid rest are merged as bytes."""
    try:
        return tokenizer.encode_ordinary(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        valid = error.start
    tokens, last_piece_tokens = _encode_with_last_piece(tokenizer, data[:valid].decode("utf-8"), frozenset())
    rest = data[valid:]
    if tokens and last_piece_tokens:
        last_piece_tokens = _widen_over_spaces(tokenizer, tokens, last_piece_tokens)
        rest = tokenizer.decode_bytes(tokens[-last_piece_tokens:]) + rest
        tokens = tokens[:-last_piece_tokens]
    if rest:
        rank = tokenizer.mergeable_ranks.get(rest)
        tokens += [rank] if rank is not None else byte_pair_encode(rest, tokenizer.mergeable_ranks)
    return tokens


def _encode_with_last_piece(tokenizer: Tokenizer, text: str, allowed: set[str] | frozenset[str]) -> tuple[list[int], int]:
    # The ids, and how many of them the last pre-tokenizer chunk gave (0 if a special token ends the text).
    tokens = tokenizer.encode(text, allowed_special=set(allowed), disallowed_special=())
    specials = allowed & tokenizer.special_tokens.keys()
    tail_start = max((match.end() for match in special_token_regex(frozenset(specials)).finditer(text)), default=0) \
        if specials else 0
    chunks = tokenizer._regex.findall(text[tail_start:])
    return tokens, len(tokenizer._encode_plain(chunks[-1])) if chunks else 0


def _widen_over_spaces(tokenizer: Tokenizer, tokens: list[int], count: int) -> int:
    # tiktoken's fix for splits that can vanish ("\n" + " " may become "\n \n"): if the last
    # chunk starts with an all-whitespace token, whitespace tokens before it are unstable too.
    def all_space(token_id: int) -> bool:
        return not tokenizer.is_special_token(token_id) and set(tokenizer.decode_single_token_bytes(token_id)) <= _SPACE_BYTES

    if all_space(tokens[-count]):
        while count < len(tokens) and all_space(tokens[-count - 1]):
            count += 1
    return count


def _tokens_starting_with(tokenizer: Tokenizer, prefix: bytes) -> list[int]:
    sorted_tokens = tokenizer._sorted_token_bytes
    found = []
    for index in range(bisect.bisect_left(sorted_tokens, prefix), len(sorted_tokens)):
        if not sorted_tokens[index].startswith(prefix):
            break
        found.append(tokenizer.mergeable_ranks[sorted_tokens[index]])
    return found


def _covering(tokenizer: Tokenizer, possibility: bytes, length: int) -> tuple[int, ...]:
    # Tokenize the candidate text and keep tokens until they cover `length` bytes.
    try:
        encoded = tokenizer.encode_ordinary(possibility.decode("utf-8"))
    except UnicodeDecodeError:  # cut inside a character: merges alone, as tiktoken does
        encoded = byte_pair_encode(possibility, tokenizer.mergeable_ranks)
    sequence, covered = [], 0
    for token_id in encoded:
        sequence.append(token_id)
        covered += len(tokenizer.decode_single_token_bytes(token_id))
        if covered >= length:
            break
    return tuple(sequence)


def _whitespace_split(tokenizer: Tokenizer, unstable: bytes) -> set[tuple[int, ...]]:
    # `\s+(?!\S)` can split off a final whitespace character once a non-space follows.
    if len(unstable) < 2:
        return set()
    last, size = _last_character(unstable)
    if last is None or size == len(unstable) or not _is_white_space(last):
        return set()
    ranks = tokenizer.mergeable_ranks
    return {tuple(byte_pair_encode(unstable[:-size], ranks) + byte_pair_encode(unstable[-size:], ranks))}


def _last_character(data: bytes) -> tuple[str | None, int]:
    for size in range(1, min(4, len(data)) + 1):
        try:
            return data[-size:].decode("utf-8"), size
        except UnicodeDecodeError:
            continue
    return None, 1


def _is_white_space(char: str) -> bool:
    return any(first <= ord(char) <= last for first, last in class_ranges("s"))
