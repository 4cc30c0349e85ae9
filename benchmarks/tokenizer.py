"""Encoding speed: our pure-Python o200k_harmony against tiktoken, on about 1 MB of mixed text.

The text is assembled offline: Python standard-library source (code, comments, docstrings)
plus multilingual prose built from sample sentences in twelve languages, shuffled with a
fixed seed. Both tokenizers encode the same text on one thread (``encode_ordinary``; tiktoken
releases the GIL but uses one thread for a single call). Ours is timed with an empty chunk
cache ("cold", what a first encode costs) and again with the cache filled ("warm"); the
ids are checked equal first. Run: ``python benchmarks/tokenizer.py [--megabytes 1.0]``.
"""
from __future__ import annotations

import argparse
import random
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


def best_time(fn, text: str, repeats: int, before=lambda: None) -> float:
    times = []
    for _ in range(repeats):
        before()
        start = time.perf_counter()
        fn(text)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    text = mixed_text(args.megabytes)
    megabytes = len(text.encode()) / 1e6
    start = time.perf_counter()
    ours = o200k_harmony()
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    theirs = tiktoken.get_encoding("o200k_harmony")
    tiktoken_load_s = time.perf_counter() - start
    ids = theirs.encode_ordinary(text)
    assert ours.encode_ordinary(text) == ids, "our ids differ from tiktoken's"

    tiktoken_s = best_time(theirs.encode_ordinary, text, args.repeats)
    cold_s = best_time(ours.encode_ordinary, text, args.repeats, before=ours._cache.clear)
    warm_s = best_time(ours.encode_ordinary, text, args.repeats)

    print(f"text: {megabytes:.2f} MB, {len(text):,} characters, {len(ids):,} tokens")
    print(f"building o200k_harmony: ours {load_s:.2f} s, tiktoken {tiktoken_load_s:.2f} s")
    print(f"{'encoder':<34}{'seconds':>10}{'MB/s':>10}{'slower than tiktoken':>24}")
    rows = [("tiktoken (Rust, 1 thread)", tiktoken_s), ("ours, cold chunk cache", cold_s), ("ours, warm chunk cache", warm_s)]
    for name, seconds in rows:
        print(f"{name:<34}{seconds:>10.3f}{megabytes / seconds:>10.2f}{seconds / tiktoken_s:>23.1f}x")


if __name__ == "__main__":
    main()
