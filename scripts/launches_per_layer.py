"""Kernel launches per layer of one forward pass: the torch path against the Triton cores, before and after fusing.

    python scripts/launches_per_layer.py                 # 20b's layer shape (32 experts, top-4), narrow widths
    python scripts/launches_per_layer.py --experts 128   # 120b's router

Synthetic weights (no download). The number of launches does not depend on the hidden
width, only on the model's structure and on how many different experts the tokens choose, so
the model keeps gpt-oss's heads, experts and top-k and narrows only the widths; two layers,
one sliding-window and one full. On CUDA the kernels are compiled and the count comes from
``torch.profiler``; on the CPU they run under Triton's interpreter and the count is
``gptoss_edu.fast.launches``'s aten proxy (see there). Columns:

- ``torch``: the readable library cores;
- ``triton, unfused norms``: the Triton cores with the plain-torch pre-norms and router (before);
- ``triton, fused norms``: the same with the pre-norms fused into ``qkv`` and the router (after).
"""
from __future__ import annotations

import argparse

import torch

from gptoss_edu.config import GPT_OSS_20B, ModelConfig
from gptoss_edu.fast.launches import LaunchCount, count_launches
from gptoss_edu.fast.select import TORCH_CORES, accelerate, use_torch
from gptoss_edu.model.random_weights import random_model

SCENARIOS = {"decode, batch 1": (1, 1), "decode, batch 8": (8, 1), "prefill 16 tokens, batch 1": (1, 16)}
PROMPT = 12  # tokens in the cache before a decode step


def narrow_config(experts: int, layers: int = 2, hidden: int = 128) -> ModelConfig:
    """gpt-oss-20b's structure (heads, top-4, window) with ``experts`` experts and narrow widths."""
    return GPT_OSS_20B.replace(num_hidden_layers=layers, hidden_size=hidden, intermediate_size=hidden,
                               num_experts=experts, head_dim=16, vocab_size=1024, name=f"launch-count-{experts}e")


def set_path(model, path: str) -> None:
    """Put the cores of ``path`` (a column of the table) into ``model``."""
    use_torch(model)
    if path == "torch":
        return
    if not accelerate(model, interpreter=model.device.type == "cpu", notice=None).triton:
        raise SystemExit("the Triton kernels cannot run here (is Triton installed?)")
    if path == "triton, unfused norms":
        model.set_norm_linear_core(TORCH_CORES["norm_linear"])
        model.set_router_core(TORCH_CORES["router"])


def count_scenario(model, batch: int, tokens: int, seed: int = 0) -> LaunchCount:
    """Launches of one forward pass of ``tokens`` new tokens per row, after a prompt for decode steps."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, model.config.vocab_size, (batch, PROMPT + tokens), generator=g).to(model.device)
    if tokens > 1:
        return count_launches(model, ids[:, :tokens])
    cache = model.new_cache(batch_size=batch, capacity=PROMPT + 4, fixed_shapes=True)  # as the decode graph does
    with torch.no_grad():
        model(ids[:, :PROMPT], cache=cache)
    return count_launches(model, ids[:, PROMPT:], cache)


PATHS = ("torch", "triton, unfused norms", "triton, fused norms")


def launch_table(model) -> list[tuple[str, dict[str, LaunchCount]]]:
    """One row per scenario: the ``LaunchCount`` of each path."""
    rows = []
    for scenario, (batch, tokens) in SCENARIOS.items():
        counts = {}
        for path in PATHS:
            set_path(model, path)
            counts[path] = count_scenario(model, batch, tokens)
        rows.append((scenario, counts))
    use_torch(model)
    return rows


def markdown(rows: list[tuple[str, dict[str, LaunchCount]]], method: str) -> str:
    """Launches per layer (attention + MoE) for each scenario and path, as a markdown table."""
    lines = [f"launches per layer ({method}); attention + MoE = per layer",
             "", "| forward pass | " + " | ".join(PATHS) + " |", "|---|" + "---:|" * len(PATHS)]
    for scenario, counts in rows:
        cells = [f"{sum(c.attention) / len(c.attention):g} + {sum(c.moe) / len(c.moe):g} = {c.mean_per_layer():g}"
                 for c in counts.values()]
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experts", type=int, default=32, help="experts per layer: 32 (20b) or 128 (120b)")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        from gptoss_edu.kernels import use_interpreter

        use_interpreter()
        torch.set_num_threads(1)
    model = random_model(narrow_config(args.experts), device, dtype=torch.bfloat16, seed=0)
    rows = launch_table(model)
    method = rows[0][1]["torch"].method + (" with the Triton interpreter" if device == "cpu" else "")
    print(f"{args.experts} experts, top-{model.config.experts_per_token}, bf16, on {device}")
    print(markdown(rows, method))


if __name__ == "__main__":
    main()
