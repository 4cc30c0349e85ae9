"""Notebook 00's pictures and tables: every number drawn is the config's."""
from __future__ import annotations

from matplotlib.figure import Figure

from gptoss_edu.config import GPT_OSS_20B, GPT_OSS_120B, TINY, checkpoint_bytes, parameter_count
from gptoss_edu.viz.overview import (
    COMMON_GPUS,
    GIB,
    architecture_figure,
    component_share_figure,
    gpu_budget_figure,
    markdown_table,
    memory_figure,
    size_breakdown_figure,
    stored_vs_bf16_figure,
)


def texts(fig: Figure) -> str:
    return "\n".join(t.get_text() for ax in fig.axes for t in ax.texts)


def test_architecture_figure_writes_in_the_configs_sizes():
    fig = architecture_figure(TINY)
    drawn = texts(fig)
    assert "4 query heads share 2 KV heads" in drawn
    assert "top-4 of 8 expert logits" in drawn
    assert "sliding window 8 on even layers" in drawn
    assert "× 2 blocks" in drawn
    assert "embedding  201,088 × 64" in drawn
    assert fig.axes[0].get_title() == "tiny: one forward pass"


def test_size_breakdown_labels_each_bar_with_the_total():
    fig = size_breakdown_figure([GPT_OSS_20B, GPT_OSS_120B])
    params, per_token = fig.axes
    totals = [float(t.get_text()) for t in params.texts]
    assert totals == [round(parameter_count(c)["total"] / 1e9, 2) for c in (GPT_OSS_20B, GPT_OSS_120B)]
    assert [round(float(t.get_text()), 1) for t in per_token.texts] == [3.7, 5.0]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["embedding", "attention", "router and norms", "experts", "unembedding"]


def test_memory_figure_draws_each_model_and_gpu():
    fig = memory_figure([GPT_OSS_20B], contexts=(1024,), gpus={"card": 20})
    ax = fig.axes[0]
    weights = [bar.get_height() for bar in ax.patches][::2]  # weights, then the KV cache segment, per bar
    assert weights == [checkpoint_bytes(GPT_OSS_20B) / GIB, parameter_count(GPT_OSS_20B)["total"] * 2 / GIB]
    assert [line.get_ydata()[0] for line in ax.lines] == [20]
    assert "card" in texts(fig)
    assert all("GiB" in name for name in COMMON_GPUS)  # the axis unit, not a mix of GB and GiB


def test_markdown_table():
    assert markdown_table(["a", "b"], [[1, 2], ["x", None]]) == "| a | b |\n|---|---|\n| 1 | 2 |\n| x | None |"


def test_gpu_budget_figure_stacks_the_budget_in_gib():
    budget = {"weights": 10 * GIB, "kv_cache": 1 * GIB, "prefill": 0.5 * GIB, "total": 11.5 * GIB}
    fig = gpu_budget_figure({"m": budget}, {"card (24 GiB)": 24})
    ax = fig.axes[0]
    assert [bar.get_width() for bar in ax.patches] == [10, 1, 0.5]
    assert [line.get_xdata()[0] for line in ax.lines] == [24]
    assert ax.get_xlabel() == "GiB" and "card (24 GiB)" in texts(fig) and "11.5 GiB" in texts(fig)


def test_stored_vs_bf16_figure_shows_what_mxfp4_saves():
    fig = stored_vs_bf16_figure(GPT_OSS_20B)
    drawn = texts(fig)
    assert "4.25 bits/param" in drawn and "16.00 bits/param" in drawn
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert set(labels) == {"embedding", "attention", "router", "experts", "norms", "unembedding"}


def test_component_share_figure_draws_fractions():
    fig = component_share_figure({"a": {"x": 3.0, "y": 1.0}, "b": {"x": 1.0, "y": 1.0}})
    heights = [bar.get_height() for bar in fig.axes[0].patches]
    assert heights == [0.75, 0.25, 0.5, 0.5]
