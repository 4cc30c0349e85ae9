"""Routing views for notebooks: which experts each token goes to, interactively and as figures.

``RoutingExplorer``, ``ExpertLoadView``, ``CoOccurrenceView`` and ``LiveRouting`` are ipywidgets
views (see ``widgets``); each has a ``static_figure`` returning a matplotlib figure. The
numbers behind them are in ``routing_data`` (``route_text``, ``expert_load``, ...) and
``specialization`` (which expert prefers indentation, digits, English, ...). Importing this
package is light: the submodules, and ipywidgets, load on first use of a name. ``plots`` holds the
course's other figures (attention masks, RoPE, MXFP4, memory) and ``overview`` the drawn block diagram.
"""
from __future__ import annotations

import importlib

_LAZY = {
    "RoutingExplorer": "gptoss_edu.viz.widgets",
    "ExpertLoadView": "gptoss_edu.viz.widgets",
    "CoOccurrenceView": "gptoss_edu.viz.widgets",
    "LiveRouting": "gptoss_edu.viz.widgets",
    "generate_with_routing": "gptoss_edu.viz.widgets",
    "RoutedText": "gptoss_edu.viz.routing_data",
    "route_text": "gptoss_edu.viz.routing_data",
    "route_ids": "gptoss_edu.viz.routing_data",
    "expert_load": "gptoss_edu.viz.routing_data",
    "load_entropy": "gptoss_edu.viz.routing_data",
    "router_entropy": "gptoss_edu.viz.routing_data",
    "co_occurrence": "gptoss_edu.viz.routing_data",
    "expert_lift": "gptoss_edu.viz.routing_data",
    "token_classes": "gptoss_edu.viz.specialization",
    "route_long_text": "gptoss_edu.viz.specialization",
    "specialists": "gptoss_edu.viz.specialization",
    "class_lifts": "gptoss_edu.viz.specialization",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gptoss_edu.viz' has no attribute {name!r}")
