"""Checker for notebook 06 (the full model): greedy decoding with a KV cache."""
from __future__ import annotations

import functools
import random
from collections.abc import Callable

import torch

from gptoss_edu.config import TINY
from gptoss_edu.exercises import Misconception, check_function
from gptoss_edu.model.generation import generate
from gptoss_edu.model.random_weights import random_state_dict
from gptoss_edu.model.transformer import Transformer

# The real 128-token window (so long prompts wrap the ring buffer) on a tiny, fast model.
CHECK_CONFIG = TINY.replace(sliding_window=128, initial_context_length=4096, vocab_size=512, name="exercise")


@functools.lru_cache(maxsize=1)
def exercise_model() -> Transformer:
    """A small random ``Transformer`` shared by every trial."""
    model = Transformer(CHECK_CONFIG)
    model.load_state_dict(random_state_dict(CHECK_CONFIG, seed=3))
    return model.eval()


def library_greedy_decode(model: Transformer, prompt_ids: list[int], max_new_tokens: int) -> list[int]:
    """``gptoss_edu.generate`` at temperature 0 without stop tokens, as a list."""
    return list(generate(model, prompt_ids, max_new_tokens, temperature=0.0, stop_tokens=()))


def random_prompt(rng: random.Random) -> tuple[Transformer, list[int], int]:
    """``(model, prompt_ids, max_new_tokens)``; some prompts end just before the window so decoding wraps it."""
    length = rng.choice([1, 5, 20, 125])
    prompt = [rng.randrange(CHECK_CONFIG.vocab_size) for _ in range(length)]
    return exercise_model(), prompt, rng.randint(1, 8)


def check_greedy_decode(fn: Callable[[Transformer, list[int], int], list[int]]) -> None:
    """``fn(model, prompt_ids, max_new_tokens)`` -> exactly ``max_new_tokens`` greedy token ids (a list of int)."""
    with torch.inference_mode():
        check_function(fn, library_greedy_decode, random_prompt, trials=4, inputs=("model", "prompt_ids", "max_new_tokens"),
                       forbidden=(generate,), misconceptions=(
                           Misconception(lambda m, p, n: list(p) + library_greedy_decode(m, p, n),
                                         "you returned the prompt too: return only the new tokens."),
                           Misconception(lambda m, p, n: library_greedy_decode(m, p, n + 1),
                                         "one token too many: stop after exactly max_new_tokens."),
                       ))
