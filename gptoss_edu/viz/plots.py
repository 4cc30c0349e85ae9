"""Pictures for notebooks 03-06 (attention, router, experts and MXFP4, the full model).

Each function takes numbers the notebook already computed with the library (or a config)
and returns a matplotlib ``Figure`` built without pyplot, so it shows up once as the cell's
result and needs no display. Nothing here computes model math; it only draws.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from matplotlib import colormaps
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from gptoss_edu.config import ModelConfig
from gptoss_edu.model.rope import yarn_concentration_and_inv_freq

TRAINED_COLOR, EXTRAPOLATE_COLOR, INTERPOLATE_COLOR, YARN_COLOR = "#555555", "#d9534f", "#5b8fd9", "#2e9e5b"


def yarn_frequency_figure(config: ModelConfig) -> Figure:
    """YaRN per channel pair: the wavelength of each scheme, and the turns made over a long context.

    Left: wavelength ``2*pi/inv_freq`` of the original RoPE (= extrapolation), of plain
    interpolation (``factor`` times longer) and of YaRN's blend, with the ramp bounds.
    Right: how many full turns each channel makes over the training context, and over the
    stretched context with extrapolation or with YaRN.
    """
    c = config
    _, original = yarn_concentration_and_inv_freq(c.head_dim, c.rope_theta)
    _, blend = yarn_concentration_and_inv_freq(
        c.head_dim, c.rope_theta, c.rope_scaling_factor, c.initial_context_length, c.rope_ntk_alpha, c.rope_ntk_beta,
    )
    interpolation = original / c.rope_scaling_factor
    pairs = torch.arange(len(original))
    # The ramp: channels whose frequency is neither pure extrapolation nor pure interpolation.
    blended = ~torch.isclose(blend, original) & ~torch.isclose(blend, interpolation)

    fig = Figure(figsize=(11, 3.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    for ax in (left, right):
        if blended.any():
            ramp = pairs[blended]
            ax.axvspan(float(ramp[0]) - 0.5, float(ramp[-1]) + 0.5, color="#f2b04c", alpha=0.25, label="ramp (blend)")
        ax.set_yscale("log")
        ax.set_xlabel("channel pair i")
    left.plot(pairs, 2 * math.pi / original, color=EXTRAPOLATE_COLOR, label="original = extrapolation")
    left.plot(pairs, 2 * math.pi / interpolation, color=INTERPOLATE_COLOR, label=f"interpolation (x{c.rope_scaling_factor:g})")
    left.plot(pairs, 2 * math.pi / blend, color=YARN_COLOR, linestyle="--", linewidth=2, label="YaRN blend")
    left.axhline(c.initial_context_length, color=TRAINED_COLOR, linestyle=":", label="training context")
    left.set_ylabel("wavelength (tokens)")
    left.set_title("Wavelength of each rotary channel pair")
    left.legend(fontsize=8)

    long_context = c.initial_context_length * c.rope_scaling_factor
    turns = {
        f"training: {c.initial_context_length} tokens": (c.initial_context_length * original, TRAINED_COLOR, "-"),
        f"{long_context:.0f} tokens, extrapolation": (long_context * original, EXTRAPOLATE_COLOR, "-"),
        f"{long_context:.0f} tokens, YaRN": (long_context * blend, YARN_COLOR, "--"),
    }
    for label, (angle, color, style) in turns.items():
        right.plot(pairs, angle / (2 * math.pi), color=color, linestyle=style, label=label)
    right.axhline(1, color="black", linewidth=0.8)
    right.set_ylabel("full turns over the context")
    right.set_title("Slow channels: YaRN keeps them inside the range seen in training")
    right.legend(fontsize=8)
    return fig


def mask_figure(masks: Mapping[str, torch.Tensor]) -> Figure:
    """Boolean ``(T, S)`` masks side by side: dark where a query row may attend a key column."""
    fig = Figure(figsize=(3.6 * len(masks), 3.6), layout="constrained")
    axes = fig.subplots(1, len(masks), squeeze=False)[0]
    for ax, (title, mask) in zip(axes, masks.items()):
        ax.imshow(mask.int().numpy(), cmap="Greys", vmin=0, vmax=1)
        ax.set_title(f"{title}\n({int(mask[-1].sum())} keys visible to the last query)", fontsize=10)
        ax.set_xlabel("key position")
        ax.set_ylabel("query position")
    return fig


def sink_share_figure(shares: Mapping[str, torch.Tensor], window: int | None = None) -> Figure:
    """Probability each head gives its sink, per query position: one panel per layer, ``(heads, T)`` each."""
    fig = Figure(figsize=(5 * len(shares), 3.4), layout="constrained")
    axes = fig.subplots(1, len(shares), squeeze=False, sharey=True)[0]
    for ax, (title, share) in zip(axes, shares.items()):
        for head, row in enumerate(share):
            ax.plot(row.numpy(), label=f"head {head}")
        if window:
            ax.axvline(window - 1, color="black", linestyle=":", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("query position")
    axes[0].set_ylabel("probability sent to the sink")
    axes[0].legend(fontsize=8)
    return fig


def cache_slots_figure(slots: Mapping[str, Sequence[int]]) -> Figure:
    """The cache slot each token position is written to, one line per layer kind."""
    fig = Figure(figsize=(6.5, 3.4), layout="constrained")
    ax = fig.subplots()
    for label, slot in slots.items():
        ax.plot(range(len(slot)), slot, marker=".", markersize=3, linewidth=0.8, label=label)
    ax.set_xlabel("token position")
    ax.set_ylabel("cache slot written")
    ax.set_title("Where each token's key and value go")
    ax.legend(fontsize=8)
    return fig


def grouped_bar_figure(values: Mapping[str, Mapping[str, float]], ylabel: str, title: str,
                       log: bool = False) -> Figure:
    """Bars grouped by outer key (x axis), one colour per inner key, each bar labelled with its value."""
    groups = list(values)
    series = list(dict.fromkeys(name for inner in values.values() for name in inner))
    width = 0.8 / len(series)
    fig = Figure(figsize=(1.6 + 1.8 * len(groups), 3.6), layout="constrained")
    ax = fig.subplots()
    for j, name in enumerate(series):
        xs = [i + (j - (len(series) - 1) / 2) * width for i in range(len(groups))]
        heights = [values[g].get(name, 0.0) for g in groups]
        bars = ax.bar(xs, heights, width, label=name)
        ax.bar_label(bars, labels=[f"{h:.3g}" for h in heights], fontsize=8)
    ax.set_xticks(range(len(groups)), groups)
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def routing_weights_figure(router_logits: torch.Tensor, k: int) -> Figure:
    """One token: its router logits (top ``k`` highlighted) and the two ways to weight the chosen experts."""
    top = torch.topk(router_logits, k)
    fig = Figure(figsize=(11, 3.4), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=(2, 1))
    colors = ["#e07b39" if e in top.indices else "#bbbbbb" for e in range(len(router_logits))]
    left.bar(range(len(router_logits)), router_logits.numpy(), color=colors)
    left.set_xlabel("expert")
    left.set_ylabel("router logit")
    left.set_title(f"Router logits of one token (top {k} in orange)")
    schemes = {
        "top-k, then softmax (gpt-oss)": torch.softmax(top.values, -1),
        "softmax, then top-k": torch.softmax(router_logits, -1)[top.indices],
    }
    width = 0.4
    for j, (label, weights) in enumerate(schemes.items()):
        right.bar([i + (j - 0.5) * width for i in range(k)], weights.numpy(), width,
                  label=f"{label}: sum {float(weights.sum()):.2f}")
    right.set_xticks(range(k), [f"expert {int(e)}" for e in top.indices])
    right.set_ylabel("weight of the expert's output")
    right.set_ylim(0, 1.4 * max(float(w.max()) for w in schemes.values()))  # room for the legend
    right.legend(fontsize=8, loc="upper right")
    return fig


def expert_load_figure(counts: torch.Tensor) -> Figure:
    """``(layers, experts)`` token counts as one bar chart per layer, with the uniform level dashed."""
    num_layers, num_experts = counts.shape
    fig = Figure(figsize=(11, 1.9 * num_layers), layout="constrained")
    axes = fig.subplots(num_layers, 1, sharex=True, squeeze=False)[:, 0]
    for layer, ax in enumerate(axes):
        ax.bar(range(num_experts), counts[layer].numpy(), color="#5b8fd9")
        ax.axhline(float(counts[layer].sum()) / num_experts, color="black", linestyle="--", linewidth=0.8)
        ax.set_ylabel(f"layer {layer}")
    axes[-1].set_xlabel("expert")
    axes[0].set_title("Tokens routed to each expert (dashed: a perfectly even load)")
    return fig


def expert_colors(num_experts: int) -> ListedColormap:
    """Distinct colours for up to 40 experts (tab20 + tab20b), a continuous map beyond."""
    if num_experts > 40:
        return colormaps["nipy_spectral"].resampled(num_experts)
    palette = list(colormaps["tab20"].colors) + list(colormaps["tab20b"].colors)
    return ListedColormap(palette[:num_experts])


def expert_map_figure(top_expert: torch.Tensor, tokens: Sequence[str], num_experts: int) -> Figure:
    """``(layers, T)`` top-1 expert per layer and token: coloured cells with the expert number."""
    num_layers, num_tokens = top_expert.shape
    cmap = expert_colors(num_experts)
    fig = Figure(figsize=(max(6.0, 0.42 * num_tokens), 0.5 * num_layers + 1.6), layout="constrained")
    ax = fig.subplots()
    ax.imshow(top_expert.numpy(), cmap=cmap, vmin=-0.5, vmax=num_experts - 0.5, aspect="auto")
    for layer in range(num_layers):
        for t in range(num_tokens):
            expert = int(top_expert[layer, t])
            red, green, blue, _ = cmap(expert)
            light = 0.299 * red + 0.587 * green + 0.114 * blue > 0.6
            ax.text(t, layer, str(expert), ha="center", va="center", fontsize=7, color="black" if light else "white")
    ax.set_xticks(range(num_tokens), [repr(s)[1:-1] for s in tokens], rotation=90, fontsize=8)
    ax.set_yticks(range(num_layers), [f"layer {i}" for i in range(num_layers)])
    ax.set_title("Top-1 expert of every token in every layer")
    return fig


def swiglu_figure(alpha: float = 1.702, limit: float = 7.0) -> Figure:
    """The two halves of gpt-oss's clamped SwiGLU: ``g*sigmoid(alpha*g)`` with ``g<=limit``, and ``clamp(l)+1``."""
    x = torch.linspace(-10, 10, 401)
    gate = x.clamp(max=limit)
    fig = Figure(figsize=(11, 3.4), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.plot(x, x * torch.sigmoid(alpha * x), color="#bbbbbb", linestyle="--", label="unclamped g*sigmoid(1.702 g)")
    left.plot(x, gate * torch.sigmoid(alpha * gate), color="#e07b39", label=f"gate = min(g, {limit:g})")
    left.axvline(limit, color="black", linestyle=":", linewidth=0.8)
    left.set_xlabel("gate row g (even rows of mlp1)")
    left.set_title("Gate: SiLU-like, capped at g = 7")
    left.legend(fontsize=8)
    right.plot(x, x + 1, color="#bbbbbb", linestyle="--", label="unclamped l + 1")
    right.plot(x, x.clamp(-limit, limit) + 1, color="#5b8fd9", label=f"clamp(l, ±{limit:g}) + 1")
    right.axhline(0, color="black", linewidth=0.5)
    right.axvline(-1, color="black", linestyle=":", linewidth=0.8)
    right.set_xlabel("linear row l (odd rows of mlp1)")
    right.set_title("Linear: clamped to ±7, then +1 (zero at l = -1)")
    right.legend(fontsize=8)
    return fig


def dispatch_figure(expert_indices: torch.Tensor, expert_weights: torch.Tensor, num_experts: int) -> Figure:
    """Token-by-expert matrix of routing weights: each column is the batch one expert processes."""
    num_tokens = expert_indices.shape[0]
    table = torch.zeros(num_tokens, num_experts).scatter_(1, expert_indices, expert_weights.float())
    fig = Figure(figsize=(0.45 * num_experts + 2, 0.35 * num_tokens + 1.5), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(table.numpy(), cmap="Oranges", vmin=0, vmax=float(table.max()), aspect="auto")
    for token, expert in (table > 0).nonzero().tolist():
        ax.text(expert, token, f"{table[token, expert]:.2f}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(num_experts))
    ax.set_yticks(range(num_tokens))
    ax.set_xlabel("expert (each runs once, on the tokens of its column)")
    ax.set_ylabel("token")
    fig.colorbar(image, ax=ax, label="routing weight")
    return fig


def nibble_packing_figure(block: torch.Tensor, values: Sequence[float], num_bytes: int = 4) -> Figure:
    """The first ``num_bytes`` bytes of an MXFP4 block: each byte's low nibble is the even element."""
    fig = Figure(figsize=(11, 2.8), layout="constrained")
    ax = fig.subplots()
    for b in range(num_bytes):
        byte = int(block[b])
        for half, (nibble, element) in enumerate(((byte & 0x0F, 2 * b), (byte >> 4, 2 * b + 1))):
            x = 4 * b + 2 * (1 - half)  # draw the high nibble on the left, as the bits are written
            ax.add_patch(Rectangle((x, 1), 2, 1, facecolor="#5b8fd9" if half == 0 else "#e07b39", alpha=0.6))
            ax.text(x + 1, 1.5, f"{nibble:04b}", ha="center", va="center", family="monospace")
            target = 4 * b + 2 * half  # elements are laid out in order below
            ax.add_patch(Rectangle((target, -1), 2, 1, facecolor="white", edgecolor="black"))
            ax.text(target + 1, -0.5, f"x[{element}]\n{values[element]:g}", ha="center", va="center", fontsize=8)
            ax.annotate("", xy=(target + 1, 0), xytext=(x + 1, 1), arrowprops={"arrowstyle": "->"})
        ax.add_patch(Rectangle((4 * b, 1), 4, 1, fill=False, linewidth=2))
        ax.text(4 * b + 2, 2.35, f"byte {b} = 0x{byte:02x}", ha="center")
    ax.text(-0.3, 1.5, "packed\n(hi | lo)", ha="right", va="center", fontsize=9)
    ax.text(-0.3, -0.5, "decoded\n(x scale)", ha="right", va="center", fontsize=9)
    ax.set_xlim(-2.5, 4 * num_bytes + 0.2)
    ax.set_ylim(-1.3, 2.7)
    ax.axis("off")
    ax.set_title("Nibble packing: low nibble (blue) = even element, high nibble (orange) = odd element")
    return fig


def error_histogram_figure(relative_errors: Mapping[str, torch.Tensor]) -> Figure:
    """Histograms of ``|quantized - x| / |x|`` per format, on a log axis."""
    fig = Figure(figsize=(7.5, 3.6), layout="constrained")
    ax = fig.subplots()
    bins = torch.logspace(-7, 0.5, 80).numpy()
    for label, error in relative_errors.items():
        ax.hist(error.clamp(min=1e-7).numpy(), bins=bins, histtype="step", linewidth=1.5, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("relative error of one weight")
    ax.set_ylabel("number of weights")
    ax.set_title("Rounding error of each format on the same weights")
    ax.legend(fontsize=8)
    return fig


def decode_cost_figure(milliseconds: Mapping[str, tuple[Sequence[int], Sequence[float]]]) -> Figure:
    """Time to produce one token against its position: ``{label: (positions, milliseconds)}``, one line each."""
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax = fig.subplots()
    for label, (positions, times) in milliseconds.items():
        ax.plot(positions, times, marker=".", markersize=4, label=label)
    ax.set_xlabel("position of the new token")
    ax.set_ylabel("milliseconds per token")
    ax.set_title("Decode cost per token")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    return fig
