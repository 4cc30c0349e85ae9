"""The from-scratch o200k_harmony tokenizer gives tiktoken's ids, specials and errors exactly."""
from __future__ import annotations

import pathlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gptoss_edu
from gptoss_edu.io.vocab import VocabError, resolve_vocab
from gptoss_edu.tokenizer import O200K_PATTERN, InvalidTokenError, o200k_harmony, pretokenize
from gptoss_edu.tokenizer.o200k import HARMONY_NAMED_SPECIAL_TOKENS, load_o200k_harmony

HARD_TEXTS = [
    "",
    "hello world",
    "Hello, World! HELLO WORLD. hElLo wOrLd.",
    # contractions in every case, inside and outside words
    "don't DON'T Don'T we'll WE'LL We'Ll I'm I'M you're YOU'RE they've THEY'VE he'd HE'D it's IT'S 's 't",
    "'s's'S 'll've rock'n'roll o'clock O'Neil ’s can’t",
    # digits
    "0 12 123 1234 12345 1234567890 3.14159 1e-10 0x1F 1,000,000 ٣٤٥ ४२ 二〇二四 ①②③ Ⅻ",
    # whitespace runs, line endings
    "a  b   c    d\t\te\n\nf\r\ng\r\n\r\nh \n i\x0b\x0cj\u00a0k\u2003l\u2028m\u2029n\x85o",
    " " * 37 + "x" + "\n" * 9 + "y" + " \n" * 5 + "\t" * 4,
    "trailing spaces   ",
    "\n\n\n",
    "   ",
    # scripts
    "Ελληνικά Русский язык Українська Հայերեն ქართული עברית العربية فارسی",
    "हिन्दी मराठी বাংলা ਪੰਜਾਬੀ ગુજરાતી தமிழ் తెలుగు ಕನ್ನಡ മലയാളം සිංහල",
    "中文简体 繁體中文 日本語のひらがなとカタカナ 한국어 텍스트 ภาษาไทย ພາສາລາວ ខ្មែរ မြန်မာ",
    "Tiếng Việt có dấu: Nguyễn, ǅemal ǈ ǋ, Ångström, straße STRASSE ß ẞ, İstanbul ıi",
    "አማርኛ ትግርኛ ᏣᎳᎩ ᐃᓄᒃᑎᑐᑦ ꦧꦱꦗꦮ 𐌰𐌱𐌲 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝐁𝐨𝐥𝐝",
    # combining marks, normalisation variants
    "e\u0301 é a\u0308\u0304 Z\u0335\u0321\u0322a\u0337\u034al\u0334g\u0358o\u035c ñ n\u0303",
    "\u0301\u0301\u0301 start with marks",
    # emoji: joiners, skin tones, flags, keycaps, variation selectors
    "👍 👍🏽 👩‍💻 👨‍👩‍👧‍👦 🏳️‍🌈 🇫🇷🇯🇵 1️⃣ #️⃣ ❤️ ☺︎ 🧑🏿‍🤝‍🧑🏻 🫠🫶",
    "😀😃😄😁😆😅🤣😂🙂🙃" * 5,
    # code
    "def f(x: int) -> int:\n    return x ** 2  # square\n\nif __name__ == '__main__':\n\tprint(f(3))\r\n",
    'fn main() { let v: Vec<u8> = vec![1, 2, 3]; println!("{:?}", v); }\n// comment /* block */',
    "<div class=\"x\">&amp; &lt;tag&gt;</div> https://example.com/a/b?c=d&e=f#g SELECT * FROM t;",
    "a+=b;c-=d;e*=f;g/=h;i//=j;k%=l;m**=n;o>>=p;q<<=r;s&=t;u|=v;w^=x;y==z;!=;===;!==;<=>;",
    "/// //// \\\\ \\n \\t ``` ~~~ ... --- *** ___ ||| &&& ^^^ %%% $$$ @@@ !!! ??? ;;; ::: ,,,",
    # long words and long runs
    "a" * 3000,
    "Supercalifragilisticexpialidocious" * 40,
    "pneumonoultramicroscopicsilicovolcanoconiosis " * 3,
    "x" + "\u0301" * 500,
    "😀" * 400,
    "." * 1000 + "\n" + "-" * 500,
    "1" * 1000,
    # special-token look-alikes as plain text
    "<|endoftext|> <|start|>user<|message|>hi<|end|> <|reserved_200100|> <|notatoken|> <| |> <|",
    # control characters and odd code points
    "\x00\x01\x1f\x7f \ufeffBOM \ufffd \U000e0041 \U0010fffd",
]

def _source_files() -> list[str]:
    package = pathlib.Path(gptoss_edu.__file__).parent
    return [path.read_text(encoding="utf-8") for path in sorted(package.rglob("*.py"))[:20]]


def test_pattern_is_tiktokens(theirs):
    assert O200K_PATTERN == theirs._pat_str


def test_vocabulary_and_specials_match(ours, theirs):
    assert ours.n_vocab == theirs.n_vocab == 201088
    assert ours.special_tokens == theirs._special_tokens
    assert ours.mergeable_ranks == theirs._mergeable_ranks
    for name, token_id in HARMONY_NAMED_SPECIAL_TOKENS.items():
        assert theirs.encode_single_token(name) == token_id == ours.encode_single_token(name)


def test_o200k_harmony_is_built_once(ours):
    assert o200k_harmony() is ours


@pytest.mark.parametrize("text", HARD_TEXTS, ids=range(len(HARD_TEXTS)))
def test_hard_texts_match_tiktoken(ours, theirs, text):
    assert ours.encode(text, disallowed_special=()) == theirs.encode(text, disallowed_special=())
    assert ours.encode_ordinary(text) == theirs.encode_ordinary(text)
    assert ours.decode(ours.encode_ordinary(text)) == text


def test_source_code_matches_tiktoken(ours, theirs):
    for source in _source_files():
        assert ours.encode_ordinary(source) == theirs.encode_ordinary(source)


def test_pretokenize_rejoins_to_the_text():
    for text in HARD_TEXTS:
        assert "".join(pretokenize(text)) == text


# Any code point but a surrogate: unassigned ones included, since our classes are tiktoken's own
# (tests/test_tokenizer_unicode_scan.py scans them all).
_ANY = st.characters(blacklist_categories=("Cs",))
_TRICKY = st.sampled_from(list(" \t\n\r\x0b\x0c\x85\u00a0\u2028\x1c\u180e'sStTdDlLmMvVeE09.,!/-_😀🏽\u200d\u0301ſ\u0558"))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(st.one_of(_ANY, _TRICKY), max_size=40))
def test_random_unicode_matches_tiktoken(ours, theirs, text):
    assert ours.encode_ordinary(text) == theirs.encode_ordinary(text)
    assert ours.decode(ours.encode_ordinary(text)) == text


def test_lone_surrogates_are_replaced_like_tiktoken(ours, theirs):
    text = "a\ud800b \ud83d\ude00 c\udfff"
    assert ours.encode(text) == theirs.encode(text)
    assert ours.encode_ordinary(text) == theirs.encode_ordinary(text)


SPECIAL_TEXTS = [
    "<|endoftext|>",
    "hello <|start|>user<|message|>hi<|end|> bye",
    "<|start|><|start|>",
    "a<|return|>b<|call|>c<|constrain|>d<|channel|>e<|startoftext|>f<|endofprompt|>g",
    "<|reserved_200018|> and <|reserved_201087|> and <|reserved_201088|>",
    "<|end<|end|>|> <<|end|>> <|end|<|end|>",
    "no special at all",
]
SPECIAL_ARGS = [
    {},
    {"allowed_special": "all"},
    {"disallowed_special": ()},
    {"allowed_special": {"<|end|>"}},
    {"allowed_special": {"<|start|>", "<|message|>"}},
    {"allowed_special": {"<|end|>"}, "disallowed_special": ()},
    {"allowed_special": {"<|end|>"}, "disallowed_special": {"<|end|>"}},
    {"disallowed_special": {"<|start|>"}},
    {"allowed_special": "all", "disallowed_special": {"<|return|>"}},
    {"allowed_special": {"<|reserved_200018|>"}, "disallowed_special": ()},
    {"allowed_special": {"not a special token"}, "disallowed_special": ()},
]


def _outcome(encoding, text, kwargs):
    try:
        return encoding.encode(text, **kwargs)
    except ValueError as error:
        return ("ValueError", str(error).split("\n")[0])


@pytest.mark.parametrize("kwargs", SPECIAL_ARGS, ids=[str(a) for a in SPECIAL_ARGS])
def test_special_tokens_raise_and_encode_exactly_like_tiktoken(ours, theirs, kwargs):
    for text in SPECIAL_TEXTS:
        assert _outcome(ours, text, kwargs) == _outcome(theirs, text, kwargs), text


def test_special_tokens_are_refused_by_default(ours):
    with pytest.raises(ValueError, match="disallowed special token '<\\|end\\|>'"):
        ours.encode("x<|end|>")
    assert ours.encode("<|end|>", allowed_special={"<|end|>"}) == [HARMONY_NAMED_SPECIAL_TOKENS["<|end|>"]]


def test_decode_of_every_special_id_matches_tiktoken(ours, theirs):
    special_ids = sorted(set(theirs._special_tokens.values()))
    assert ours.decode_bytes(special_ids) == theirs.decode_bytes(special_ids)


def test_decode_matches_tiktoken_on_broken_utf8(ours, theirs):
    ids = ours.encode_ordinary("👨‍👩‍👧 ภาษาไทย")
    for cut in range(len(ids)):
        assert ours.decode(ids[cut:]) == theirs.decode(ids[cut:])
        assert ours.decode_bytes(ids[:cut]) == theirs.decode_bytes(ids[:cut])


def test_lookups_match_tiktoken(ours, theirs):
    for token in ["hello", " world", "<|message|>", b"\xf0"]:
        assert ours.encode_single_token(token) == theirs.encode_single_token(token)
    with pytest.raises(KeyError):
        ours.encode_single_token("hello world")
    for token_id in [0, 255, 12345, 199997, 200005, 201087]:
        assert ours.decode_single_token_bytes(token_id) == theirs.decode_single_token_bytes(token_id)
        assert ours.is_special_token(token_id) == theirs.is_special_token(token_id)
    assert ours.special_tokens_set == theirs.special_tokens_set


def test_pieces_give_ids_and_bytes(ours):
    pieces = ours.pieces("Hi 👋<|end|>", allowed_special="all")
    assert [token_id for token_id, _ in pieces] == ours.encode("Hi 👋<|end|>", allowed_special="all")
    assert b"".join(token for _, token in pieces) == "Hi 👋<|end|>".encode()


@pytest.mark.parametrize("bad", [201088, -1, 10**12, "7", None])
def test_decode_rejects_unknown_ids_naming_id_and_position(ours, bad):
    with pytest.raises(InvalidTokenError, match=rf"{bad!r} at position 2"):
        ours.decode([1, 2, bad, 3])
    with pytest.raises(KeyError):  # also what tiktoken raises
        ours.decode_bytes([1, 2, bad])


def test_decode_accepts_arrays(ours):
    numpy = pytest.importorskip("numpy")
    ids = ours.encode("array input")
    assert ours.decode(numpy.array(ids)) == "array input"


def test_wrong_or_truncated_vocab_file_is_refused(tmp_path):
    good = resolve_vocab(download=False).read_bytes()
    truncated = tmp_path / "truncated.tiktoken"
    truncated.write_bytes(good[: len(good) // 2])
    altered = tmp_path / "altered.tiktoken"
    altered.write_bytes(good.replace(b" 0\n", b" 1\n", 1))
    for path in (truncated, altered, tmp_path / "missing.tiktoken"):
        with pytest.raises(VocabError, match=path.name):
            load_o200k_harmony(path)
