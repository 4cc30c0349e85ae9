"""HTML/CSS renderings of routing: fast to redraw (a string, no image), readable in any notebook front end.

Every function returns a self-contained HTML fragment (inline styles, no scripts), so an
``ipywidgets.HTML`` can show it and a click redraws in milliseconds. Hovering a grid cell
shows its experts and weights (the ``title`` attribute). Class names start with ``gx-`` so
tests and browsers can find the parts: ``gx-grid`` (with ``data-tokens``), ``gx-tok``
(one per token column, with the token in ``data-token``), ``gx-cell``, ``gx-detail``.
"""
from __future__ import annotations

import colorsys
import html

import numpy as np

from gptoss_edu.viz.routing_data import RoutedText

GOLDEN_ANGLE = 0.381966  # hue step (as a fraction of the circle) that keeps neighbouring ids apart
VISIBLE_WHITESPACE = {" ": "·", "\n": "↵", "\t": "→", "\r": "␍"}
CELL = "min-width:22px;height:18px;text-align:center;font:11px monospace;padding:0 2px;"


def expert_rgb(expert: int, num_experts: int) -> tuple[float, float, float]:
    """A distinct colour per expert id: hues evenly spread for up to 16 experts, golden-angle steps beyond."""
    hue = expert / num_experts if num_experts <= 16 else (expert * GOLDEN_ANGLE) % 1.0
    lightness = 0.62 if num_experts <= 16 else (0.55, 0.7, 0.42)[expert % 3]
    return colorsys.hls_to_rgb(hue, lightness, 0.65)


def expert_css(expert: int, num_experts: int) -> str:
    r, g, b = (round(255 * c) for c in expert_rgb(expert, num_experts))
    return f"rgb({r},{g},{b})"


def visible(token: str) -> str:
    """A token with whitespace shown as symbols and other invisible characters as escapes (``∅`` if empty)."""
    shown = "".join(VISIBLE_WHITESPACE.get(c, c if c.isprintable() else f"\\x{ord(c):02x}") for c in token)
    return shown or "∅"


def shown_token(token: str) -> str:
    """A token as it should read in a cell: ``visible`` and HTML-escaped."""
    return html.escape(visible(token))


def _cell_title(routed: RoutedText, layer: int, t: int) -> str:
    picks = ", ".join(f"E{e} {w:.2f}" for e, w in zip(routed.experts[layer, t], routed.weights[layer, t]))
    return html.escape(f"layer {layer}, token {t} {routed.tokens[t]!r}: {picks}", quote=True)


def grid_html(routed: RoutedText, selected_token: int | None = None, selected_layer: int | None = None) -> str:
    """The token-by-layer grid: one column per token, one row per layer, coloured by the top-1 expert."""
    E = routed.num_experts
    head = "".join(
        f'<th class="gx-tok" data-token="{html.escape(tok, quote=True)}" style="{CELL}font-weight:normal;'
        f'{"background:#ffe08a;" if t == selected_token else ""}">{shown_token(tok)}</th>'
        for t, tok in enumerate(routed.tokens)
    )
    rows = []
    for layer in range(routed.num_layers):
        mark = "outline:2px solid #333;" if layer == selected_layer else ""
        cells = "".join(
            f'<td class="gx-cell" title="{_cell_title(routed, layer, t)}" style="{CELL}'
            f'background:{expert_css(int(e), E)};{"border:2px solid #000;" if t == selected_token else ""}">{int(e)}</td>'
            for t, e in enumerate(routed.top1[layer])
        )
        rows.append(f'<tr style="{mark}"><th style="{CELL}text-align:right">L{layer}</th>{cells}</tr>')
    return (
        f'<div class="gx-grid" data-tokens="{routed.num_tokens}" style="overflow-x:auto;max-width:100%">'
        f'<table style="border-collapse:collapse"><tr><th style="{CELL}"></th>{head}</tr>{"".join(rows)}</table></div>'
    )


def token_detail_html(routed: RoutedText, t: int) -> str:
    """Token ``t``'s ``k`` experts and weights in every layer, as weight-proportional coloured bars."""
    E = routed.num_experts
    rows = []
    for layer in range(routed.num_layers):
        bars = "".join(
            f'<span style="display:inline-block;width:{max(3, round(240 * w))}px;background:{expert_css(int(e), E)};'
            f'font:11px monospace;white-space:nowrap;overflow:hidden">E{int(e)} {w:.2f}</span>'
            for e, w in zip(routed.experts[layer, t], routed.weights[layer, t])
        )
        rows.append(f'<div><span style="font:11px monospace;display:inline-block;width:30px">L{layer}</span>{bars}</div>')
    title = f"token {t}: <code>{shown_token(routed.tokens[t])}</code> (id {routed.ids[t]})"
    return f'<div class="gx-detail"><div style="margin:4px 0">{title}</div>{"".join(rows)}</div>'


def load_bars_html(load: np.ndarray, title: str, entropy_bits: float) -> str:
    """Vertical bars of an expert-load distribution ``(E,)`` with its entropy against the balanced maximum."""
    E = load.shape[0]
    tallest = max(float(load.max()), 1e-12)
    bars = "".join(
        f'<div title="E{e}: {p:.1%}" style="display:inline-block;vertical-align:bottom;width:{max(3, 320 // E)}px;'
        f'height:{round(100 * p / tallest)}px;background:{expert_css(e, E)};margin-right:1px"></div>'
        for e, p in enumerate(load)
    )
    summary = f"entropy {entropy_bits:.2f} of {np.log2(E):.2f} bits; busiest E{int(load.argmax())} {load.max():.1%}"
    return (f'<div class="gx-load" style="display:inline-block;margin:4px 12px"><div><b>{html.escape(title)}</b></div>'
            f'<div style="height:104px;display:flex;align-items:flex-end">{bars}</div>'
            f'<div style="font:11px monospace">{summary}</div></div>')


def heatmap_html(matrix: np.ndarray, title: str) -> str:
    """A square matrix as a grey heatmap table with row and column numbers (used for co-occurrence)."""
    top = max(float(matrix.max()), 1e-12)
    n = matrix.shape[0]
    head = "".join(f'<th style="{CELL}">{j}</th>' for j in range(n))
    rows = []
    for i in range(n):
        cells = "".join(
            f'<td title="E{i} with E{j}: {int(v)}" style="{CELL}background:rgba(40,70,160,{v / top:.3f});'
            f'color:{"#fff" if v / top > 0.55 else "#000"}">{int(v) if v else ""}</td>'
            for j, v in enumerate(matrix[i])
        )
        rows.append(f'<tr><th style="{CELL}">{i}</th>{cells}</tr>')
    return (f'<div class="gx-heatmap"><div><b>{html.escape(title)}</b></div><table style="border-collapse:collapse">'
            f'<tr><th></th>{head}</tr>{"".join(rows)}</table></div>')
