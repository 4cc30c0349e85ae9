"""tiktoken's character classes, and the small alphabet that lets Python's ``re`` use them fast.

``unicode_classes`` (generated from regex-syntax, the tables compiled into tiktoken) says which
code points are ``\\p{Lu}``, ``\\p{Ll}``, ``\\p{Lt}``, ``\\p{Lm}``, ``\\p{Lo}``, ``\\p{M}``,
``\\p{N}`` and ``\\s``. Spelling those classes out as ranges in a Python regex is exact but slow:
``re`` checks code points above U+FFFF against a linear list of ranges. So the pre-tokenizer
reads text through a *representative alphabet* instead:

- every ASCII character stands for itself (patterns spell their literals in ASCII);
- every other code point becomes one Latin-1 stand-in for its class (U+0080 for an uppercase
  letter, U+0081 for a lowercase one, ... U+0088 for "none of these");
- the two non-ASCII characters that case-insensitive matching folds onto ASCII letters
  (U+017F LONG S onto ``s``, U+212A KELVIN SIGN onto ``k``) get stand-ins of their own.

Two code points with the same stand-in belong to the same classes and match the same
literals, so a pattern rewritten over stand-ins (``alphabet_class``, ``alphabet_fold``) cuts
the stand-in text exactly where the original pattern cuts the original text: one stand-in per
code point, so the cut positions carry over.
"""
from __future__ import annotations

import functools

from .unicode_classes import CASE_ORBITS, CLASSES

BASE_CLASSES = ("Lu", "Ll", "Lt", "Lm", "Lo", "M", "N", "White_Space")
"""The disjoint classes the table holds; a code point is in at most one of them."""

CLASS_NAMES: dict[str, tuple[str, ...]] = {
    **{name: (name,) for name in BASE_CLASSES},
    "L": ("Lu", "Ll", "Lt", "Lm", "Lo"),
    "s": ("White_Space",),
}
"""The names a pattern may use (``\\p{L}``, ``\\p{Lu}``..., ``s`` for ``\\s``) and their base classes."""

MAX_CODE_POINT = 0x10FFFF
_STAND_IN = {name: 0x80 + i for i, name in enumerate(BASE_CLASSES)}
_OTHER = 0x80 + len(BASE_CLASSES)  # in no class: punctuation, symbols, emoji, controls, unassigned


@functools.cache
def class_ranges(name: str) -> tuple[tuple[int, int], ...]:
    """Inclusive code-point ranges of a class named as in ``CLASS_NAMES``, sorted."""
    if name not in CLASS_NAMES:
        raise ValueError(f"unknown character class {name!r}: tiktoken's table has {sorted(CLASS_NAMES)}")
    ranges = []
    for base in CLASS_NAMES[name]:
        for item in CLASSES[base].split():
            first, _, last = item.partition("-")
            ranges.append((int(first, 16), int(last or first, 16)))
    return tuple(sorted(ranges))


def case_orbit(letter: str) -> list[int]:
    """The code points that ``(?i:...)`` matches for an ASCII letter (``k``: K, k, U+212A)."""
    return [int(code, 16) for code in CASE_ORBITS[letter.lower()].split()]


@functools.lru_cache(maxsize=1)
def _folded_stand_ins() -> dict[int, int]:
    # Non-ASCII members of ASCII letters' case orbits, each with its own stand-in from U+0090.
    folded = sorted({code for letter in CASE_ORBITS for code in case_orbit(letter) if code >= 0x80})
    return {code: 0x90 + i for i, code in enumerate(folded)}


@functools.lru_cache(maxsize=1)
def stand_in_table() -> str:
    """A string of 0x110000 Latin-1 characters: ``table[code point]`` is its stand-in."""
    table = bytearray([_OTHER]) * (MAX_CODE_POINT + 1)
    for name in BASE_CLASSES:
        stand_in = bytes([_STAND_IN[name]])
        for first, last in class_ranges(name):
            table[first : last + 1] = stand_in * (last + 1 - first)
    table[:0x80] = bytes(range(0x80))
    for code, stand_in in _folded_stand_ins().items():
        table[code] = stand_in
    return table.decode("latin-1")


def _members(name: str, code: int) -> bool:
    return any(first <= code <= last for first, last in class_ranges(name))


def alphabet_class(name: str) -> list[str]:
    """The stand-ins of every member of a class: its ASCII members, its base classes' stand-ins,
    and the folded letters' stand-ins that belong to it."""
    ascii_members = [chr(code) for code in range(0x80) if _members(name, code)]
    bases = [chr(_STAND_IN[base]) for base in CLASS_NAMES[name]]
    folded = [chr(stand_in) for code, stand_in in _folded_stand_ins().items() if _members(name, code)]
    return ascii_members + bases + folded


def alphabet_fold(letter: str) -> list[str]:
    """The stand-ins of every character that case-insensitively matches an ASCII letter."""
    folded = _folded_stand_ins()
    return [chr(folded.get(code, code)) for code in case_orbit(letter)]


def to_alphabet(text: str) -> str:
    """``text`` with every code point replaced by its stand-in (ASCII text is returned as is).
    Lone surrogates, which UTF-8 cannot hold, count as "in no class"."""
    if text.isascii():
        return text
    if len(text) < _NUMPY_FROM:
        return text.translate(stand_in_table())
    import numpy as np  # imported on first use: `import gptoss_edu` stays light

    code_points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return _numpy_table()[code_points].tobytes().decode("latin-1")


_NUMPY_FROM = 512  # characters; below this str.translate is quicker than a numpy round trip


@functools.lru_cache(maxsize=1)
def _numpy_table():
    import numpy as np

    return np.frombuffer(stand_in_table().encode("latin-1"), dtype=np.uint8)
