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
        problems = []
        if self.num_attention_heads % self.num_key_value_heads:
            problems.append(
                f"num_attention_heads={self.num_attention_heads} is not a multiple of "
                f"num_key_value_heads={self.num_key_value_heads}"
            )
        if self.head_dim % 2:
            problems.append(f"head_dim={self.head_dim} must be even for RoPE")
        if self.experts_per_token > self.num_experts:
            problems.append(
                f"experts_per_token={self.experts_per_token} > num_experts={self.num_experts}"
            )
        for field in ("hidden_size", "intermediate_size"):
            if getattr(self, field) % MXFP4_BLOCK:
                problems.append(f"{field}={getattr(self, field)} must be a multiple of {MXFP4_BLOCK} (MXFP4 blocks)")
        if problems:
            raise ValueError("invalid ModelConfig: " + "; ".join(problems))

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
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"original config.json has unknown fields {unknown}")
        return cls(**{"name": name, **d})

    @classmethod
    def from_hf_dict(cls, d: dict, name: str = "checkpoint") -> ModelConfig:
        if d.get("model_type") != "gpt_oss":
            raise ValueError(f"Hugging Face config.json has model_type={d.get('model_type')!r}, expected 'gpt_oss'")
        rope = d.get("rope_scaling") or d.get("rope_parameters") or {}
        factor = float(rope.get("factor", 1.0)) if rope.get("rope_type", "yarn") == "yarn" else 1.0
        return cls(
            num_hidden_layers=d["num_hidden_layers"],
            num_experts=d["num_local_experts"],
            experts_per_token=d.get("num_experts_per_tok", d.get("experts_per_token", 4)),
            vocab_size=d["vocab_size"],
            hidden_size=d["hidden_size"],
            intermediate_size=d["intermediate_size"],
            swiglu_limit=d.get("swiglu_limit", 7.0),
            head_dim=d.get("head_dim", d["hidden_size"] // d["num_attention_heads"]),
            num_attention_heads=d["num_attention_heads"],
            num_key_value_heads=d["num_key_value_heads"],
            sliding_window=d.get("sliding_window", 128),
            initial_context_length=rope.get("original_max_position_embeddings", d.get("initial_context_length", 4096)),
            rope_theta=rope.get("rope_theta", d.get("rope_theta", 150000.0)),
            rope_scaling_factor=factor,
            rope_ntk_alpha=rope.get("beta_slow", 1.0),
            rope_ntk_beta=rope.get("beta_fast", 32.0),
            rms_norm_eps=d.get("rms_norm_eps", 1e-5),
            name=name,
        )

    @classmethod
    def from_json_file(cls, path: str | Path) -> ModelConfig:
        """Read either flavour of ``config.json``; the flavour is told by ``model_type``."""
        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"no config.json at {path}") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON: {e}") from None
        name = path.parent.name
        if "model_type" in d:
            return cls.from_hf_dict(d, name=name)
        return cls.from_original_dict(d, name=name)


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
