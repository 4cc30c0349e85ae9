"""Model configuration: one dataclass whose presets are the real gpt-oss models.

Field names follow OpenAI's reference ``ModelConfig`` (and so the ``original/config.json``
of the checkpoints); ``from_hf_dict`` reads the Hugging Face flavour of ``config.json``
(writing it is conversion: ``gptoss_edu.io.hf_config.to_hf_dict``).
``parameter_count`` and ``bytes_per_decoded_token`` derive the model card's numbers
from a config, so nothing here is typed in twice.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

MXFP4_BLOCK = 32  # values sharing one E8M0 scale byte
MXFP4_BYTES_PER_VALUE = 0.5 + 1 / MXFP4_BLOCK  # one nibble, plus a scale byte per 32
BF16_BYTES = 2
MAX_CONFIG_JSON_BYTES = 2**20  # a real config.json is about 2 kB

# Upper bounds far above any gpt-oss (or any released MoE) but low enough that a hostile
# config.json fails in microseconds instead of allocating a spec for a million layers.
INT_LIMITS = {
    "num_hidden_layers": 1024, "num_experts": 4096, "experts_per_token": 4096, "vocab_size": 2**22,
    "hidden_size": 2**16, "intermediate_size": 2**17, "head_dim": 1024, "num_attention_heads": 1024,
    "num_key_value_heads": 1024, "sliding_window": 2**24, "initial_context_length": 2**24,
}
# Exclusive lower and inclusive upper bound of each real-valued field.
FLOAT_LIMITS = {
    "swiglu_limit": (0.0, 1e4), "swiglu_alpha": (0.0, 1e3), "rope_theta": (0.0, 1e12),
    "rope_scaling_factor": (0.0, 1e4), "rope_ntk_alpha": (0.0, 1e4), "rope_ntk_beta": (0.0, 1e4),
    "rms_norm_eps": (0.0, 1.0),
}


def config_problems(values: dict) -> list[tuple[str, str]]:
    """``(field, what is wrong)`` for every field of ``values`` a ``ModelConfig`` cannot hold.

    Types first (integers must be ``int``, not bool or float; reals may be int or float, finite),
    then ranges, then the relations between fields (heads divisible by key-value heads, even
    head_dim for RoPE, MXFP4-sized widths, at most ``num_experts`` experts per token).
    """
    problems = [(f, why) for f, limit in INT_LIMITS.items() if (why := _int_problem(values.get(f), limit))]
    problems += [(f, why) for f, limits in FLOAT_LIMITS.items() if (why := _float_problem(values.get(f), *limits))]
    if not isinstance(values.get("name"), str):
        problems.append(("name", f"must be a string, got {values.get('name')!r}"))
    if problems:
        return problems  # the relations below need sound numbers
    v = values
    if v["num_attention_heads"] % v["num_key_value_heads"]:
        problems.append(("num_attention_heads", f"{v['num_attention_heads']} is not a multiple of "
                                                f"num_key_value_heads ({v['num_key_value_heads']})"))
    if v["head_dim"] % 2:
        problems.append(("head_dim", f"{v['head_dim']} must be even for RoPE"))
    if v["experts_per_token"] > v["num_experts"]:
        problems.append(("experts_per_token", f"{v['experts_per_token']} is more than num_experts ({v['num_experts']})"))
    for field in ("hidden_size", "intermediate_size"):
        if v[field] % MXFP4_BLOCK:
            problems.append((field, f"{v[field]} is not a multiple of {MXFP4_BLOCK} (MXFP4 blocks)"))
    return problems


def _int_problem(value: object, limit: int) -> str | None:
    if type(value) is not int:  # noqa: E721 -- bool is an int subclass, and True layers is a mistake
        return f"must be an integer, got {value!r} ({type(value).__name__})"
    if not 1 <= value <= limit:
        return f"must be between 1 and {limit}, got {value}"
    return None


def _float_problem(value: object, low: float, high: float) -> str | None:
    if type(value) not in (int, float):
        return f"must be a number, got {value!r} ({type(value).__name__})"
    if not low < value <= high:  # also False for NaN
        return f"must be above {low:g} and at most {high:g}, got {value}"
    return None


@dataclass(frozen=True)
class ModelConfig:
    """Every number that shapes a gpt-oss model. The defaults are gpt-oss-120b."""

    num_hidden_layers: int = 36
    num_experts: int = 128
    experts_per_token: int = 4
    vocab_size: int = 201088
    hidden_size: int = 2880
    intermediate_size: int = 2880
    swiglu_limit: float = 7.0
    swiglu_alpha: float = 1.702
    head_dim: int = 64
    num_attention_heads: int = 64
    num_key_value_heads: int = 8
    sliding_window: int = 128
    initial_context_length: int = 4096
    rope_theta: float = 150000.0
    rope_scaling_factor: float = 32.0
    rope_ntk_alpha: float = 1.0
    rope_ntk_beta: float = 32.0
    rms_norm_eps: float = 1e-5
    name: str = "gpt-oss-120b"

    def __post_init__(self) -> None:
        problems = config_problems({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})
        if problems:
            raise ValueError("invalid ModelConfig: " + "; ".join(f"{field}: {why}" for field, why in problems))

    # ---- derived sizes -------------------------------------------------------------
    @property
    def q_dim(self) -> int:
        return self.num_attention_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.num_key_value_heads * self.head_dim

    @property
    def qkv_dim(self) -> int:
        return self.q_dim + 2 * self.kv_dim

    @property
    def max_context_length(self) -> int:
        """Longest context the YaRN-scaled RoPE was trained for (131072 for gpt-oss)."""
        return int(self.initial_context_length * max(self.rope_scaling_factor, 1.0))

    def layer_uses_sliding_window(self, layer: int) -> bool:
        """Even layers (0, 2, 4, ...) use the banded window; odd layers see the full prefix."""
        return layer % 2 == 0

    def replace(self, **changes) -> ModelConfig:
        return dataclasses.replace(self, **changes)

    # ---- config.json readers and writers --------------------------------------------
    def to_original_dict(self) -> dict:
        """The ``original/config.json`` dictionary (the reference's field names)."""
        keep = {f.name for f in dataclasses.fields(self)} - {"swiglu_alpha", "rms_norm_eps", "name"}
        return {k: v for k, v in dataclasses.asdict(self).items() if k in keep}

    @classmethod
    def from_original_dict(cls, d: dict, name: str = "checkpoint") -> ModelConfig:
        """Read OpenAI's ``original/config.json`` (absent fields take the 120b defaults, as the reference does)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"original config.json has unknown fields {unknown}")
        values = {f.name: f.default for f in dataclasses.fields(cls)} | {"name": name, **d}
        problems = config_problems(values)
        if problems:
            raise ValueError("; ".join(f"{field}: {why}" for field, why in problems))
        return cls(**values)

    @classmethod
    def from_hf_dict(cls, d: dict, name: str = "checkpoint") -> ModelConfig:
        """Read the Hugging Face ``config.json``; a bad value raises ``ValueError`` naming its JSON key."""
        if d.get("model_type") != "gpt_oss":
            raise ValueError(f"model_type: {d.get('model_type')!r}, expected 'gpt_oss'")
        rope = d.get("rope_scaling") or d.get("rope_parameters") or {}
        if not isinstance(rope, dict):
            raise ValueError(f"rope_scaling: must be an object, got {rope!r}")
        values, keys = {f.name: f.default for f in dataclasses.fields(cls)} | {"name": name}, {}
        for field, places, default in _hf_sources(d, rope):
            for source, key in places:
                if key in source:
                    values[field], keys[field] = source[key], key
                    break
            else:
                if default is None:
                    raise ValueError(f"{places[0][1]}: missing")
                values[field] = default
        if rope.get("rope_type", "yarn") != "yarn":
            values["rope_scaling_factor"] = 1.0
        problems = config_problems(values)
        if problems:
            raise ValueError("; ".join(f"{keys.get(field, field)}: {why}" for field, why in problems))
        return cls(**values)

    @classmethod
    def from_json_file(cls, path: str | Path) -> ModelConfig:
        """Read either flavour of ``config.json``; the flavour is told by ``model_type``."""
        path = Path(path)
        if not path.is_file():  # also refuses a FIFO, which would block the read forever
            raise FileNotFoundError(f"no config.json at {path} (or not a regular file)")
        if path.stat().st_size > MAX_CONFIG_JSON_BYTES:
            raise ValueError(f"{path}: more than {MAX_CONFIG_JSON_BYTES} bytes, too large for a config.json")
        try:
            d = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"no config.json at {path}") from None
        except (RecursionError, ValueError) as e:  # bad syntax, deep nesting, numbers of thousands of digits
            raise ValueError(f"{path} is not valid JSON: {e}") from None
        if not isinstance(d, dict):
            raise ValueError(f"{path}: expected a JSON object")
        try:
            return cls.from_hf_dict(d, path.parent.name) if "model_type" in d else cls.from_original_dict(d, path.parent.name)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: {e}") from None


def _hf_sources(d: dict, rope: dict) -> list[tuple[str, list[tuple[dict, str]], object]]:
    """``(field, [(dict, key), ...] in order of preference, default or None if required)`` of the HF config."""
    heads, hidden = d.get("num_attention_heads"), d.get("hidden_size")
    head_dim = hidden // heads if type(heads) is int and type(hidden) is int and heads > 0 else 64  # noqa: E721
    return [
        ("num_hidden_layers", [(d, "num_hidden_layers")], None),
        ("num_experts", [(d, "num_local_experts")], None),
        ("experts_per_token", [(d, "num_experts_per_tok"), (d, "experts_per_token")], 4),
        ("vocab_size", [(d, "vocab_size")], None),
        ("hidden_size", [(d, "hidden_size")], None),
        ("intermediate_size", [(d, "intermediate_size")], None),
        ("swiglu_limit", [(d, "swiglu_limit")], 7.0),
        ("head_dim", [(d, "head_dim")], head_dim),
        ("num_attention_heads", [(d, "num_attention_heads")], None),
        ("num_key_value_heads", [(d, "num_key_value_heads")], None),
        ("sliding_window", [(d, "sliding_window")], 128),
        ("initial_context_length", [(rope, "original_max_position_embeddings"), (d, "initial_context_length")], 4096),
        ("rope_theta", [(rope, "rope_theta"), (d, "rope_theta")], 150000.0),
        ("rope_scaling_factor", [(rope, "factor")], 1.0),
        ("rope_ntk_alpha", [(rope, "beta_slow")], 1.0),
        ("rope_ntk_beta", [(rope, "beta_fast")], 32.0),
        ("rms_norm_eps", [(d, "rms_norm_eps")], 1e-5),
    ]


GPT_OSS_120B = ModelConfig()
GPT_OSS_20B = ModelConfig(num_hidden_layers=24, num_experts=32, name="gpt-oss-20b")
# Teaching configs: the same architecture, small enough for a laptop CPU.
TINY = ModelConfig(
    num_hidden_layers=2, num_experts=8, vocab_size=201088, hidden_size=64, intermediate_size=64,
    head_dim=16, num_attention_heads=4, num_key_value_heads=2, sliding_window=8, name="tiny",
)
SMALL = ModelConfig(
    num_hidden_layers=4, num_experts=16, vocab_size=201088, hidden_size=256, intermediate_size=256,
    head_dim=32, num_attention_heads=8, num_key_value_heads=2, sliding_window=128,
    initial_context_length=4096, name="small",
)
PRESETS: dict[str, ModelConfig] = {c.name: c for c in (GPT_OSS_20B, GPT_OSS_120B, TINY, SMALL)}


def get_preset(name: str) -> ModelConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None


# ---- parameter and byte accounting ----------------------------------------------------
def component_parameters(c: ModelConfig) -> dict[str, int]:
    """Parameter count of each component, summed over layers."""
    L, E, H, I = c.num_hidden_layers, c.num_experts, c.hidden_size, c.intermediate_size
    attention = L * (H * c.qkv_dim + c.qkv_dim + c.q_dim * H + H + c.num_attention_heads)
    return {
        "embedding": c.vocab_size * H,
        "attention": attention,
        "router": L * (H * E + E),
        "experts": L * E * (H * 2 * I + 2 * I + I * H + H),
        "norms": L * 2 * H + H,
        "unembedding": c.vocab_size * H,
    }


def parameter_count(c: ModelConfig) -> dict[str, int]:
    """Total and active parameters, as the model card counts them.

    Active counts what one token touches: attention, router, norms, ``experts_per_token``
    experts per layer and the unembedding; the embedding table is a lookup, not counted.
    """
    parts = component_parameters(c)
    per_expert = parts["experts"] // c.num_experts
    active = (
        parts["attention"] + parts["router"] + parts["norms"] + parts["unembedding"]
        + per_expert * c.experts_per_token
    )
    return {"total": sum(parts.values()), "active": active, **parts}


def _expert_bytes(c: ModelConfig, n_experts: int) -> float:
    """Bytes of ``n_experts`` experts per layer, all layers: MXFP4 weights, bf16 biases."""
    L, H, I = c.num_hidden_layers, c.hidden_size, c.intermediate_size
    weights = n_experts * (H * 2 * I + I * H)
    biases = n_experts * (2 * I + H)
    return L * (weights * MXFP4_BYTES_PER_VALUE + biases * BF16_BYTES)


def checkpoint_bytes(c: ModelConfig) -> float:
    """Size of the released checkpoint: MXFP4 expert weights, everything else bf16."""
    parts = parameter_count(c)
    dense = parts["total"] - parts["experts"]
    return dense * BF16_BYTES + _expert_bytes(c, c.num_experts)


def dense_bf16_bytes(c: ModelConfig) -> float:
    """Size of the same model with every weight in bf16 (experts dequantized)."""
    return parameter_count(c)["total"] * BF16_BYTES


def bytes_per_decoded_token(c: ModelConfig) -> dict[str, float]:
    """Weight bytes one decode step must read at batch 1: the memory-bandwidth floor.

    Attention, router and norms in bf16, ``experts_per_token`` experts per layer in MXFP4,
    and the bf16 unembedding; the embedding row is one lookup and is left out. The KV cache
    is left out too (it depends on the position; at short contexts it is small).
    """
    parts = parameter_count(c)
    out = {
        "attention": parts["attention"] * BF16_BYTES,
        "router_and_norms": (parts["router"] + parts["norms"]) * BF16_BYTES,
        "experts": _expert_bytes(c, c.experts_per_token),
        "unembedding": parts["unembedding"] * BF16_BYTES,
    }
    out["total"] = sum(out.values())
    return out


def kv_cache_bytes(c: ModelConfig, context: int, batch: int = 1, bytes_per_value: int = 2) -> int:
    """Bytes of the KV cache at ``context`` tokens: sliding layers keep only the window."""
    per_token_layer = 2 * c.kv_dim * bytes_per_value
    total = 0
    for layer in range(c.num_hidden_layers):
        kept = min(context, c.sliding_window) if c.layer_uses_sliding_window(layer) else context
        total += kept * per_token_layer
    return total * batch
