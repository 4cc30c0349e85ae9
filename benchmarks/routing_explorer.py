"""Click-to-redraw time of the routing explorer on gpt-oss-nano, CPU, 64-token prompt (goal: < 200 ms).

    python benchmarks/routing_explorer.py

Measured in the kernel, without a browser: the Python side of a click (the widget callback
building the new HTML; sending it and the browser's layout add a few ms). Three actions:
- select a token (the token slider): redraw grid + token detail;
- select a layer (the layer selector): same redraw;
- run (the run button): route the prompt through the model, then redraw.
The peer is what a matplotlib-based widget would do on the same click: rebuild the figure
(``RoutingExplorer.static_figure``) and render it to PNG. Medians over repeated clicks.
"""
from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable

import torch

from gptoss_edu.training import nano
from gptoss_edu.viz import RoutingExplorer

PROMPT_TOKENS = 64
GOAL_MS = 200.0


def median_ms(action: Callable[[int], object], repeats: int) -> float:
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        action(i)
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def matplotlib_redraw(routed, token: int) -> None:
    fig = RoutingExplorer.static_figure(routed, token=token)
    fig.savefig(io.BytesIO(), format="png")


def main() -> None:
    torch.set_num_threads(1)
    model, tokenizer = nano.load_nano()
    prompt = tokenizer.decode(tokenizer.encode(nano.heldout_text())[:PROMPT_TOKENS])
    explorer = RoutingExplorer(model, tokenizer, prompt)
    routed = explorer.routed
    layers = model.config.num_hidden_layers
    rows = [
        ("select a token", median_ms(lambda i: explorer.select(token=(i * 7) % routed.num_tokens), 40),
         median_ms(lambda i: matplotlib_redraw(routed, (i * 7) % routed.num_tokens), 5)),
        ("select a layer", median_ms(lambda i: explorer.select(layer=i % layers), 40),
         median_ms(lambda i: matplotlib_redraw(routed, 0), 5)),
        ("run (route + redraw)", median_ms(lambda i: explorer.run(), 10),
         median_ms(lambda i: (explorer.run(), matplotlib_redraw(explorer.routed, 0)), 5)),
    ]
    print(f"routing explorer, gpt-oss-nano on CPU (1 thread), {routed.num_tokens}-token prompt, "
          f"{layers} layers x {model.config.num_experts} experts; median ms per click")
    print(f"{'action':<22} {'HTML widget (ours)':>19} {'matplotlib redraw':>18} {'ratio':>7}  goal < {GOAL_MS:.0f} ms")
    for name, ours, peer in rows:
        verdict = "ok" if ours < GOAL_MS else "SLOW"
        print(f"{name:<22} {ours:>19.1f} {peer:>18.1f} {peer / ours:>6.1f}x  {verdict}")


if __name__ == "__main__":
    main()
