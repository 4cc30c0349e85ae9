"""The model at a glance: pictures and tables for notebook 00.

Every number drawn here comes from ``gptoss_edu.config`` (``parameter_count``,
``checkpoint_bytes``, ``dense_bf16_bytes``, ``bytes_per_decoded_token``, ``kv_cache_bytes``),
so the pictures follow the config. Each function returns a matplotlib ``Figure`` and shows
nothing itself; a notebook displays it as the cell's result.
"""
from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Patch

from gptoss_edu.config import (
    ModelConfig,
    bytes_per_decoded_token,
    checkpoint_bytes,
    component_parameters,
    dense_bf16_bytes,
    kv_cache_bytes,
    parameter_count,
)

GIB = 2**30
# Memory of common accelerators in GiB, the unit of every axis here. The spec sheets' "24GB",
# "80GB" and "141GB" are about that many GiB as the driver reports them (an H200 shows ~140 GiB).
COMMON_GPUS: dict[str, float] = {
    "RTX 4090 / 3090 (24 GiB)": 24,
    "A100 40GB (40 GiB)": 40,
    "A100 / H100 80GB (80 GiB)": 80,
    "H200 (140 GiB)": 140,
}
COMPONENT_COLORS = {
    "embedding": "#7fbf7f",
    "attention": "#5b8fd9",
    "router_and_norms": "#f2b04c",
    "experts": "#e07b39",
    "norms": "#b0b0b0",  # the diagram's RMSNorm boxes
    "unembedding": "#4caf8a",
}
BAR_SEGMENTS = ("embedding", "attention", "router_and_norms", "experts", "unembedding")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured markdown table (display it with ``IPython.display.Markdown``)."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


def _box(ax, y: float, text: str, color: str, height: float = 0.8, x: float = 1.0, width: float = 6.0) -> None:
    ax.add_patch(FancyBboxPatch((x, y - height / 2), width, height, boxstyle="round,pad=0.05,rounding_size=0.15",
                                facecolor=color, edgecolor="#333333", linewidth=1))
    ax.text(x + width / 2, y, text, ha="center", va="center", fontsize=9)


def _arrow(ax, y_from: float, y_to: float, x: float = 4.0) -> None:
    ax.annotate("", xy=(x, y_to), xytext=(x, y_from), arrowprops={"arrowstyle": "->", "color": "#333333"})


def _residual(ax, y_from: float, y_add: float) -> None:
    """Skip connection drawn on the left: from the stream at ``y_from`` into the add at ``y_add``."""
    ax.plot([4.0, 0.4, 0.4], [y_from, y_from, y_add], color="#999999", linewidth=1.2)
    ax.annotate("", xy=(1.0, y_add), xytext=(0.4, y_add), arrowprops={"arrowstyle": "->", "color": "#999999"})


def architecture_figure(config: ModelConfig) -> Figure:
    """One gpt-oss forward pass, top to bottom, with the sizes of ``config`` written in."""
    c = config
    window = f"sliding window {c.sliding_window} on even layers, full causal on odd"
    steps = [  # (label, colour, kind) from the input tokens down to the logits
        ("token ids", "#ffffff", "io"),
        (f"embedding  {c.vocab_size:,} × {c.hidden_size}", COMPONENT_COLORS["embedding"], "flow"),
        ("RMSNorm", COMPONENT_COLORS["norms"], "branch1"),
        (f"attention: {c.num_attention_heads} query heads share {c.num_key_value_heads} KV heads (GQA)\n"
         f"learned sinks, {window}\nYaRN RoPE (θ={c.rope_theta:g}, ×{c.rope_scaling_factor:g} context)",
         COMPONENT_COLORS["attention"], "tall"),
        ("+  residual add", "#ffffff", "add1"),
        ("RMSNorm", COMPONENT_COLORS["norms"], "branch2"),
        (f"router: top-{c.experts_per_token} of {c.num_experts} expert logits, softmax over those {c.experts_per_token}",
         COMPONENT_COLORS["router_and_norms"], "flow"),
        (f"{c.experts_per_token} of {c.num_experts} experts: clamped SwiGLU {c.hidden_size} → 2×{c.intermediate_size} (gate, linear) → "
         f"{c.hidden_size}\n(MXFP4 weights)", COMPONENT_COLORS["experts"], "tall"),
        ("weighted sum of the expert outputs", COMPONENT_COLORS["router_and_norms"], "flow"),
        ("+  residual add", "#ffffff", "add2"),
        ("final RMSNorm", COMPONENT_COLORS["norms"], "flow"),
        (f"unembedding  {c.hidden_size} × {c.vocab_size:,}  →  logits", COMPONENT_COLORS["unembedding"], "flow"),
    ]
    fig = Figure(figsize=(7.5, 10))
    ax = fig.add_subplot()
    y, boxes = 0.0, {}  # kind -> (centre y, height) of each box, in drawing order
    for label, color, kind in steps:
        height = 1.3 if kind == "tall" else 0.7
        y -= height / 2
        _box(ax, y, label, color, height=height)
        boxes[kind if kind not in boxes else f"{kind}{len(boxes)}"] = (y, height)
        y -= height / 2 + 0.55
    placed = list(boxes.values())
    for (y0, h0), (y1, h1) in zip(placed, placed[1:]):
        _arrow(ax, y0 - h0 / 2, y1 + h1 / 2)
    block_top = boxes["branch1"][0] + boxes["branch1"][1] / 2 + 0.3
    block_bottom = boxes["add2"][0] - boxes["add2"][1] / 2 - 0.2
    _residual(ax, block_top - 0.05, boxes["add1"][0])
    _residual(ax, boxes["add1"][0] - boxes["add1"][1] / 2 - 0.25, boxes["add2"][0])
    ax.add_patch(FancyBboxPatch((0.1, block_bottom), 7.6, block_top - block_bottom + 0.1, boxstyle="round,pad=0.05",
                                facecolor="none", edgecolor="#555555", linestyle="--"))
    ax.text(7.85, (block_top + block_bottom) / 2, f"× {c.num_hidden_layers} blocks", rotation=90, va="center",
            fontsize=11)
    ax.set_xlim(0, 8.3)
    ax.set_ylim(y, 0.3)
    ax.axis("off")
    ax.set_title(f"{c.name}: one forward pass", fontsize=12)
    fig.tight_layout()
    return fig


def _stacked_bars(ax, names: Sequence[str], parts: Sequence[dict[str, float]]) -> None:
    """Horizontal stacked bars, one per model, one segment per component of ``BAR_SEGMENTS``."""
    for row, part in enumerate(parts):
        left = 0.0
        for key in BAR_SEGMENTS:
            width = part.get(key, 0.0)
            ax.barh(row, width, left=left, height=0.6, color=COMPONENT_COLORS[key], edgecolor="white")
            left += width
        ax.text(left, row, f"  {left:.2f}", va="center", fontsize=9)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.margins(x=0.12)


def size_breakdown_figure(configs: Sequence[ModelConfig]) -> Figure:
    """Where the parameters live (left) and which weights one decoded token reads (right)."""
    fig = Figure(figsize=(12, 1.6 + 0.8 * len(configs)))
    left, right = fig.subplots(1, 2)
    names = [c.name for c in configs]
    params = []
    for c in configs:
        count = {k: v / 1e9 for k, v in parameter_count(c).items()}
        count["router_and_norms"] = count.pop("router") + count.pop("norms")
        params.append(count)
    _stacked_bars(left, names, params)
    left.set_xlabel("parameters (billions)")
    left.set_title("all parameters, by component")
    _stacked_bars(right, names, [{k: v / 1e9 for k, v in bytes_per_decoded_token(c).items()} for c in configs])
    right.set_xlabel("GB of weights read per decoded token (batch 1)")
    right.set_title("what one token reads: the decode-speed floor")
    handles = [Patch(color=COMPONENT_COLORS[k], label=k.replace("_", " ")) for k in BAR_SEGMENTS]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


def memory_figure(configs: Sequence[ModelConfig], contexts: Sequence[int] = (4096, 32768, 131072),
                  gpus: dict[str, float] = COMMON_GPUS) -> Figure:
    """Weights (bf16 and MXFP4) plus the KV cache at growing contexts, against GPU memory sizes."""
    fig = Figure(figsize=(10, 5))
    ax = fig.add_subplot()
    contexts = sorted(contexts)
    shades = ["#c6dbef", "#6baed6", "#2171b5", "#08306b"]
    labels = []
    for c in configs:
        for fmt, weights in (("MXFP4", checkpoint_bytes(c)), ("bf16", dense_bf16_bytes(c))):
            x = len(labels)
            labels.append(f"{c.name}\n{fmt} weights")
            ax.bar(x, weights / GIB, color="#e07b39" if fmt == "MXFP4" else "#b35a1f",
                   label="weights" if x == 0 else None)
            bottom, previous = weights / GIB, 0
            for shade, context in zip(shades, contexts):
                extra = (kv_cache_bytes(c, context) - previous) / GIB
                ax.bar(x, extra, bottom=bottom, color=shade, label=f"+ KV cache to {context:,} tokens" if x == 0 else None)
                bottom, previous = bottom + extra, kv_cache_bytes(c, context)
            ax.text(x, bottom, f"{bottom:.1f}", ha="center", va="bottom", fontsize=8)
    for name, gib in gpus.items():
        ax.axhline(gib, color="#555555", linestyle=":", linewidth=1)
        ax.text(len(labels) + 0.9, gib, name, va="bottom", ha="right", fontsize=8, color="#333333")
    ax.set_xlim(-0.6, len(labels) + 1.0)
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylabel("GiB")
    ax.set_title("memory to hold the model (batch 1, bf16 KV cache) vs GPU memory")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def gpu_budget_figure(budgets: dict[str, dict[str, float]], gpus: dict[str, float]) -> Figure:
    """What the GPU must hold per model (``fast.gpu.memory_budget`` bytes), stacked, in GiB, against card sizes in GiB."""
    fig = Figure(figsize=(8, 1.5 + 0.9 * len(budgets)))
    ax = fig.add_subplot()
    parts = (("weights", "weights (MXFP4 experts, bf16 rest)", "#e07b39"),
             ("kv_cache", "KV cache (bf16)", "#6baed6"), ("prefill", "prefill buffers", "#74c476"))
    for row, budget in enumerate(budgets.values()):
        left = 0.0
        for key, label, colour in parts:
            ax.barh(row, budget[key] / GIB, left=left, height=0.6, color=colour, label=label if row == 0 else None)
            left += budget[key] / GIB
        ax.text(left, row, f"  {left:.1f} GiB", va="center", fontsize=8)
    top = len(budgets) - 0.4  # card names go above the bars, below the title
    for name, gib in gpus.items():
        ax.axvline(gib, color="#555555", linestyle="--", linewidth=1)
        ax.text(gib, top + 0.1, f"{name} ", ha="right", va="bottom", fontsize=8, color="#333333")
    ax.set_ylim(-0.6, top + 0.6)
    ax.set_xlim(0, max(max(gpus.values()), max(b["total"] for b in budgets.values()) / GIB) * 1.08)
    ax.set_yticks(range(len(budgets)), list(budgets))
    ax.set_xlabel("GiB")
    ax.set_title("What the GPU must hold")
    ax.legend(loc="lower right", bbox_to_anchor=(0.9, 0.02), fontsize=8)  # between the card lines, below the long bar
    fig.tight_layout()
    return fig


def stored_vs_bf16_figure(config: ModelConfig) -> Figure:
    """Bytes per component of ``config``'s checkpoint as released (MXFP4 experts) against every weight in bf16, in GiB."""
    from gptoss_edu.io.layouts import checkpoint_spec, component_of

    stored: dict[str, float] = {}
    for name, spec in checkpoint_spec(config).items():
        stored[component_of(name)] = stored.get(component_of(name), 0) + spec.nbytes
    bf16 = {name: 2 * count for name, count in component_parameters(config).items()}
    names = sorted(bf16, key=bf16.get)
    fig = Figure(figsize=(6, 3.2))
    ax = fig.add_subplot()
    rows = range(len(names))
    ax.barh([r + 0.2 for r in rows], [bf16[n] / GIB for n in names], height=0.4, color="#bbbbbb", label="all in bf16")
    ax.barh([r - 0.2 for r in rows], [stored[n] / GIB for n in names], height=0.4, color="#e07b39",
            label="as released (MXFP4 experts)")
    for r, n in zip(rows, names):
        ax.text(stored[n] / GIB, r - 0.2, f" {8 * stored[n] / (bf16[n] / 2):.2f} bits/param", va="center", fontsize=7)
    ax.set_yticks(rows, names)
    ax.set_xscale("log")
    ax.set_xlabel("GiB (log scale)")
    ax.set_title(f"{config.name}: bytes per component", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def component_share_figure(bytes_by_checkpoint: dict[str, dict[str, float]]) -> Figure:
    """Share of each checkpoint's bytes per component, one group of bars per component, one colour per checkpoint."""
    components = list(next(iter(bytes_by_checkpoint.values())))
    width = 0.8 / len(bytes_by_checkpoint)
    fig = Figure(figsize=(7, 3.4))
    ax = fig.add_subplot()
    for i, (label, sizes) in enumerate(bytes_by_checkpoint.items()):
        total = sum(sizes.values())
        ax.bar([j + i * width for j in range(len(components))], [sizes[c] / total for c in components], width, label=label)
    ax.set_xticks([j + width * (len(bytes_by_checkpoint) - 1) / 2 for j in range(len(components))], components, rotation=20)
    ax.set_ylabel("fraction of the checkpoint's bytes")
    ax.set_title("Where the bytes go", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
