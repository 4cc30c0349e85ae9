"""The two on-disk layouts of a gpt-oss checkpoint, and the map between them.

The *original* layout (OpenAI's ``original/`` folder) is our canonical naming: the model's
``state_dict`` uses it, and ``checkpoint_spec(config)`` lists it. The *Hugging Face* layout
(repository root) stores the same numbers under other names; only one tensor changes
shape: the fused ``qkv`` is split along its rows into ``q_proj | k_proj | v_proj``. Both
layouts keep the expert weights MXFP4-packed in the same byte order, so converting is a
rename plus that split, and a round trip is byte-identical.

Expert weights come in two formats. ``"mxfp4"`` (the released checkpoints) stores each as
a ``.blocks``/``.scales`` pair of uint8 tensors. ``"bf16"`` (what ``convert --dequantize``
writes) stores one floating tensor instead: ``block.{n}.mlp.mlp1_weight`` of shape
``(E, 2I, H)`` in the original layout, and ``...experts.gate_up_proj`` of shape
``(E, H, 2I)`` in the Hugging Face layout (transposed: that is how ``GptOssExperts``
holds it, so transformers loads such a folder unchanged). ``mlp2``/``down_proj`` alike.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from gptoss_edu.config import MXFP4_BLOCK, ModelConfig
from gptoss_edu.model.mxfp4 import BYTES_PER_BLOCK as MXFP4_BYTES_PER_BLOCK

ORIGINAL, HF = "original", "hf"
LAYOUTS = (ORIGINAL, HF)
MXFP4, BF16 = "mxfp4", "bf16"
EXPERT_FORMATS = (MXFP4, BF16)


@dataclass(frozen=True)
class TensorSpec:
    """Shape and on-disk dtype of one checkpoint tensor.

    Floating tensors are written as bfloat16 (as released); readers also accept float32.
    """

    shape: tuple[int, ...]
    dtype: torch.dtype

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        return self.numel * self.dtype.itemsize


@dataclass(frozen=True)
class Part:
    """One stored tensor that holds rows ``[row0, row0 + rows)`` of an original-layout tensor.

    ``transposed`` marks a Hugging Face dequantized expert weight, stored as ``(E, in, out)``
    while the original layout holds ``(E, out, in)``.
    """

    name: str
    row0: int
    rows: int
    transposed: bool = False


def _dense(*shape: int) -> TensorSpec:
    return TensorSpec(tuple(shape), torch.bfloat16)


def _mxfp4_pair(name: str, rows: tuple[int, ...], columns: int) -> dict[str, TensorSpec]:
    """``name.blocks`` and ``name.scales`` for a weight of shape ``rows + (columns,)``."""
    groups = columns // MXFP4_BLOCK
    return {
        f"{name}.blocks": TensorSpec((*rows, groups, MXFP4_BYTES_PER_BLOCK), torch.uint8),
        f"{name}.scales": TensorSpec((*rows, groups), torch.uint8),
    }


def checkpoint_spec(config: ModelConfig, experts: str = MXFP4) -> dict[str, TensorSpec]:
    """Every tensor of an original-layout checkpoint, in file order, with its on-disk shape and dtype."""
    if experts not in EXPERT_FORMATS:
        raise ValueError(f"experts={experts!r}; choose one of {EXPERT_FORMATS}")
    c = config
    E, H, I = c.num_experts, c.hidden_size, c.intermediate_size
    spec = {"embedding.weight": _dense(c.vocab_size, H)}
    for n in range(c.num_hidden_layers):
        attn, mlp = f"block.{n}.attn", f"block.{n}.mlp"
        spec |= {
            f"{attn}.norm.scale": _dense(H),
            f"{attn}.qkv.weight": _dense(c.qkv_dim, H),
            f"{attn}.qkv.bias": _dense(c.qkv_dim),
            f"{attn}.sinks": _dense(c.num_attention_heads),
            f"{attn}.out.weight": _dense(H, c.q_dim),
            f"{attn}.out.bias": _dense(H),
            f"{mlp}.norm.scale": _dense(H),
            f"{mlp}.gate.weight": _dense(E, H),
            f"{mlp}.gate.bias": _dense(E),
        }
        if experts == MXFP4:
            spec |= _mxfp4_pair(f"{mlp}.mlp1_weight", (E, 2 * I), H)
        else:
            spec[f"{mlp}.mlp1_weight"] = _dense(E, 2 * I, H)
        spec[f"{mlp}.mlp1_bias"] = _dense(E, 2 * I)
        if experts == MXFP4:
            spec |= _mxfp4_pair(f"{mlp}.mlp2_weight", (E, H), I)
        else:
            spec[f"{mlp}.mlp2_weight"] = _dense(E, H, I)
        spec[f"{mlp}.mlp2_bias"] = _dense(E, H)
    spec["norm.scale"] = _dense(H)
    spec["unembedding.weight"] = _dense(c.vocab_size, H)
    return spec


# original suffix inside a block -> Hugging Face suffix inside ``model.layers.{n}``
_BLOCK_RENAMES = {
    "attn.norm.scale": "input_layernorm.weight",
    "attn.sinks": "self_attn.sinks",
    "attn.out.weight": "self_attn.o_proj.weight",
    "attn.out.bias": "self_attn.o_proj.bias",
    "mlp.norm.scale": "post_attention_layernorm.weight",
    "mlp.gate.weight": "mlp.router.weight",
    "mlp.gate.bias": "mlp.router.bias",
    "mlp.mlp1_weight.blocks": "mlp.experts.gate_up_proj_blocks",
    "mlp.mlp1_weight.scales": "mlp.experts.gate_up_proj_scales",
    "mlp.mlp1_weight": "mlp.experts.gate_up_proj",
    "mlp.mlp1_bias": "mlp.experts.gate_up_proj_bias",
    "mlp.mlp2_weight.blocks": "mlp.experts.down_proj_blocks",
    "mlp.mlp2_weight.scales": "mlp.experts.down_proj_scales",
    "mlp.mlp2_weight": "mlp.experts.down_proj",
    "mlp.mlp2_bias": "mlp.experts.down_proj_bias",
}
_TOP_RENAMES = {
    "embedding.weight": "model.embed_tokens.weight",
    "norm.scale": "model.norm.weight",
    "unembedding.weight": "lm_head.weight",
}
_DEQUANTIZED_EXPERTS = ("mlp.mlp1_weight", "mlp.mlp2_weight")
_QKV = ("attn.qkv.weight", "attn.qkv.bias")


def hf_parts(config: ModelConfig, name: str, rows: int) -> list[Part]:
    """The Hugging Face tensors that store original-layout tensor ``name`` (``rows`` long in dim 0), in row order."""
    if name in _TOP_RENAMES:
        return [Part(_TOP_RENAMES[name], 0, rows)]
    prefix, n, suffix = (name.split(".", 2) + ["", ""])[:3]
    if prefix != "block" or not n.isdigit() or suffix not in _BLOCK_RENAMES | dict.fromkeys(_QKV):
        raise KeyError(f"{name!r} is not a gpt-oss checkpoint tensor name")
    layer = f"model.layers.{n}"
    if suffix in _QKV:
        kind = suffix.rsplit(".", 1)[1]
        q, kv = config.q_dim, config.kv_dim
        return [
            Part(f"{layer}.self_attn.q_proj.{kind}", 0, q),
            Part(f"{layer}.self_attn.k_proj.{kind}", q, kv),
            Part(f"{layer}.self_attn.v_proj.{kind}", q + kv, kv),
        ]
    return [Part(f"{layer}.{_BLOCK_RENAMES[suffix]}", 0, rows, transposed=suffix in _DEQUANTIZED_EXPERTS)]


def stored_spec(config: ModelConfig, layout: str, experts: str = MXFP4) -> dict[str, tuple[str, Part, TensorSpec]]:
    """Every tensor as ``layout`` stores it: name -> (original-layout name, the rows it holds, on-disk spec)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r}; choose one of {LAYOUTS}")
    out = {}
    for name, spec in checkpoint_spec(config, experts).items():
        parts = [Part(name, 0, spec.shape[0])] if layout == ORIGINAL else hf_parts(config, name, spec.shape[0])
        for part in parts:
            shape = (part.rows, *spec.shape[1:])
            if part.transposed:
                shape = (shape[0], shape[2], shape[1])
            out[part.name] = (name, part, TensorSpec(shape, spec.dtype))
    return out


def hf_spec(config: ModelConfig, experts: str = MXFP4) -> dict[str, TensorSpec]:
    """Every tensor of a Hugging Face-layout checkpoint with its on-disk shape and dtype."""
    return {name: spec for name, (_, _, spec) in stored_spec(config, HF, experts).items()}


def component_of(name: str) -> str:
    """The component a tensor (either layout) counts toward, as in ``config.component_parameters``."""
    if "embed" in name and "unembed" not in name:
        return "embedding"
    if "unembedding" in name or name.startswith("lm_head"):
        return "unembedding"
    if "norm" in name:
        return "norms"
    if ".gate." in name or ".router." in name:
        return "router"
    if "attn" in name:
        return "attention"
    return "experts"


def is_mxfp4(name: str) -> bool:
    """True for the uint8 halves of an MXFP4 weight (``.blocks``/``.scales`` or ``_blocks``/``_scales``)."""
    return name.endswith(("blocks", "scales"))
