"""Every Unicode code point, in several contexts, tokenizes exactly as tiktoken's o200k_harmony.

The scan builds one long string per context and block of code points: each sample is followed
by a separator that ends in ``999``. Three digits always form one whole chunk and nothing can
run on from them into the next sample, so every sample is cut as if it started the text (a
test below checks that claim with tiktoken itself). When a block differs, its samples are
compared one by one to name the code points.
"""
from __future__ import annotations

import importlib.util
import random
import subprocess
import sys
from pathlib import Path

import pytest
import tiktoken

from gptoss_edu.tokenizer.charclass import BASE_CLASSES, class_ranges, stand_in_table
from gptoss_edu.tokenizer.unicode_classes import REGEX_SYNTAX_VERSION, UNICODE_VERSION

CODE_POINTS = [code for code in range(0x110000) if not 0xD800 <= code <= 0xDFFF]  # surrogates cannot be UTF-8
BLOCK = 1 << 16

# name -> (sample template, separator): the separator's first character is the sample's right neighbour.
CONTEXTS = {
    "alone, then a newline": ("{}", "\n999"),
    "alone, then a space": ("{}", " 999"),
    "after a letter": ("a{}", "\n999"),
    "before a letter": ("{}a", "\n999"),
    "between A and 'S": ("A{}'S", "\n999"),
    "after a space": (" {}", "\n999"),
    "after a digit": ("1{}", " 999"),
    "doubled": ("{}{}", " 999"),
    "as a contraction's letter": ("A'{}", "\n999"),
}

# Code points on which Unicode versions or regex engines disagree: assigned after Unicode 16
# (U+0558, U+058B, U+05C8, U+088F, U+11DE0...), Python's extra \s (U+001C..U+001F), a former
# space (U+180E), case folding (U+017F LONG S, U+212A KELVIN SIGN), next-line, zero-width space.
DISPUTED = [0x0558, 0x058B, 0x05C8, 0x088F, 0x11DE0, 0x1C, 0x1D, 0x1E, 0x1F, 0x85, 0x180E, 0x017F, 0x212A,
            0x200B, 0x2028, 0x3000, 0x1E030, 0x10D4E, 0x1CC00, 0x16D40, 0x1F8B2, 0x31350, 0x2EBF0]


def _sample(template: str, code: int) -> str:
    return template.replace("{}", chr(code))


def differing_code_points(ours, theirs, template: str, separator: str, code_points: list[int]) -> list[int]:
    """The code points whose sample (template + separator) ours and tiktoken encode differently."""
    bad = []
    for start in range(0, len(code_points), BLOCK):
        block = code_points[start : start + BLOCK]
        text = "".join(_sample(template, code) + separator for code in block)
        if ours.encode_ordinary(text) != theirs.encode_ordinary(text):
            for code in block:
                sample = _sample(template, code) + separator
                if ours.encode_ordinary(sample) != theirs.encode_ordinary(sample):
                    bad.append(code)
    return bad


def _names(codes: list[int]) -> list[str]:
    return [f"U+{code:04X}" for code in codes[:20]]


@pytest.mark.slow
@pytest.mark.parametrize("context", CONTEXTS)
def test_every_code_point_matches_tiktoken_in_context(ours, theirs, context):
    template, separator = CONTEXTS[context]
    bad = differing_code_points(ours, theirs, template, separator, CODE_POINTS)
    assert not bad, f"{len(bad)} code points differ {context}: {_names(bad)}"


@pytest.mark.slow
def test_every_code_point_alone_at_the_end_of_the_text_matches_tiktoken(ours, theirs):
    bad = [code for code in CODE_POINTS if ours.encode_ordinary(chr(code)) != theirs.encode_ordinary(chr(code))]
    assert not bad, f"{len(bad)} code points differ alone: {_names(bad)}"


@pytest.mark.parametrize("context", CONTEXTS)
def test_disputed_code_points_match_tiktoken(ours, theirs, context):
    template, separator = CONTEXTS[context]
    assert differing_code_points(ours, theirs, template, separator, DISPUTED) == []
    for code in DISPUTED:
        assert ours.encode_ordinary(_sample(template, code)) == theirs.encode_ordinary(_sample(template, code))


@pytest.mark.parametrize("separator", sorted({separator for _, separator in CONTEXTS.values()}))
def test_scan_separator_makes_samples_independent_in_tiktoken(theirs, separator):
    # The scan's premise, checked on the reference: a sample after the separator is cut as if alone.
    rng = random.Random(12)
    for _ in range(3000):
        first, second = (_sample(rng.choice([t for t, _ in CONTEXTS.values()]), rng.choice(CODE_POINTS)) for _ in "ab")
        assert theirs.encode_ordinary(first + separator + second) == (
            theirs.encode_ordinary(first + separator) + theirs.encode_ordinary(second))


def test_class_table_comes_from_the_regex_syntax_inside_tiktoken():
    # The regex-syntax version is compiled into tiktoken's extension (its panic messages name it).
    binary = Path(tiktoken._tiktoken.__file__).read_bytes()
    assert f"regex-syntax-{REGEX_SYNTAX_VERSION}".encode() in binary, (
        "tiktoken now uses another regex-syntax: regenerate gptoss_edu/tokenizer/unicode_classes.py "
        "with scripts/make_unicode_classes.py")
    assert UNICODE_VERSION == "16.0.0"


def test_base_classes_are_disjoint_and_sorted():
    owner: dict[int, str] = {}
    for name in BASE_CLASSES:
        ranges = class_ranges(name)
        assert all(first <= last < next_first for (first, last), (next_first, _) in zip(ranges, ranges[1:]))
        for first, last in ranges:
            for code in (first, last):
                assert owner.setdefault(code, name) == name, f"U+{code:04X} is in {owner[code]} and {name}"


def test_stand_ins_keep_ascii_and_only_ascii():
    """ASCII stands for itself and nothing else stands for ASCII: the pre-tokenizer then takes ASCII chunks as they are."""
    table = stand_in_table()
    assert table[:128] == "".join(map(chr, range(128)))
    assert not any(ch.isascii() for ch in table[128:])


def test_tokenizer_needs_no_regex_package(theirs):
    # Exactness must not depend on the installed `regex`: block it and tokenize the disputed code points.
    text = "".join(_sample(t, code) + s for t, s in CONTEXTS.values() for code in DISPUTED)
    script = ("import sys; sys.modules['regex'] = None\n"
              "from gptoss_edu.tokenizer import o200k_harmony\n"
              "print(o200k_harmony().encode_ordinary(sys.stdin.read()))")
    result = subprocess.run([sys.executable, "-c", script], input=text, capture_output=True, text=True,
                            encoding="utf-8", check=True)
    assert result.stdout.strip() == str(theirs.encode_ordinary(text))


_HEADER = "// DO NOT EDIT THIS FILE.\n//\n// Unicode version: 16.0.0.\n//\n"
_FAKE_TABLES = {
    "general_category.rs": _HEADER + "\n".join(
        f"pub const {name}: &'static [(char, char)] = &[\n    {body}\n];"
        for name, body in [("UPPERCASE_LETTER", "('A', 'Z'), ('\\u{10400}', '\\u{10427}')"),
                           ("LOWERCASE_LETTER", "('a', 'z'), ('ſ', 'ſ')"), ("TITLECASE_LETTER", "('ǅ', 'ǅ')"),
                           ("MODIFIER_LETTER", "('ʰ', 'ʰ')"), ("OTHER_LETTER", "('\\u{4e00}', '\\u{9fff}')"),
                           ("MARK", "('\\u{300}', '\\u{36f}')"), ("NUMBER", "('0', '9'), ('%', '\\'')")]),
    "perl_space.rs": _HEADER + "pub const WHITE_SPACE: &'static [(char, char)] = &[\n    ('\\t', '\\r'),\n    (' ', ' '),\n];",
    "case_folding_simple.rs": _HEADER + "pub const CASE_FOLDING_SIMPLE: &'static [(char, &'static [char])] = &[\n"
    "    ('K', &['k', '\\u{212a}']),\n    ('S', &['s', 'ſ']),\n    ('k', &['K', '\\u{212a}']),\n"
    "    ('s', &['S', 'ſ']),\n    ('ſ', &['S', 's']),\n    ('\\u{212a}', &['K', 'k']),\n];",
}


def test_generator_reads_regex_syntax_tables(tmp_path):
    # The generator script on tables in regex-syntax's format: escapes, ranges, case orbits.
    script = Path(__file__).resolve().parents[1] / "scripts" / "make_unicode_classes.py"
    spec = importlib.util.spec_from_file_location("make_unicode_classes", script)
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    for name, text in _FAKE_TABLES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    module: dict = {}
    exec(generator.render(tmp_path, "0.0.0"), module)  # noqa: S102 - the generated module is plain data
    assert module["UNICODE_VERSION"] == "16.0.0" and module["REGEX_SYNTAX_VERSION"] == "0.0.0"
    assert module["CLASSES"]["Lu"] == "41-5a 10400-10427"
    assert module["CLASSES"]["Ll"] == "61-7a 17f"
    assert module["CLASSES"]["N"] == "30-39 25-27"
    assert module["CLASSES"]["White_Space"] == "9-d 20"
    assert module["CASE_ORBITS"]["k"] == "4b 6b 212a" and module["CASE_ORBITS"]["s"] == "53 73 17f"
    assert module["CASE_ORBITS"]["a"] == "61"
