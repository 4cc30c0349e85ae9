"""Checkers for notebook 00 (welcome): counting parameters from a config."""
from __future__ import annotations

import random
from collections.abc import Callable

from gptoss_edu.config import ModelConfig, component_parameters
from gptoss_edu.exercises import Misconception, check_function


def attention_parameters_per_layer(config: ModelConfig) -> int:
    """The library's count for one attention layer: qkv and output projections with biases, plus sinks."""
    return component_parameters(config)["attention"] // config.num_hidden_layers


def random_attention_config(rng: random.Random) -> ModelConfig:
    """A valid ``ModelConfig`` with random attention sizes (so a hard-coded 20b answer fails)."""
    kv_heads = rng.choice([1, 2, 4, 8])
    return ModelConfig(
        num_hidden_layers=rng.randint(1, 40),
        hidden_size=32 * rng.randint(1, 100),
        head_dim=2 * rng.randint(4, 64),
        num_key_value_heads=kv_heads,
        num_attention_heads=kv_heads * rng.randint(1, 8),
        name="random",
    )


def check_attention_parameters(fn: Callable[[ModelConfig], int]) -> None:
    """Check ``fn(config)`` counts the parameters of one attention layer, as the library does."""
    check_function(fn, attention_parameters_per_layer, lambda rng: (random_attention_config(rng),),
                   inputs=("config",), outputs=(), misconceptions=ATTENTION_MISTAKES)


def _without_sinks(c: ModelConfig) -> int:
    return attention_parameters_per_layer(c) - c.num_attention_heads


def _without_biases(c: ModelConfig) -> int:
    return attention_parameters_per_layer(c) - c.qkv_dim - c.hidden_size


def _without_grouped_query(c: ModelConfig) -> int:
    extra_kv = 2 * (c.num_attention_heads - c.num_key_value_heads) * c.head_dim
    return attention_parameters_per_layer(c) + extra_kv * (c.hidden_size + 1)


ATTENTION_MISTAKES = (
    Misconception(_without_sinks, "you are short by exactly one number per query head: the learned sinks."),
    Misconception(_without_biases, "you left out the biases: gpt-oss's qkv and output projections both have one."),
    Misconception(_without_grouped_query, "you gave keys and values as many heads as queries; gpt-oss has only "
                  "num_key_value_heads of them (grouped-query attention)."),
)
