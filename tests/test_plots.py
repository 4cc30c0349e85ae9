"""The figures of notebooks 03-06: each helper draws what it is given, headless, without pyplot state."""
from __future__ import annotations

import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gptoss_edu.config import GPT_OSS_20B, TINY
from gptoss_edu.model.moe import route
from gptoss_edu.model.rope import yarn_concentration_and_inv_freq
from gptoss_edu.viz import plots


def render(fig: Figure) -> Figure:
    """Draw the figure once (catches layout and data errors that only show at draw time)."""
    assert isinstance(fig, Figure)
    FigureCanvasAgg(fig).draw()
    return fig


def test_yarn_figure_draws_the_library_frequencies_and_shades_the_ramp():
    fig = render(plots.yarn_frequency_figure(GPT_OSS_20B))
    left, right = fig.axes
    _, blend = yarn_concentration_and_inv_freq(64, 150000.0, 32.0, 4096, 1.0, 32.0)
    yarn_line = next(line for line in left.get_lines() if line.get_label() == "YaRN blend")
    torch.testing.assert_close(torch.as_tensor(yarn_line.get_ydata()).double(), 2 * torch.pi / blend.double(), rtol=1e-6, atol=0)
    ramp = next(p for p in left.patches if p.get_label() == "ramp (blend)")
    x0, x1 = ramp.get_x(), ramp.get_x() + ramp.get_width()
    assert 7 < x0 < 9 < 17 < x1 < 19, (x0, x1)  # low = 8.09, high = 17.40 for gpt-oss
    assert len(right.get_lines()) == 4  # three schemes and the one-turn line


def test_yarn_figure_without_scaling_has_no_ramp():
    fig = render(plots.yarn_frequency_figure(TINY.replace(rope_scaling_factor=1.0)))
    assert not [p for p in fig.axes[0].patches if p.get_label() == "ramp (blend)"]


def test_mask_figure_shows_each_mask_and_counts_the_last_row():
    causal = torch.ones(6, 6, dtype=torch.bool).tril()
    fig = render(plots.mask_figure({"causal": causal, "window": causal & ~torch.ones(6, 6, dtype=torch.bool).tril(-3)}))
    assert len(fig.axes) == 2
    assert (fig.axes[0].images[0].get_array() == causal.int().numpy()).all()
    assert "6 keys" in fig.axes[0].get_title() and "3 keys" in fig.axes[1].get_title()


def test_sink_share_and_cache_slot_figures_draw_one_line_per_series():
    fig = render(plots.sink_share_figure({"a": torch.rand(4, 10), "b": torch.rand(4, 10)}, window=8))
    assert [len([ln for ln in ax.get_lines() if ln.get_label().startswith("head")]) for ax in fig.axes] == [4, 4]
    fig = render(plots.cache_slots_figure({"ring": [p % 4 for p in range(10)], "full": list(range(10))}))
    assert [list(ln.get_ydata()) for ln in fig.axes[0].get_lines()][0] == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]


def test_grouped_bar_figure_places_every_value():
    values = {"20b": {"a": 1.0, "b": 8.0}, "120b": {"a": 2.0, "b": 16.0}}
    fig = render(plots.grouped_bar_figure(values, "GiB", "title", log=True))
    heights = sorted(p.get_height() for p in fig.axes[0].patches)
    assert heights == [1.0, 2.0, 8.0, 16.0]


def test_routing_weights_figure_compares_the_two_orders():
    logits = torch.tensor([0.1, 2.0, -1.0, 1.5, 0.3, 1.0, -0.5, 0.0])
    fig = render(plots.routing_weights_figure(logits, 4))
    left, right = fig.axes
    orange = [i for i, p in enumerate(left.patches) if p.get_facecolor()[:3] != pytest.approx((0.733, 0.733, 0.733), abs=0.01)]
    assert orange == [1, 3, 4, 5]
    gpt_oss_bars = right.patches[:4]
    weights, _ = route(logits[None], 4)
    assert [b.get_height() for b in gpt_oss_bars] == pytest.approx(weights[0].tolist())


def test_expert_figures():
    counts = torch.tensor([[3, 0, 1, 4], [2, 2, 2, 2]])
    fig = render(plots.expert_load_figure(counts))
    assert len(fig.axes) == 2 and [p.get_height() for p in fig.axes[0].patches] == [3, 0, 1, 4]
    top = torch.tensor([[0, 31, 5], [7, 7, 2]])
    fig = render(plots.expert_map_figure(top, ["a", " b", "\n"], num_experts=32))
    assert [t.get_text() for t in fig.axes[0].texts] == ["0", "31", "5", "7", "7", "2"]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["a", " b", "\\n"]
    assert plots.expert_colors(40).N == 40 and plots.expert_colors(128).N == 128


def test_swiglu_and_dispatch_figures():
    fig = render(plots.swiglu_figure())
    gate_line = fig.axes[0].get_lines()[1]
    assert max(gate_line.get_ydata()) == pytest.approx(7.0 * torch.sigmoid(torch.tensor(1.702 * 7.0)).item())
    indices = torch.tensor([[0, 2], [1, 2], [3, 0]])
    weights = torch.tensor([[0.6, 0.4], [0.5, 0.5], [0.9, 0.1]])
    fig = render(plots.dispatch_figure(indices, weights, num_experts=4))
    table = fig.axes[0].images[0].get_array()
    assert table[0, 0] == pytest.approx(0.6) and table[2, 3] == pytest.approx(0.9) and table[1, 0] == 0


def test_nibble_figure_labels_low_nibble_as_even_element():
    block = torch.tensor([0x71, 0x40, 0x6F, 0xB6] + [0] * 12, dtype=torch.uint8)
    values = [float(v) for v in range(32)]
    fig = render(plots.nibble_packing_figure(block, values, num_bytes=2))
    texts = [t.get_text() for t in fig.axes[0].texts if t.get_text()]  # arrows are empty annotations
    assert texts[:2] == ["0001", "x[0]\n0"] and texts[2:4] == ["0111", "x[1]\n1"]
    assert "byte 0 = 0x71" in texts


def test_error_and_decode_cost_figures():
    fig = render(plots.error_histogram_figure({"a": torch.rand(100), "b": torch.rand(100) * 1e-3}))
    assert fig.axes[0].get_xscale() == "log" and len(fig.axes[0].patches) == 2
    fig = render(plots.decode_cost_figure({"cached": ([1, 2, 3], [1.0, 1.1, 0.9]), "recompute": ([2], [5.0])}))
    assert [list(ln.get_xdata()) for ln in fig.axes[0].get_lines()] == [[1, 2, 3], [2]]
