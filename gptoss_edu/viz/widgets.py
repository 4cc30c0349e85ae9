"""Interactive routing views (ipywidgets), each with a ``static_figure`` for CI and print.

- ``RoutingExplorer(model, tokenizer)``: prompt, run button, token-by-layer grid coloured
  by the top-1 expert, a token selector showing its experts and weights in every layer,
  and a layer selector (that layer's row is outlined).
- ``ExpertLoadView(model, tokenizer, texts)``: tokens per expert for a layer, the entropy of
  that load and the router's mean per-token entropy, for texts side by side (code, prose...).
- ``CoOccurrenceView(model, tokenizer, text)``: per layer, which experts are chosen together.
- ``LiveRouting(model, tokenizer)``: generate, and watch the grid grow as tokens stream.

The views redraw as HTML strings (see ``gptoss_edu.viz.html``), which takes milliseconds
for the nano model; ``ipywidgets`` is imported only when a view is built. ``model`` is any
``gptoss_edu.model.transformer.Transformer`` (the nano model on a CPU or gpt-oss-120b on a GPU);
``tokenizer`` has ``encode``/``decode``.
"""
from __future__ import annotations

from matplotlib.figure import Figure

from gptoss_edu.viz import figures
from gptoss_edu.viz.html import grid_html, heatmap_html, load_bars_html, token_detail_html
from gptoss_edu.viz.routing_data import (
    RoutedText,
    co_occurrence,
    expert_load,
    load_entropy,
    route_text,
    routed_from_record,
    router_entropy,
)

DEFAULT_PROMPT = "def parse(text):\n    return [int(x) for x in text.split(',')]  # numbers"


class _View:
    """Shared plumbing: the root ``widget`` and notebook display."""

    widget = None

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def _layer_options(num_layers: int) -> list[tuple[str, int]]:
    return [(f"layer {i}", i) for i in range(num_layers)]


class RoutingExplorer(_View):
    """Type a prompt, press run, click through tokens and layers (see the module docstring)."""

    def __init__(self, model, tokenizer, text: str = DEFAULT_PROMPT):
        import ipywidgets as w

        self.model, self.tokenizer = model, tokenizer
        self.prompt = w.Textarea(value=text, description="prompt", layout=w.Layout(width="95%", height="60px"))
        self.prompt.add_class("gx-prompt")
        self.run_button = w.Button(description="run", button_style="primary")
        self.run_button.add_class("gx-run")
        self.token = w.IntSlider(value=0, min=0, max=0, description="token", continuous_update=True)
        self.layer = w.Dropdown(options=_layer_options(model.config.num_hidden_layers), value=0, description="layer")
        self.grid, self.detail = w.HTML(), w.HTML()
        self.grid.add_class("gx-grid-widget")
        self.run_button.on_click(lambda _: self.run())
        self.token.observe(lambda _: self.redraw(), names="value")
        self.layer.observe(lambda _: self.redraw(), names="value")
        self.widget = w.VBox([self.prompt, w.HBox([self.run_button, self.token, self.layer]), self.grid, self.detail])
        self.routed: RoutedText | None = None
        self.run()

    def run(self, text: str | None = None) -> RoutedText:
        """Route ``text`` (default: the prompt box), reset the token selector, redraw."""
        if text is not None:
            self.prompt.value = text
        self.routed = route_text(self.model, self.tokenizer, self.prompt.value)
        with self.token.hold_trait_notifications():
            self.token.max = self.routed.num_tokens - 1
            self.token.value = min(self.token.value, self.token.max)
        self.redraw()
        return self.routed

    def select(self, token: int | None = None, layer: int | None = None) -> None:
        """Select a token and/or a layer (what the sliders do); the views redraw."""
        if token is not None:
            self.token.value = token
        if layer is not None:
            self.layer.value = layer

    def redraw(self) -> None:
        self.grid.value = grid_html(self.routed, self.token.value, self.layer.value)
        self.detail.value = token_detail_html(self.routed, self.token.value)

    @staticmethod
    def static_figure(routed: RoutedText, token: int = 0) -> Figure:
        """The grid and token ``token``'s experts as a matplotlib figure."""
        return figures.routing_grid_figure(routed, token)


class ExpertLoadView(_View):
    """Tokens per expert and routing entropy for a layer, one panel per text (``{name: text}``)."""

    def __init__(self, model, tokenizer, texts: dict[str, str]):
        import ipywidgets as w

        self.routed = {name: route_text(model, tokenizer, text) for name, text in texts.items()}
        self.layer = w.Dropdown(options=_layer_options(model.config.num_hidden_layers), value=0, description="layer")
        self.panels = w.HTML()
        self.layer.observe(lambda _: self.redraw(), names="value")
        self.widget = w.VBox([self.layer, self.panels])
        self.redraw()

    def redraw(self) -> None:
        parts = []
        layer = self.layer.value
        for name, routed in self.routed.items():
            load = expert_load(routed, layer)
            confidence = router_entropy(routed)[layer].mean()  # per token: how spread the router's softmax is
            title = f"{name} ({routed.num_tokens} tokens, mean router entropy {confidence:.2f} bits)"
            parts.append(load_bars_html(load, title, load_entropy(load)))
        self.panels.value = "<div>" + "".join(parts) + "</div>"

    @staticmethod
    def static_figure(routed_by_name: dict[str, RoutedText], layer: int = 0) -> Figure:
        """Expert load of ``layer`` per text, side by side."""
        return figures.expert_load_figure(routed_by_name, layer)

    @staticmethod
    def balance_figure(routed_by_name: dict[str, RoutedText]) -> Figure:
        """Routing entropy of every layer, one line per text."""
        return figures.load_balance_figure(routed_by_name)


class CoOccurrenceView(_View):
    """Which experts are picked together for the same token, per layer."""

    def __init__(self, model, tokenizer, text: str):
        import ipywidgets as w

        self.routed = route_text(model, tokenizer, text)
        self.layer = w.Dropdown(options=_layer_options(self.routed.num_layers), value=0, description="layer")
        self.matrix = w.HTML()
        self.layer.observe(lambda _: self.redraw(), names="value")
        self.widget = w.VBox([self.layer, self.matrix])
        self.redraw()

    def redraw(self) -> None:
        matrix = co_occurrence(self.routed, self.layer.value)
        title = f"layer {self.layer.value}: tokens that chose both experts (diagonal: tokens per expert)"
        self.matrix.value = heatmap_html(matrix, title)

    @staticmethod
    def static_figure(routed: RoutedText) -> Figure:
        return figures.co_occurrence_figure(routed)


def generate_with_routing(model, tokenizer, prompt: str, max_new_tokens: int, stop_tokens=None, on_token=None
                          ) -> tuple[RoutedText, list[int]]:
    """Generate greedily from ``prompt`` while recording routing; return ``(routing, new token ids)``.

    ``on_token(routed_so_far)`` is called after each new token. The routing covers every token
    the model has read: the prompt and all generated tokens but the last (not fed back yet).
    """
    from gptoss_edu.model.generation import generate
    from gptoss_edu.model.routing import capture_routing

    prompt_ids = tokenizer.encode(prompt, disallowed_special=())
    new_ids: list[int] = []
    with capture_routing(model) as record:
        for token in generate(model, prompt_ids, max_new_tokens, stop_tokens=stop_tokens):
            new_ids.append(token)
            if on_token is not None:
                on_token(routed_from_record(record, tokenizer, (prompt_ids + new_ids)[: record.num_tokens]))
        routed = routed_from_record(record, tokenizer, (prompt_ids + new_ids)[: record.num_tokens])
    return routed, new_ids


class LiveRouting(_View):
    """Generate from a prompt and watch the routing grid grow token by token."""

    def __init__(self, model, tokenizer, prompt: str = "import ", max_new_tokens: int = 24, stop_tokens=None):
        import ipywidgets as w

        self.model, self.tokenizer, self.stop_tokens = model, tokenizer, stop_tokens
        self.prompt = w.Text(value=prompt, description="prompt")
        self.max_new_tokens = w.IntSlider(value=max_new_tokens, min=1, max=256, description="new tokens")
        self.generate_button = w.Button(description="generate", button_style="primary")
        self.text, self.grid = w.HTML(), w.HTML()
        self.generate_button.on_click(lambda _: self.generate())
        self.widget = w.VBox([w.HBox([self.prompt, self.max_new_tokens, self.generate_button]), self.text, self.grid])
        self.routed: RoutedText | None = None

    def generate(self) -> list[int]:
        """Run generation, redrawing after every token; return the new token ids."""
        self.routed, new_ids = generate_with_routing(
            self.model, self.tokenizer, self.prompt.value, self.max_new_tokens.value, self.stop_tokens, self._show
        )
        self._show(self.routed)
        return new_ids

    def _show(self, routed: RoutedText) -> None:
        self.text.value = f"<pre>{''.join(routed.tokens)}</pre>"
        self.grid.value = grid_html(routed, selected_token=routed.num_tokens - 1)

    @staticmethod
    def static_figure(routed: RoutedText) -> Figure:
        """The grid of a finished generation, the last token selected."""
        return figures.routing_grid_figure(routed, token=routed.num_tokens - 1)

