"""What a GPU must hold to serve gpt-oss: ``memory_budget``.

The byte accounting of GPU inference: the weights as stored (experts in MXFP4), the KV cache,
and the largest transient buffers of a prefill. Choosing the Triton cores is
``gptoss_edu.fast.accelerate``; loading onto the GPU is ``gptoss_edu.load_model(path, device="cuda")``.
"""
from __future__ import annotations

from gptoss_edu.config import BF16_BYTES, ModelConfig, checkpoint_bytes, kv_cache_bytes


def memory_budget(config: ModelConfig, context: int = 8192, batch: int = 1, prefill_tokens: int = 2048
                  ) -> dict[str, float]:
    """Bytes the GPU must hold to serve ``batch`` sequences of ``context`` tokens.

    ``weights``: the checkpoint as stored (MXFP4 experts, bf16 elsewhere) plus float32 norm
    scales; ``kv_cache``: bf16 keys and values (sliding layers keep only the window);
    ``prefill``: the largest transient buffers of a ``prefill_tokens`` prefill, led by the
    bf16 logits of every position and the float32 expert outputs.
    """
    norm_scales = (2 * config.num_hidden_layers + 1) * config.hidden_size
    weights = checkpoint_bytes(config) + norm_scales * (4 - BF16_BYTES)
    rows = batch * prefill_tokens
    prefill = (
        rows * config.vocab_size * BF16_BYTES  # logits of every prompt position
        + rows * config.experts_per_token * (config.hidden_size * 4 + config.intermediate_size * BF16_BYTES)
        + rows * config.qkv_dim * BF16_BYTES * 4  # qkv, rotated q/k, attention output
    )
    out = {"weights": weights, "kv_cache": float(kv_cache_bytes(config, context, batch)), "prefill": float(prefill)}
    out["total"] = sum(out.values())
    return out
