"""Encoding speed: our pure-Python o200k_harmony against tiktoken, on mixed and pathological text.

Inputs, each about ``--megabytes`` long and assembled offline with a fixed seed:

- mixed: Python standard-library source plus multilingual prose in twelve languages;
- one repeated character (``aaaa...``): a single megabyte-long chunk;
- whitespace only (spaces, tabs, newlines, ideographic spaces);
- punctuation (random ASCII punctuation): again one giant chunk;
- letters with no spaces (random lowercase): one giant chunk of varied pairs;
- digits (random): hundreds of thousands of three-digit chunks.

Both tokenizers encode the same text on one thread (``encode_ordinary``; tiktoken releases
the GIL but uses one thread for a single call), ids are checked equal, and each time is the
median of ``--repeats`` runs. Ours is timed with an empty chunk cache ("cold", what a first
encode costs) and, for mixed text, with the cache filled ("warm"). tiktoken can fail on some
inputs (its backtracking regex overflows the stack on long whitespace runs); the table says so.
Run: ``python benchmarks/tokenizer.py [--megabytes 1.0] [--repeats 3]``.
"""
from __future__ import annotations

import argparse
import random
import statistics
import string
import sysconfig
import time
from pathlib import Path

import tiktoken

from gptoss_edu.tokenizer import o200k_harmony

SAMPLES = [
    "The quick brown fox jumps over the lazy dog while the children watch from the window.",
    "Le renard brun et rapide saute par-dessus le chien paresseux pendant que les enfants regardent.",
    "Der schnelle braune Fuchs springt über den faulen Hund, während die Kinder vom Fenster zusehen.",
    "El rápido zorro marrón salta sobre el perro perezoso mientras los niños miran desde la ventana.",
    "Быстрая коричневая лиса прыгает через ленивую собаку, пока дети смотрят из окна.",
    "Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο ενώ τα παιδιά κοιτάζουν.",
    "敏捷的棕色狐狸跳过了懒惰的狗，孩子们从窗户里看着。",
    "素早い茶色の狐が怠け者の犬を飛び越え、子供たちが窓から見ている。",
    "빠른 갈색 여우가 게으른 개를 뛰어넘고 아이들은 창문에서 지켜본다.",
    "तेज़ भूरी लोमड़ी आलसी कुत्ते के ऊपर से कूदती है जबकि बच्चे खिड़की से देखते हैं।",
    "الثعلب البني السريع يقفز فوق الكلب الكسول بينما يشاهد الأطفال من النافذة.",
    "สุนัขจิ้งจอกสีน้ำตาลกระโดดข้ามสุนัขขี้เกียจ ขณะที่เด็กๆ มองจากหน้าต่าง 🦊🐕 👀",
]


def standard_library_text(n_bytes: int) -> str:
    """Python source files of the standard library, in sorted order, up to ``n_bytes``."""
    parts, total = [], 0
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        source = path.read_text(encoding="utf-8", errors="replace")
        parts.append(source)
        total += len(source.encode())
        if total >= n_bytes:
            break
    return "".join(parts)


def multilingual_text(n_bytes: int, seed: int = 0) -> str:
    """Shuffled words and sentences of ``SAMPLES`` (varied, so the chunk cache is not trivial)."""
    rng = random.Random(seed)
    words = [word for sentence in SAMPLES for word in sentence.split()]
    lines, total = [], 0
    while total < n_bytes:
        line = rng.choice(SAMPLES) if rng.random() < 0.3 else " ".join(rng.choices(words, k=rng.randint(5, 20)))
        lines.append(line)
        total += len(line.encode()) + 1
    return "\n".join(lines)


def mixed_text(megabytes: float) -> str:
    n_bytes = int(megabytes * 1_000_000)
    return standard_library_text(int(n_bytes * 0.8)) + multilingual_text(int(n_bytes * 0.2))


def pathological_texts(n_chars: int, seed: int = 0) -> dict[str, str]:
    """The hard inputs, each ``n_chars`` characters long."""
    rng = random.Random(seed)
    return {
        "one repeated character": "a" * n_chars,
        "whitespace only": "".join(rng.choices([" ", " ", " ", "\t", "\n", "\u3000"], k=n_chars)),
        "punctuation": "".join(rng.choices(string.punctuation, k=n_chars)),
        "letters, no spaces": "".join(rng.choices(string.ascii_lowercase, k=n_chars)),
        "digits": "".join(rng.choices(string.digits, k=n_chars)),
    }


def median_time(fn, text: str, repeats: int, before=lambda: None) -> float:
    times = []
    for _ in range(repeats):
        before()
        start = time.perf_counter()
        fn(text)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def tiktoken_time(theirs, text: str, repeats: int) -> tuple[float | None, list[int] | None]:
    """Median time and ids, or ``(None, None)`` if tiktoken fails on this input."""
    try:
        ids = theirs.encode_ordinary(text)
    except BaseException as error:  # noqa: BLE001 - a Rust panic arrives as pyo3's PanicException
        if isinstance(error, KeyboardInterrupt):
            raise
        return None, None
    return median_time(theirs.encode_ordinary, text, repeats), ids


def measure(ours, theirs, name: str, text: str, repeats: int, warm: bool) -> dict:
    tiktoken_s, ids = tiktoken_time(theirs, text, repeats)
    ours._cache.clear()
    if ids is not None:
        assert ours.encode_ordinary(text) == ids, f"{name}: our ids differ from tiktoken's"
    cold_s = median_time(ours.encode_ordinary, text, repeats, before=ours._cache.clear)
    warm_s = median_time(ours.encode_ordinary, text, repeats) if warm else None
    return {"input": name, "MB": len(text.encode()) / 1e6, "tiktoken": tiktoken_s, "cold": cold_s, "warm": warm_s}


def _cell(seconds: float | None, reference: float | None) -> str:
    if seconds is None:
        return f"{'-':>9}{'':>8}"
    ratio = f"{seconds / reference:.1f}x" if reference else "-"
    return f"{seconds:>9.3f}{ratio:>8}"


def print_table(rows: list[dict]) -> None:
    print(f"{'input':<24}{'MB':>6}{'tiktoken s':>12}{'ours cold s':>12}{'ratio':>8}{'ours warm s':>12}{'ratio':>8}")
    for row in rows:
        tiktoken_cell = f"{row['tiktoken']:>12.3f}" if row["tiktoken"] is not None else f"{'fails':>12}"
        print(f"{row['input']:<24}{row['MB']:>6.2f}{tiktoken_cell}   {_cell(row['cold'], row['tiktoken'])}"
              f"   {_cell(row['warm'], row['tiktoken'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    start = time.perf_counter()
    ours = o200k_harmony()
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    theirs = tiktoken.get_encoding("o200k_harmony")
    tiktoken_load_s = time.perf_counter() - start
    print(f"building o200k_harmony: ours {load_s:.2f} s, tiktoken {tiktoken_load_s:.2f} s")

    rows = [measure(ours, theirs, "mixed text", mixed_text(args.megabytes), args.repeats, warm=True)]
    for name, text in pathological_texts(int(args.megabytes * 1_000_000)).items():
        rows.append(measure(ours, theirs, name, text, args.repeats, warm=False))
    print_table(rows)


if __name__ == "__main__":
    main()
