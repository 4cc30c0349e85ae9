"""Routing views: the numbers behind them, their HTML, the widgets (without a browser) and the static figures."""
from __future__ import annotations

import io
import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from gptoss_edu.exercises import ExerciseError
from gptoss_edu.exercises.routing import check_co_occurrence, check_expert_load, check_load_balancing_loss
from gptoss_edu.training import nano
from gptoss_edu.viz import figures
from gptoss_edu.viz.html import grid_html, heatmap_html, shown_token, token_detail_html
from gptoss_edu.viz.routing_data import (
    RoutedText,
    co_occurrence,
    expert_lift,
    expert_load,
    load_entropy,
    route_ids,
    route_text,
    router_entropy,
)
from gptoss_edu.viz.specialization import character_classes, specialists, token_classes

CODE = "def area(r):\n    return 3.14 * r ** 2  # circle\n"


@pytest.fixture(scope="module")
def nano_model():
    return nano.load_nano()


@pytest.fixture(scope="module")
def routed(nano_model):
    model, tokenizer = nano_model
    return route_text(model, tokenizer, CODE)


def fake_routing(experts: list[list[list[int]]], num_experts: int) -> RoutedText:
    e = np.array(experts)  # (L, T, k)
    L, T, k = e.shape
    return RoutedText(tokens=tuple(f"t{i}" for i in range(T)), ids=tuple(range(T)), experts=e,
                      weights=np.full((L, T, k), 1 / k), router_logits=np.zeros((L, T, num_experts)))


def test_import_is_light():
    code = ("import sys, json, gptoss_edu.viz; "
            "print(json.dumps([m for m in ('ipywidgets', 'matplotlib', 'torch') if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert json.loads(out.stdout) == []


def test_route_text_shapes_and_tokens(routed, nano_model):
    model, tokenizer = nano_model
    c = model.config
    assert routed.experts.shape == routed.weights.shape == (c.num_hidden_layers, routed.num_tokens, c.experts_per_token)
    assert routed.router_logits.shape == (c.num_hidden_layers, routed.num_tokens, c.num_experts)
    assert "".join(routed.tokens) == CODE
    np.testing.assert_allclose(routed.weights.sum(-1), 1, atol=1e-5)
    # the chosen experts are the top-k of the recorded logits, best first
    top = np.argsort(-routed.router_logits, axis=-1)[..., : c.experts_per_token]
    assert np.array_equal(top, routed.experts)


def test_statistics_on_known_routing():
    r = fake_routing([[[0, 1], [0, 2], [0, 1]]], num_experts=4)  # 1 layer, 3 tokens, top-2
    np.testing.assert_allclose(expert_load(r, 0), [3 / 6, 2 / 6, 1 / 6, 0])
    assert load_entropy(np.full(4, 0.25)) == pytest.approx(2.0)
    m = co_occurrence(r, 0)
    assert m[0, 1] == m[1, 0] == 2 and m[0, 2] == 1 and m[1, 2] == 0
    assert list(np.diag(m)) == [3, 2, 1, 0]
    lift = expert_lift(r, np.array([False, True, False]))  # token 1 chose 0 and 2
    np.testing.assert_allclose(lift[0], [1.0, 0.0, 3.0, 0.0])
    assert router_entropy(r)[0] == pytest.approx(np.full(3, 2.0))  # all-zero logits: uniform over 4


def test_grid_html_has_one_column_per_token_and_escapes(routed):
    page = grid_html(routed, selected_token=2, selected_layer=1)
    tokens = re.findall(r'class="gx-tok" data-token="([^"]*)"', page)
    assert len(tokens) == routed.num_tokens
    assert page.count('class="gx-cell"') == routed.num_layers * routed.num_tokens
    assert shown_token("<b>\n") == "&lt;b&gt;↵"
    detail = token_detail_html(routed, 2)
    for e in routed.experts[:, 2].reshape(-1):
        assert f"E{e} " in detail
    assert heatmap_html(np.eye(3), "x").count("<td") == 9


def test_explorer_widget_reroutes_and_selects(nano_model):
    from gptoss_edu.viz import RoutingExplorer

    model, tokenizer = nano_model
    explorer = RoutingExplorer(model, tokenizer, text="a = 1")
    explorer.prompt.value = "for i in range(3):\n    pass"
    explorer.run_button.click()
    assert "".join(explorer.routed.tokens) == explorer.prompt.value
    assert explorer.grid.value.count('class="gx-tok"') == explorer.routed.num_tokens
    assert explorer.token.max == explorer.routed.num_tokens - 1
    explorer.select(token=3, layer=2)
    assert "token 3:" in explorer.detail.value
    assert explorer.grid.value == grid_html(explorer.routed, 3, 2)


def test_load_and_cooccurrence_views(nano_model):
    from gptoss_edu.viz import CoOccurrenceView, ExpertLoadView

    model, tokenizer = nano_model
    view = ExpertLoadView(model, tokenizer, {"code": CODE, "prose": "The cat sat on the mat."})
    view.layer.value = 3
    assert view.panels.value.count('class="gx-load"') == 2
    co = CoOccurrenceView(model, tokenizer, CODE)
    co.layer.value = 1
    assert "layer 1" in co.matrix.value


def test_live_routing_matches_one_full_pass(nano_model):
    from gptoss_edu.viz import LiveRouting

    model, tokenizer = nano_model
    frames = []
    live = LiveRouting(model, tokenizer, prompt="import ", max_new_tokens=6, stop_tokens=[])
    live._show = lambda r: frames.append(r.num_tokens)  # record each redraw instead of drawing
    new_ids = live.generate()
    prompt_len = len(tokenizer.encode("import "))
    assert len(new_ids) == 6 and live.routed.num_tokens == prompt_len + 5
    assert frames[:-1] == list(range(prompt_len, prompt_len + 6))  # the grid grows one token per step
    full = route_ids(model, tokenizer, live.routed.ids)
    assert np.array_equal(full.experts, live.routed.experts)


def _png_bytes(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=30)
    return buffer.getvalue()


def test_static_figures_render(routed):
    from gptoss_edu.viz.widgets import CoOccurrenceView, ExpertLoadView, LiveRouting, RoutingExplorer

    both = {"a": routed, "b": routed}
    for fig in (RoutingExplorer.static_figure(routed, token=1), ExpertLoadView.static_figure(both, layer=0),
                ExpertLoadView.balance_figure(both), CoOccurrenceView.static_figure(routed),
                LiveRouting.static_figure(routed), figures.lift_figure({"x": np.ones((4, 16))})):
        assert _png_bytes(fig).startswith(b"\x89PNG")


def test_character_classes_follow_python_tokenize():
    source = 'def f(x):\n    """Add one."""\n    return x + 10  # done\n'
    labels = character_classes(source)
    at = lambda text, nth=0: labels[[m.start() for m in re.finditer(re.escape(text), source)][nth]]  # noqa: E731
    assert at("def") == "keyword" and at("f(") == "identifier" and at("(") == "operator"
    assert at("    ") == "indentation" and at("Add") == "english" and at("10") == "number"
    assert at("# done") == "english" and at("\n") == "newline"
    assert character_classes('s = "abc')[2] == "operator"  # a cut-off string: labelled up to it


def test_token_classes_and_specialists(nano_model):
    model, tokenizer = nano_model
    source = nano.read_capped(nano.stdlib_dir() / "textwrap.py", 2500)
    r = route_ids(model, tokenizer, tokenizer.encode(source))
    labels = token_classes(tokenizer, source, list(r.ids))
    assert len(labels) == r.num_tokens and {"indentation", "identifier", "english"} <= set(labels)
    found = specialists(r, labels, min_count=10)
    assert found and all(s.lift >= 1 for s in found)
    assert [s.lift for s in found] == sorted((s.lift for s in found), reverse=True)


def test_exercise_checkers_accept_the_library_and_reject_mistakes():
    check_expert_load(lambda e, n: torch.bincount(e.reshape(-1), minlength=n).double() / e.numel())
    with pytest.raises(ExerciseError):
        check_expert_load(lambda e, n: torch.bincount(e[:, 0], minlength=n).double() / e.shape[0])  # top-1 only
    def one_hot_co(e, n):
        m = torch.zeros(e.shape[0], n, dtype=torch.float64).scatter_(1, e, 1.0)
        return m.T @ m
    check_co_occurrence(one_hot_co)
    with pytest.raises(ExerciseError):
        check_co_occurrence(lambda e, n: one_hot_co(e, n).fill_diagonal_(0))
    with pytest.raises(ExerciseError):
        check_load_balancing_loss(lambda logits, idx: torch.softmax(logits, -1).mean(0).pow(2).sum())


def test_co_occurrence_figure_has_colour_bars_and_axis_labels(routed):
    fig = figures.co_occurrence_figure(routed)
    panels = [ax for ax in fig.axes if ax.get_title().startswith("layer")]
    assert len(panels) == routed.num_layers
    assert all(ax.get_xlabel() == "expert j" and ax.get_ylabel() == "expert i" for ax in panels)
    bars = [ax for ax in fig.axes if ax.get_ylabel() == "tokens choosing both"]
    assert len(bars) == routed.num_layers


def test_layer_axes_have_whole_number_ticks(routed):
    fig = figures.load_balance_figure({"a": routed})
    fig.canvas.draw()
    ticks = [t for t in fig.axes[0].get_xticks() if 0 <= t <= routed.num_layers - 1]
    assert ticks and all(float(t).is_integer() for t in ticks)
    lift = figures.lift_figure({"x": np.ones((4, 16))})
    lift.canvas.draw()
    assert all(float(t).is_integer() for t in lift.axes[0].get_yticks())
