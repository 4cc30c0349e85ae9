"""gpt-oss-nano: a 4-layer gpt-oss trained here on the Python standard library, shipped with the package.

The real models are too big to look at routing on a laptop, and a randomly initialised
model routes at random. So the course trains its own tiny gpt-oss (same ``Transformer``
code: attention sinks, sliding window, YaRN RoPE, top-4 MoE with clamped SwiGLU) on the
text every Python install carries offline: the standard library's own source, comments and
docstrings. ``scripts/train_nano.py`` reproduces the committed checkpoint from its seed.

Where things live (``NANO_DIR``, inside the package):
- ``original/config.json`` + ``original/model.safetensors``: OpenAI's ``original/`` layout,
  experts in MXFP4, loadable with ``gptoss_edu.load_model``;
- ``tokenizer.tiktoken``: the BPE ranks (``base64(token) rank`` lines, tiktoken's format);
  the only special token is ``<|endoftext|>`` (id = number of ranks), between files;
- ``training.json``: how it was trained (seed, steps, losses, corpus files, token counts).

The corpus: the top-level ``*.py`` files of the standard library, sorted by name, each cut
at ``FILE_CHAR_CAP`` characters (at a line end), until ``CORPUS_CHAR_CAP`` characters;
``HELDOUT_FILE`` is never trained on and serves to measure the loss on unseen text.
"""
from __future__ import annotations

import base64
import json
import sysconfig
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from gptoss_edu.config import ModelConfig
from gptoss_edu.io.vocab import parse_ranks
from gptoss_edu.tokenizer import O200K_PATTERN, Tokenizer

NANO_DIR = Path(str(resources.files("gptoss_edu") / "data" / "nano"))
CHECKPOINT_DIR = NANO_DIR / "original"
TOKENIZER_FILE = NANO_DIR / "tokenizer.tiktoken"
METADATA_FILE = NANO_DIR / "training.json"

END_OF_TEXT = "<|endoftext|>"
HELDOUT_FILE = "textwrap.py"  # in every CPython since 2.3; never part of the training corpus
FILE_CHAR_CAP = 64_000
CORPUS_CHAR_CAP = 3_000_000
BPE_TRAIN_CHARS = 1_000_000  # the tokenizer learns its merges from the corpus's first million characters

NANO_CONFIG = ModelConfig(
    num_hidden_layers=4,
    num_experts=16,
    experts_per_token=4,
    vocab_size=2048,
    hidden_size=128,
    intermediate_size=64,
    head_dim=32,
    num_attention_heads=4,
    num_key_value_heads=2,
    sliding_window=64,
    initial_context_length=256,  # YaRN factor 32 as in gpt-oss: 8192 positions usable
    name="gpt-oss-nano",
)


# ---- the corpus -------------------------------------------------------------------------------
def stdlib_dir() -> Path:
    """The folder of the running Python's standard library (``os.py`` lives there)."""
    return Path(sysconfig.get_paths()["stdlib"])


def read_capped(path: Path, cap: int = FILE_CHAR_CAP) -> str:
    """The text of ``path``, cut after the last complete line within ``cap`` characters."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if len(text) <= cap:
        return text
    cut = text.rfind("\n", 0, cap)
    return text[: cut + 1] if cut >= 0 else text[:cap]


@dataclass(frozen=True)
class Corpus:
    """The training documents: one string per standard-library file, in file-name order."""

    names: tuple[str, ...]
    texts: tuple[str, ...]

    @property
    def num_chars(self) -> int:
        return sum(len(t) for t in self.texts)


def stdlib_corpus(char_cap: int = CORPUS_CHAR_CAP, root: Path | None = None) -> Corpus:
    """The nano model's training text (see the module docstring); deterministic for one Python version."""
    root = stdlib_dir() if root is None else root
    names, texts, total = [], [], 0
    for path in sorted(root.glob("*.py")):
        if path.name == HELDOUT_FILE:
            continue
        text = read_capped(path)
        if total + len(text) > char_cap:
            break
        names.append(path.name)
        texts.append(text)
        total += len(text)
    if not names:
        raise FileNotFoundError(f"no standard-library *.py files found under {root}")
    return Corpus(tuple(names), tuple(texts))


def heldout_text(root: Path | None = None) -> str:
    """The held-out file (``HELDOUT_FILE``), capped like the training files."""
    return read_capped((stdlib_dir() if root is None else root) / HELDOUT_FILE)


# ---- the tokenizer ------------------------------------------------------------------------------
def make_tokenizer(ranks: dict[bytes, int]) -> Tokenizer:
    """A ``Tokenizer`` over learned ``ranks`` with ``<|endoftext|>`` right after the last rank."""
    return Tokenizer(ranks, {END_OF_TEXT: len(ranks)}, pattern=O200K_PATTERN, name="gpt-oss-nano")


def save_ranks(ranks: dict[bytes, int], path: Path = TOKENIZER_FILE) -> None:
    """Write ``ranks`` as tiktoken-format lines, ``base64(token) rank``, by rank."""
    lines = [f"{base64.b64encode(token).decode()} {rank}" for token, rank in sorted(ranks.items(), key=lambda kv: kv[1])]
    path.write_text("\n".join(lines) + "\n")


def load_tokenizer(path: Path = TOKENIZER_FILE) -> Tokenizer:
    """The nano model's tokenizer, from its tiktoken-format ranks file."""
    return make_tokenizer(parse_ranks(path.read_bytes(), str(path)))


def encode_documents(tokenizer: Tokenizer, texts) -> list[int]:
    """All ``texts`` as one token stream, each document followed by ``<|endoftext|>``."""
    eot = tokenizer.special_tokens[END_OF_TEXT]
    ids: list[int] = []
    for text in texts:
        ids.extend(tokenizer.encode(text, disallowed_special=()))
        ids.append(eot)
    return ids


# ---- the committed model -----------------------------------------------------------------------
def load_metadata(path: Path = METADATA_FILE) -> dict:
    """The training record written next to the checkpoint (see ``scripts/train_nano.py``)."""
    return json.loads(path.read_text())


def load_checkpoint(folder: Path = CHECKPOINT_DIR, experts: str = "packed"):
    """A ``Transformer`` from an ``original/`` folder via ``gptoss_edu.load_model``: float32, CPU, eval mode."""
    from gptoss_edu.io.checkpoint import load_model

    return load_model(folder, device="cpu", experts=experts, progress=False)


def load_nano(experts: str = "packed"):
    """``(model, tokenizer)``: the committed gpt-oss-nano, float32 on the CPU."""
    return load_checkpoint(CHECKPOINT_DIR, experts), load_tokenizer()
