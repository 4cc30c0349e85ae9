"""Train gpt-oss-nano on the Python standard library and write it where ``gptoss_edu.training.nano`` finds it.

    python scripts/train_nano.py                       # reproduces the committed checkpoint (seed 0)
    python scripts/train_nano.py --out /tmp/nano --steps 50 --time-budget 60

Steps: collect the corpus (``gptoss_edu.training.nano.stdlib_corpus``), learn a 2047-merge BPE
vocabulary on its first million characters (+ ``<|endoftext|>`` = 2048 ids), tokenize,
train a ``Transformer(NANO_CONFIG, experts="dequantized")`` with ``gptoss_edu.training.pretrain``,
quantize the experts to MXFP4 and write ``original/`` (config.json + model.safetensors),
``tokenizer.tiktoken`` and ``training.json``. The held-out loss is measured again after
loading the written checkpoint back, so the number recorded is the shipped model's.
Deterministic for one Python version (the corpus is that Python's standard library), torch
version and thread count; ``training.json`` records all three.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections import Counter
from pathlib import Path

import torch

from gptoss_edu.model.transformer import Transformer
from gptoss_edu.tokenizer import train_bpe
from gptoss_edu.training import nano
from gptoss_edu.training.pretrain import (
    TrainSettings,
    evaluate,
    init_weights,
    packed_state_dict,
    save_original,
    train,
    unigram_loss,
)


def parse_args() -> argparse.Namespace:
    defaults = TrainSettings()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=nano.NANO_DIR, help="folder to write (default: the package's)")
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--time-budget", type=float, default=None, help="stop training after this many seconds")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy machine)")
    return parser.parse_args()


def log_step(record: dict) -> None:
    if record["step"] % 10 == 0 or "heldout_loss" in record:
        held = f"  held-out {record['heldout_loss']:.3f}" if "heldout_loss" in record else ""
        print(f"step {record['step']:4d}  loss {record['loss']:.3f}  balance {record['balance']:.3f}"
              f"  lr {record['lr']:.2e}  {record['elapsed_s']:6.0f}s{held}", flush=True)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    settings = TrainSettings(steps=args.steps, seed=args.seed, time_budget_s=args.time_budget)
    config = nano.NANO_CONFIG
    args.out.mkdir(parents=True, exist_ok=True)

    corpus = nano.stdlib_corpus()
    started = time.perf_counter()
    ranks = train_bpe("".join(corpus.texts)[: nano.BPE_TRAIN_CHARS], config.vocab_size - 1)
    tokenizer = nano.make_tokenizer(ranks)
    train_ids = torch.tensor(nano.encode_documents(tokenizer, corpus.texts))
    heldout_ids = torch.tensor(tokenizer.encode(nano.heldout_text(), disallowed_special=()))
    print(f"corpus: {len(corpus.names)} files, {corpus.num_chars:,} chars, {train_ids.numel():,} tokens "
          f"({time.perf_counter() - started:.0f}s for BPE + encoding)", flush=True)

    torch.manual_seed(args.seed)
    model = Transformer(config, experts="dequantized")
    init_weights(model, args.seed)
    history = train(model, train_ids, settings, heldout_ids=heldout_ids, log=log_step)

    nano.save_ranks(ranks, args.out / nano.TOKENIZER_FILE.name)
    checkpoint_dir = save_original(packed_state_dict(model), config, args.out / "original")
    shipped = nano.load_checkpoint(checkpoint_dir)
    counts = torch.bincount(train_ids, minlength=config.vocab_size)
    metadata = {
        "config": config.to_original_dict(),
        "settings": settings.as_dict(),
        "steps_run": len(history),
        "train_seconds": round(history[-1]["elapsed_s"], 1),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "threads": args.threads,
        "machine": platform.machine(),
        "corpus_files": list(corpus.names),
        "corpus_chars": corpus.num_chars,
        "train_tokens": train_ids.numel(),
        "heldout_file": nano.HELDOUT_FILE,
        "heldout_tokens": heldout_ids.numel(),
        "heldout_loss_float": history[-1].get("heldout_loss"),
        "heldout_loss_mxfp4": evaluate(shipped, heldout_ids, settings.seq_len),
        "heldout_loss_unigram": unigram_loss(counts, heldout_ids),
        "train_token_counts": counts.tolist(),
        "history": [{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()} for r in history],
    }
    (args.out / nano.METADATA_FILE.name).write_text(json.dumps(metadata, indent=1) + "\n")
    print(json.dumps({k: metadata[k] for k in ("steps_run", "train_seconds", "heldout_loss_float",
                                                "heldout_loss_mxfp4", "heldout_loss_unigram")}, indent=1))
    print(f"written to {args.out}; frequent tokens: {Counter(train_ids.tolist()).most_common(3)}")


if __name__ == "__main__":
    main()
