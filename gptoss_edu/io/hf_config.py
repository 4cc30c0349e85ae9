"""A ``ModelConfig`` as Hugging Face's ``config.json`` (``model_type: gpt_oss``): conversion, not configuration.

Writers of Hugging Face folders (``gptoss_edu.io.writer``) and the transformers conformance
helpers need the dictionary transformers' ``GptOssConfig`` takes; reading it back is
``ModelConfig.from_hf_dict``.
"""
from __future__ import annotations

from gptoss_edu.config import ModelConfig


def to_hf_dict(config: ModelConfig) -> dict:
    """The Hugging Face ``config.json`` dictionary (``model_type: gpt_oss``)."""
    rope = {
        "rope_type": "yarn",
        "factor": config.rope_scaling_factor,
        "beta_fast": config.rope_ntk_beta,
        "beta_slow": config.rope_ntk_alpha,
        "truncate": False,
        "original_max_position_embeddings": config.initial_context_length,
    }
    # transformers rejects special-token ids outside a small (teaching) vocabulary
    special_ids = {"pad_token_id": 199999, "eos_token_id": 200002}
    return {
        **{key: i for key, i in special_ids.items() if i < config.vocab_size},
        "architectures": ["GptOssForCausalLM"],
        "model_type": "gpt_oss",
        "num_hidden_layers": config.num_hidden_layers,
        "num_local_experts": config.num_experts,
        "num_experts_per_tok": config.experts_per_token,
        "experts_per_token": config.experts_per_token,
        "vocab_size": config.vocab_size,
        "hidden_size": config.hidden_size,
        "intermediate_size": config.intermediate_size,
        "swiglu_limit": config.swiglu_limit,
        "head_dim": config.head_dim,
        "num_attention_heads": config.num_attention_heads,
        "num_key_value_heads": config.num_key_value_heads,
        "sliding_window": config.sliding_window,
        "layer_types": [
            "sliding_attention" if config.layer_uses_sliding_window(i) else "full_attention"
            for i in range(config.num_hidden_layers)
        ],
        "initial_context_length": config.initial_context_length,
        "max_position_embeddings": config.max_context_length,
        "rope_theta": config.rope_theta,
        "rope_scaling": rope,
        "rms_norm_eps": config.rms_norm_eps,
        "attention_bias": True,
        "attention_dropout": 0.0,
        "hidden_act": "silu",
        "tie_word_embeddings": False,
        "router_aux_loss_coef": 0.9,
        "output_router_logits": False,
        "use_cache": True,
        "torch_dtype": "bfloat16",
        "quantization_config": {
            "quant_method": "mxfp4",
            "modules_to_not_convert": [
                "model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens", "lm_head",
            ],
        },
    }
