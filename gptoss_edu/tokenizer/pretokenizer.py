"""The o200k pre-tokenizer: the regular expression that cuts text into chunks before BPE.

BPE never merges across chunk boundaries, so this regex decides what can become one token:
a word with its leading space, up to three digits, a run of punctuation, a run of whitespace.
The pattern is tiktoken's ``o200k_base`` pattern, written here one alternative at a time.
The regex engine tries the alternatives left to right at each position and keeps the first
that matches (not the longest), then continues after the match.

Letter classes used below: ``Lu`` uppercase, ``Lt`` titlecase (``ǅ``), ``Lm`` modifier letters
(``ʰ``), ``Lo`` other letters (CJK, Arabic, Hebrew, Thai... scripts without case), ``Ll``
lowercase, ``M`` combining marks (accents, Devanagari vowel signs). ``Lm``, ``Lo`` and ``M``
sit on both the "upper" and the "lower" side, so caseless scripts form words too.
The alternatives are numbered from 0, as in ``O200K_ALTERNATIVES`` and ``explain_chunks``.

Unicode versions: the classes come from the ``regex`` package's Unicode tables, tiktoken's
from its Rust regex crate. Characters assigned in only one of the two Unicode versions (new
scripts and emoji, a handful of re-categorised letters) can be split differently. The tests
draw random text from every character assigned in Python's own Unicode database and get
tiktoken's ids exactly.

0. ``[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+`` then an
   optional contraction: a word that *ends in lowercase*. One optional leading character that
   is not a letter, digit or line break (usually the space before the word, or punctuation
   such as the ``.`` of ``".py"``), any uppercase-like letters, then at least one
   lowercase-like letter. ``" Hello"``, ``"HTTPServer"`` (one chunk: ``HTTPS`` + ``erver``),
   ``" 世界"``; ``"CamelCase"`` gives ``"Camel"`` and ``"Case"`` because a lowercase letter
   cannot be followed by uppercase inside one word.
1. ``[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*`` then an
   optional contraction: the same with the roles swapped, for words in capitals: ``" NASA"``,
   ``"I"``. Both word alternatives end with ``(?i:'s|'t|'re|'ve|'m|'ll|'d)?``, an English
   contraction in any case that stays glued to its word: ``"don't"`` and ``" I'M"`` are
   single chunks.
2. ``\\p{N}{1,3}``: numbers in groups of at most three digits, left to right: ``"2024"`` gives
   ``"202"`` and ``"4"``. No leading space: ``" 42"`` gives ``" "`` and ``"42"``.
3. `` ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*``: a run of punctuation or symbols (emoji included) with an
   optional leading space, swallowing line breaks and slashes that follow: ``" {\\n"``,
   ``"://"``, ``" 👍"``.
4. ``\\s*[\\r\\n]+``: whitespace that ends in line breaks: ``"  \\n\\n"``, ``"\\r\\n"``.
5. ``\\s+(?!\\S)``: whitespace not followed by a non-space. In ``"a    b"`` it takes three of the
   four spaces and leaves the last one to start ``" b"`` (alternative 0).
6. ``\\s+``: any whitespace left, e.g. the single space in ``"x 42"``: alternative 5 refuses it
   (a digit follows) and digits take no leading space.
"""
from __future__ import annotations

import functools

import regex

_CONTRACTION = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
_UPPER_LIKE = r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]"
_LOWER_LIKE = r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]"
_WORD_LEAD = r"[^\r\n\p{L}\p{N}]?"

O200K_ALTERNATIVES: tuple[tuple[str, str], ...] = (
    (_WORD_LEAD + _UPPER_LIKE + "*" + _LOWER_LIKE + "+" + _CONTRACTION, "word ending in lowercase"),
    (_WORD_LEAD + _UPPER_LIKE + "+" + _LOWER_LIKE + "*" + _CONTRACTION, "word starting in uppercase"),
    (r"\p{N}{1,3}", "one to three digits"),
    (r" ?[^\s\p{L}\p{N}]+[\r\n/]*", "punctuation and symbols"),
    (r"\s*[\r\n]+", "whitespace ending in line breaks"),
    (r"\s+(?!\S)", "whitespace not followed by a non-space"),
    (r"\s+", "any other whitespace"),
)
"""The seven alternatives of the o200k pattern, each with a short name, in matching order."""

O200K_PATTERN: str = "|".join(alternative for alternative, _ in O200K_ALTERNATIVES)
"""tiktoken's ``o200k_base`` pre-tokenizer pattern (tests check it equals tiktoken's string)."""


@functools.lru_cache(maxsize=16)
def compile_pattern(pattern: str) -> regex.Pattern:
    """Compile a pre-tokenizer pattern once (the ``regex`` package: it knows ``\\p{...}``)."""
    return regex.compile(pattern)


def pretokenize(text: str, pattern: str = O200K_PATTERN) -> list[str]:
    """Cut ``text`` into the chunks that BPE works on, in order; their concatenation is ``text``."""
    return compile_pattern(pattern).findall(text)


@functools.lru_cache(maxsize=1)
def _labelled_pattern() -> regex.Pattern:
    # The same alternatives, each in its own capturing group, so a match says which one fired.
    return regex.compile("|".join(f"({alternative})" for alternative, _ in O200K_ALTERNATIVES))


def explain_chunks(text: str) -> list[tuple[str, int]]:
    """The o200k chunks of ``text``, each with the index (into ``O200K_ALTERNATIVES``) of the
    alternative that produced it."""
    return [(match.group(), match.lastindex - 1) for match in _labelled_pattern().finditer(text)]
