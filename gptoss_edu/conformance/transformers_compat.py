"""Hand our weights to Hugging Face transformers' ``GptOssForCausalLM``, to compare the two.

transformers' dense gpt-oss differs from the original layout in names and in three shapes:
- the fused ``qkv`` projection is split into ``q_proj``, ``k_proj``, ``v_proj``;
- its experts compute ``x @ W``, so ``gate_up_proj`` is ``(E, H, 2I)`` (rows still
  interleaved gate/linear) and ``down_proj`` is ``(E, I, H)``: our ``(E, 2I, H)`` and
  ``(E, H, I)`` transposed;
- norms are ``weight`` instead of ``scale``, the router is ``router`` instead of ``gate``.

Only the dense (dequantized) form is handled here; checkpoint files in the Hugging Face
MXFP4 layout are the business of ``gptoss_edu.io.checkpoint``. Importing this module does not
import transformers; ``transformers_model`` does.
"""
from __future__ import annotations

import torch

from gptoss_edu.config import ModelConfig
from gptoss_edu.io.hf_config import to_hf_dict
from gptoss_edu.model.transformer import Transformer


def transformers_state_dict(state_dict: dict[str, torch.Tensor], config: ModelConfig) -> dict[str, torch.Tensor]:
    """transformers' names and layouts for a dequantized original-layout ``state_dict``.

    The expert weights are transposed and made contiguous (a copy, in transformers' own
    memory layout); every other tensor is shared, not copied.
    """
    c, w = config, state_dict
    out = {
        "model.embed_tokens.weight": w["embedding.weight"],
        "model.norm.weight": w["norm.scale"],
        "lm_head.weight": w["unembedding.weight"],
    }
    for n in range(c.num_hidden_layers):
        src, dst = f"block.{n}", f"model.layers.{n}"
        if f"{src}.mlp.mlp1_weight" not in w:
            raise KeyError(f"{src}.mlp.mlp1_weight is missing: pass a dequantized state dict (experts='dequantized')")
        for part in ("weight", "bias"):
            q, k, v = w[f"{src}.attn.qkv.{part}"].split([c.q_dim, c.kv_dim, c.kv_dim])
            out |= {
                f"{dst}.self_attn.q_proj.{part}": q,
                f"{dst}.self_attn.k_proj.{part}": k,
                f"{dst}.self_attn.v_proj.{part}": v,
                f"{dst}.self_attn.o_proj.{part}": w[f"{src}.attn.out.{part}"],
                f"{dst}.mlp.router.{part}": w[f"{src}.mlp.gate.{part}"],
            }
        out |= {
            f"{dst}.self_attn.sinks": w[f"{src}.attn.sinks"],
            f"{dst}.input_layernorm.weight": w[f"{src}.attn.norm.scale"],
            f"{dst}.post_attention_layernorm.weight": w[f"{src}.mlp.norm.scale"],
            f"{dst}.mlp.experts.gate_up_proj": w[f"{src}.mlp.mlp1_weight"].transpose(1, 2).contiguous(),
            f"{dst}.mlp.experts.gate_up_proj_bias": w[f"{src}.mlp.mlp1_bias"],
            f"{dst}.mlp.experts.down_proj": w[f"{src}.mlp.mlp2_weight"].transpose(1, 2).contiguous(),
            f"{dst}.mlp.experts.down_proj_bias": w[f"{src}.mlp.mlp2_bias"],
        }
    return out


def transformers_model(model: Transformer, attn_implementation: str = "eager"):
    """A ``GptOssForCausalLM`` holding ``model``'s weights (``model`` must use ``experts="dequantized"``).

    Built on the meta device and filled with ``assign=True``, so it shares our tensors
    (except the transposed experts) and costs no random initialisation.
    """
    import transformers
    from transformers.models.gpt_oss.modeling_gpt_oss import GptOssRotaryEmbedding

    settings = to_hf_dict(model.config)
    settings.pop("quantization_config")  # dense experts
    config = transformers.GptOssConfig(**settings)
    config._attn_implementation = attn_implementation
    with torch.device("meta"):
        hf = transformers.GptOssForCausalLM(config)
    hf.load_state_dict(transformers_state_dict(model.state_dict(), model.config), strict=True, assign=True)
    hf.model.rotary_emb = GptOssRotaryEmbedding(config).to(model.device)  # a non-persistent buffer, left on meta
    return hf.eval()
