"""The committed students: the SFT model and the RL model, with their vocabulary and training record.

Layout (inside the package, written by ``scripts/train_reasoning.py``)::

    data/reasoning/vocab.json             the compact vocabulary: its o200k_harmony ids, in order
    data/reasoning/sft/original/          the student after SFT (OpenAI's original/ layout, MXFP4 experts)
    data/reasoning/rl/original/           the student after GRPO on top of SFT
    data/reasoning/training.json          SFT: settings, curves, accuracies and times (before and after SFT)
    data/reasoning/rl.json                GRPO with the verifiable reward: curves, accuracies after RL
    data/reasoning/generous_rl.json       GRPO with the generous reward: curves, one hacked transcript

The non-expert tensors are stored in float32 (not bf16 as in OpenAI's checkpoints): the RL
updates are small, and bf16 rounding would erase part of them.
"""
from __future__ import annotations

import json
from pathlib import Path

from gptoss_edu.reasoning.vocab import CompactVocab

REASONING_DIR = Path(__file__).resolve().parent.parent / "data" / "reasoning"
VOCAB_FILE = REASONING_DIR / "vocab.json"
RECORD_FILES = {"sft": "training.json", "rl": "rl.json", "generous": "generous_rl.json"}
STAGES = ("sft", "rl")


def save_vocab(vocab: CompactVocab, path: Path = VOCAB_FILE) -> None:
    path.write_text(json.dumps({"o200k_ids": vocab.o200k_ids}) + "\n")


def load_vocab(path: Path = VOCAB_FILE) -> CompactVocab:
    """The committed compact vocabulary."""
    return CompactVocab(json.loads(path.read_text())["o200k_ids"])


def checkpoint_dir(stage: str, root: Path = REASONING_DIR) -> Path:
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    return root / stage / "original"


def load_student(stage: str = "rl", root: Path = REASONING_DIR, experts: str = "packed"):
    """``(model, vocab)``: the committed student after ``stage`` ("sft" or "rl"), float32 on the CPU, eval mode."""
    from gptoss_edu import load_model

    folder = checkpoint_dir(stage, root)
    if not folder.is_dir():
        raise FileNotFoundError(f"no {stage} checkpoint at {folder}: run scripts/train_reasoning.py to create it")
    return load_model(folder, device="cpu", experts=experts, progress=False), load_vocab(root / VOCAB_FILE.name)


def load_record(root: Path = REASONING_DIR) -> dict:
    """The training records of every stage merged: settings, curves, accuracies and times as measured."""
    record: dict = {}
    for stage, name in RECORD_FILES.items():
        path = root / name
        if not path.is_file():
            raise FileNotFoundError(f"no record of the {stage} stage at {path}: run scripts/train_reasoning.py")
        record[stage] = json.loads(path.read_text())
    return record
