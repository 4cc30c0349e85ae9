"""Matplotlib versions of the routing views: for CI, for print, and where widgets are unavailable.

Each function takes the numbers (a ``RoutedText`` or arrays from ``routing_data``) and
returns a ``matplotlib.figure.Figure`` built with the object API (no global ``pyplot`` state,
nothing shown): display it in a notebook or ``fig.savefig(...)``. Colours match the HTML views.
"""
from __future__ import annotations

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from gptoss_edu.viz.html import expert_rgb, visible
from gptoss_edu.viz.routing_data import RoutedText, co_occurrence, expert_load, load_entropy

MAX_LABELLED_TOKENS = 80


def expert_colormap(num_experts: int) -> ListedColormap:
    return ListedColormap([expert_rgb(e, num_experts) for e in range(num_experts)])


def routing_grid_figure(routed: RoutedText, token: int = 0) -> Figure:
    """Top-1 expert per (layer, token), numbered, and token ``token``'s experts and weights per layer."""
    L, T, E = routed.num_layers, routed.num_tokens, routed.num_experts
    fig = Figure(figsize=(min(18, 2 + 0.32 * T), 1.2 + 0.45 * L + 0.3 * L))
    grid_ax, detail_ax = fig.subplots(2, 1, gridspec_kw={"height_ratios": [1, 1]})
    grid_ax.imshow(routed.top1, cmap=expert_colormap(E), vmin=-0.5, vmax=E - 0.5, aspect="auto")
    if T <= MAX_LABELLED_TOKENS:
        for layer in range(L):
            for t in range(T):
                grid_ax.text(t, layer, str(routed.top1[layer, t]), ha="center", va="center", fontsize=6)
        grid_ax.set_xticks(range(T), [visible(tok) for tok in routed.tokens], rotation=90, fontsize=7)
    grid_ax.axvline(token, color="black", linewidth=2, alpha=0.5)
    grid_ax.set_yticks(range(L), [f"L{i}" for i in range(L)])
    grid_ax.set_title("top-1 expert per layer and token")
    left = np.zeros(L)
    for slot in range(routed.experts.shape[2]):
        experts, weights = routed.experts[:, token, slot], routed.weights[:, token, slot]
        detail_ax.barh(range(L), weights, left=left, color=[expert_rgb(int(e), E) for e in experts], edgecolor="white")
        for layer, (e, w) in enumerate(zip(experts, weights)):
            detail_ax.text(left[layer] + w / 2, layer, f"E{e}", ha="center", va="center", fontsize=7)
        left += weights
    detail_ax.set_yticks(range(L), [f"L{i}" for i in range(L)])
    detail_ax.invert_yaxis()
    detail_ax.set_xlim(0, 1)
    detail_ax.set_title(f"token {token} {visible(routed.tokens[token])!r}: its experts and weights")
    fig.tight_layout()
    return fig


def expert_load_figure(routed_by_name: dict[str, RoutedText], layer: int) -> Figure:
    """Tokens per expert in ``layer`` for each text, side by side, with the routing entropy in the titles."""
    fig = Figure(figsize=(4.2 * len(routed_by_name), 3))
    axes = np.atleast_1d(fig.subplots(1, len(routed_by_name), sharey=True))
    for ax, (name, routed) in zip(axes, routed_by_name.items()):
        load = expert_load(routed, layer)
        E = load.shape[0]
        ax.bar(range(E), load, color=[expert_rgb(e, E) for e in range(E)])
        ax.axhline(1 / E, color="grey", linestyle="--", linewidth=1, label="balanced")
        ax.set_title(f"{name}: {load_entropy(load):.2f}/{np.log2(E):.2f} bits", fontsize=9)
        ax.set_xticks(range(0, E, max(1, E // 8)))
        ax.set_xlabel(f"expert (layer {layer})")
    axes[0].set_ylabel("share of assignments")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def load_balance_figure(routed_by_name: dict[str, RoutedText]) -> Figure:
    """Routing entropy of every layer for each text (the dashed line is perfect balance)."""
    fig = Figure(figsize=(5, 3))
    ax = fig.subplots()
    for name, routed in routed_by_name.items():
        ax.plot([load_entropy(expert_load(routed, layer)) for layer in range(routed.num_layers)], marker="o", label=name)
    any_routed = next(iter(routed_by_name.values()))
    ax.axhline(np.log2(any_routed.num_experts), color="grey", linestyle="--", label="balanced")
    ax.set_xlabel("layer")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # layers are whole numbers
    ax.set_ylabel("expert-load entropy (bits)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def co_occurrence_figure(routed: RoutedText) -> Figure:
    """For every layer, how many tokens chose experts ``i`` and ``j`` together (diagonal blanked, colour bar in tokens)."""
    L = routed.num_layers
    cols = min(L, 4)
    rows = -(-L // cols)
    fig = Figure(figsize=(3.2 * cols, 3 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols)).reshape(-1)
    for layer, ax in enumerate(axes):
        if layer >= L:
            ax.axis("off")
            continue
        matrix = co_occurrence(routed, layer)
        np.fill_diagonal(matrix, 0)
        image = ax.imshow(matrix, cmap="Blues")
        ax.set_title(f"layer {layer}", fontsize=9)
        ax.set_xlabel("expert j", fontsize=8)
        ax.set_ylabel("expert i", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04).set_label("tokens choosing both", fontsize=7)
    fig.tight_layout()
    return fig


def lift_figure(lifts: dict[str, np.ndarray]) -> Figure:
    """Per token class, the lift of every (layer, expert): one heatmap per class, the best cell circled."""
    cols = min(4, len(lifts))
    rows = -(-len(lifts) // cols)
    fig = Figure(figsize=(3.4 * cols, 2.6 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols)).reshape(-1)
    for ax in axes[len(lifts):]:
        ax.axis("off")
    for ax, (name, lift) in zip(axes, lifts.items()):
        image = ax.imshow(lift, cmap="magma", vmin=0, aspect="auto")
        layer, expert = np.unravel_index(int(lift.argmax()), lift.shape)
        ax.scatter([expert], [layer], s=120, facecolors="none", edgecolors="cyan", linewidths=2)
        ax.set_title(f"{name}: best L{layer} E{expert}, x{lift[layer, expert]:.1f}", fontsize=8)
        ax.set_xlabel("expert", fontsize=7)
        ax.set_ylabel("layer", fontsize=7)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        fig.colorbar(image, ax=ax, fraction=0.05).set_label("lift", fontsize=7)
    fig.tight_layout()
    return fig
