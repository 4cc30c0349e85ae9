"""Test setup: offline vocabulary caches for tiktoken and openai-harmony, shared fixtures."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_VOCAB = ROOT.parent / "shared" / "vocab"


def _seed_offline_vocab() -> None:
    """Point tiktoken and openai-harmony at ../shared/vocab when it exists (no network here)."""
    if not (SHARED_VOCAB / "o200k_base.tiktoken").is_file():
        return
    os.environ.setdefault("TIKTOKEN_ENCODINGS_BASE", str(SHARED_VOCAB))
    from gptoss_edu.io.vocab import tiktoken_cache_path

    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        os.environ["TIKTOKEN_CACHE_DIR"] = str(ROOT / ".cache" / "tiktoken")
    cached = tiktoken_cache_path()
    if not cached.is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SHARED_VOCAB / "o200k_base.tiktoken", cached)


_seed_offline_vocab()


def _choose_triton_mode() -> None:
    """Without CUDA the kernel tests run under Triton's interpreter: chosen here, before any kernel module loads."""
    import torch

    if not torch.cuda.is_available():
        from gptoss_edu.kernels import use_interpreter

        use_interpreter()


_choose_triton_mode()


@pytest.fixture(scope="session")
def reference_model():
    """OpenAI's ``gpt_oss.torch.model`` module, from the gpt-oss==0.0.9 wheel."""
    from gptoss_edu.conformance.reference import reference_model_module

    return reference_model_module()


@pytest.fixture
def library_answers_allowed(monkeypatch):
    """Let a checker accept the library's own function, to test the checker itself (learners are refused)."""
    import gptoss_edu.exercises as exercises

    monkeypatch.setattr(exercises, "_call", lambda candidate, args, forbidden: candidate(*args))


@pytest.fixture(scope="session")
def ours():
    """Our o200k_harmony tokenizer, shared by the tokenizer tests."""
    from gptoss_edu.tokenizer import o200k_harmony

    return o200k_harmony()


@pytest.fixture(scope="session")
def theirs():
    """tiktoken's o200k_harmony, the reference the tokenizer tests compare with."""
    import tiktoken

    return tiktoken.get_encoding("o200k_harmony")
