"""What a GPU must hold to serve gpt-oss: ``memory_budget``, the context-length table, the loader's check.

The byte accounting of GPU inference: the weights as stored (experts in MXFP4), the KV cache,
and the largest transient buffers of a prefill pass. ``memory_table`` evaluates it for the
real models at 8k, 32k and 131,072 tokens of context with chunked prefill (what ``generate``
does: ``PREFILL_CHUNK`` tokens a pass, last-position logits only); ``python -m gptoss_edu.fast.gpu``
prints it as the markdown table of ``docs/gpu_memory.md``. ``check_gpu_memory`` compares a
model's need with the free memory of the GPU before ``load_model`` allocates anything there.
Choosing the Triton cores is ``gptoss_edu.fast.accelerate``.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch

from gptoss_edu.config import (
    BF16_BYTES,
    GPT_OSS_20B,
    GPT_OSS_120B,
    ModelConfig,
    checkpoint_bytes,
    kv_cache_bytes,
)
from gptoss_edu.model.generation import PREFILL_CHUNK

DEFAULT_CONTEXT = 8192  # tokens ``load_model`` checks room for, unless told otherwise
TABLE_CONTEXTS = (8192, 32768, 131072)
GB, GIB = 1e9, 2**30
POSITION_BYTES = 8  # each cache slot records its position as an int64


class GpuMemoryError(MemoryError):
    """The GPU has less free memory than a model and its context need; the message says how much of each."""


def prefill_bytes(config: ModelConfig, tokens: int, batch: int = 1, logits: str = "all",
                  value_bytes: int = BF16_BYTES) -> float:
    """The largest transient buffers of one forward pass over ``tokens`` tokens of ``batch`` sequences.

    Per token: the experts' SwiGLU rows (``value_bytes``) and float32 outputs of each chosen
    expert, the qkv projection, rotated q/k and attention output, the float32 norm and the
    residual stream. Plus the logits: of every position with ``logits="all"``, of the last
    one with ``logits="last"``. The flash-attention kernels hold no ``T x S`` score matrix.
    """
    if logits not in ("all", "last"):
        raise ValueError(f"logits={logits!r}; choose 'all' (every position) or 'last'")
    c = config
    rows = batch * tokens
    per_token = (
        c.experts_per_token * (c.hidden_size * 4 + c.intermediate_size * value_bytes)
        + c.qkv_dim * value_bytes * 4  # qkv, rotated q/k, attention output
        + c.hidden_size * (4 + 2 * value_bytes)  # float32 norm, residual in and out
    )
    logit_rows = rows if logits == "all" else batch
    return float(rows * per_token + logit_rows * c.vocab_size * value_bytes)


def context_bytes(config: ModelConfig, context: int, batch: int = 1, value_bytes: int = BF16_BYTES) -> float:
    """What grows with the context: the KV cache, its slots' positions and the float32 RoPE tables."""
    slots = sum(min(context, config.sliding_window) if config.layer_uses_sliding_window(layer) else context
                for layer in range(config.num_hidden_layers))
    rope_tables = 2 * context * (config.head_dim // 2) * 4  # cos and sin, one row per position
    return float(kv_cache_bytes(config, context, batch, value_bytes) + slots * POSITION_BYTES + rope_tables)


def weight_bytes(config: ModelConfig) -> float:
    """The loaded model's bytes: the checkpoint as stored plus the norm scales, which stay float32."""
    norm_scales = (2 * config.num_hidden_layers + 1) * config.hidden_size
    return checkpoint_bytes(config) + norm_scales * (4 - BF16_BYTES)


def memory_budget(config: ModelConfig, context: int = 8192, batch: int = 1, prefill_tokens: int = 2048,
                  logits: str = "all", value_bytes: int = BF16_BYTES) -> dict[str, float]:
    """Bytes the GPU must hold to serve ``batch`` sequences of ``context`` tokens, by part and in ``total``.

    ``weights``: the checkpoint as stored (MXFP4 experts, bf16 elsewhere) plus float32 norm
    scales; ``kv_cache``: keys and values (sliding layers keep only the window) with what else
    grows with the context (``context_bytes``); ``prefill``: the transients of a pass over
    ``prefill_tokens`` tokens (``prefill_bytes``: with ``logits="all"`` every position's logits,
    as ``model(ids)`` gives; ``"last"`` as ``generate``'s chunked prefill).
    """
    out = {"weights": weight_bytes(config), "kv_cache": context_bytes(config, context, batch, value_bytes),
           "prefill": prefill_bytes(config, prefill_tokens, batch, logits, value_bytes)}
    out["total"] = sum(out.values())
    return out


def serving_budget(config: ModelConfig, context: int, chunk: int = PREFILL_CHUNK, batch: int = 1,
                   value_bytes: int = BF16_BYTES) -> dict[str, float]:
    """``memory_budget`` as ``generate`` serves: prefill in chunks of ``chunk`` tokens, last-position logits."""
    return memory_budget(config, context, batch, min(chunk, context), "last", value_bytes)


def memory_table(configs: Iterable[ModelConfig] = (GPT_OSS_20B, GPT_OSS_120B),
                 contexts: Iterable[int] = TABLE_CONTEXTS, chunk: int = PREFILL_CHUNK) -> list[dict]:
    """One row per model and context: ``model``, ``context`` and the ``serving_budget`` bytes (batch 1, bf16)."""
    return [{"model": c.name, "context": n, **serving_budget(c, n, chunk)} for c in configs for n in contexts]


def memory_table_markdown(rows: list[dict], chunk: int = PREFILL_CHUNK) -> str:
    """``rows`` of ``memory_table`` as a markdown table in GB (10^9 bytes), the total also in GiB."""
    lines = [
        f"| model | context (tokens) | weights (GB) | KV cache (GB) | prefill, {chunk:,}-token chunks (GB) "
        "| total (GB) | total (GiB) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['model']} | {r['context']:,} | {r['weights'] / GB:.2f} | {r['kv_cache'] / GB:.2f} "
                     f"| {r['prefill'] / GB:.2f} | {r['total'] / GB:.2f} | {r['total'] / GIB:.2f} |")
    return "\n".join(lines) + "\n"


def memory_doc() -> str:
    """The text of ``docs/gpu_memory.md``: how the table is made, then the table."""
    return (
        "# GPU memory by context length\n\n"
        "Generated by `python -m gptoss_edu.fast.gpu > docs/gpu_memory.md` from "
        "`gptoss_edu.fast.gpu.memory_table`; `tests/test_gpu_memory.py` keeps this file in step.\n\n"
        "Batch 1, bf16 activations and KV cache, experts kept in MXFP4. *Weights*: the checkpoint as stored "
        "plus float32 norm scales. *KV cache*: keys and values of every position on the full-attention layers "
        "and of the 128-token window on the sliding ones, with the slot positions and RoPE tables. *Prefill*: "
        f"the largest transient buffers of one {PREFILL_CHUNK:,}-token chunk of a chunked prefill that keeps "
        "only the last position's logits (`gptoss_edu.model.generation.prefill`, what `generate` does). "
        "`load_model(..., device=\"cuda\", context=N)` checks the total for `N` against the GPU's free memory "
        "before allocating.\n\n"
        + memory_table_markdown(memory_table())
    )


def free_gpu_bytes(device: torch.device | str) -> int:
    """Bytes that new tensors can take on CUDA ``device``: what the driver reports free
    (``torch.cuda.mem_get_info``) plus what torch's caching allocator holds reserved but unused
    (memory of freed tensors, which the driver counts as taken)."""
    if not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r}: this torch {torch.__version__} sees no CUDA device; "
                         "load the model with device='cpu'")
    device = torch.device(device)
    cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    return torch.cuda.mem_get_info(device)[0] + cached


def longest_context(config: ModelConfig, available: float, weights: float, value_bytes: int = BF16_BYTES,
                    chunk: int = PREFILL_CHUNK) -> int:
    """The longest context (0 if none) whose ``weights`` + cache + prefill transients fit in ``available`` bytes."""

    def need(context: int) -> float:
        budget = serving_budget(config, context, chunk, value_bytes=value_bytes)
        return weights + budget["kv_cache"] + budget["prefill"]

    low, high = 0, config.max_context_length
    while low < high:  # the need grows with the context: bisect for the last one that fits
        middle = (low + high + 1) // 2
        low, high = (middle, high) if need(middle) <= available else (low, middle - 1)
    return low


def check_gpu_memory(config: ModelConfig, device: torch.device | str, context: int = DEFAULT_CONTEXT,
                     weights: float | None = None, value_bytes: int = BF16_BYTES,
                     free_bytes: int | None = None) -> dict[str, float]:
    """Raise ``GpuMemoryError`` unless ``device`` has room for the model, a ``context``-token cache and a prefill.

    ``weights`` is the model's own byte count (default: ``weight_bytes``, the bf16 checkpoint);
    ``free_bytes`` defaults to what the driver reports free now. Returns the budget checked.
    """
    if isinstance(context, bool) or not isinstance(context, int) or not 1 <= context <= config.max_context_length:
        raise ValueError(f"context must be a number of tokens from 1 to {config.max_context_length} "
                         f"({config.name}), got {context!r}")
    budget = serving_budget(config, context, value_bytes=value_bytes)
    if weights is not None:
        budget["total"] += weights - budget["weights"]
        budget["weights"] = float(weights)
    free = free_gpu_bytes(device) if free_bytes is None else free_bytes
    if budget["total"] <= free:
        return budget
    fits = longest_context(config, free, budget["weights"], value_bytes)
    advice = (f"pass context={fits} or less to load_model to ask for a shorter context" if fits
              else "the weights alone do not fit: free memory on the GPU or use a larger one")
    raise GpuMemoryError(
        f"{config.name} with a {context:,}-token context needs {budget['total'] / GB:.2f} GB on {device} "
        f"(weights {budget['weights'] / GB:.2f} GB, KV cache {budget['kv_cache'] / GB:.2f} GB, "
        f"prefill buffers {budget['prefill'] / GB:.2f} GB) but {free / GB:.2f} GB is free; {advice}"
    )


def main() -> None:
    """Print ``docs/gpu_memory.md``."""
    print(memory_doc(), end="")


if __name__ == "__main__":
    main()
