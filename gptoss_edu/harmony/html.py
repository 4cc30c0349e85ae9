"""A coloured HTML view of rendered harmony tokens, for notebooks.

Each token is a box whose colour says what it is: a control token (``<|start|>``...), the
author and recipient of a header, a channel name, or content; content is tinted by its channel
(analysis grey, commentary amber, final green), so the anatomy of an exchange shows at a glance.
Hovering a box shows the token id.
"""
from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .types import DEFAULT_CHANNELS

if TYPE_CHECKING:
    from .encoding import HarmonyEncoding

KIND_STYLES = {
    "special": "background:#334155;color:#f8fafc;font-weight:bold",
    "header": "background:#bfdbfe;color:#1e3a8a",
    "channel": "background:#e9d5ff;color:#581c87",
    "content": "background:#f1f5f9;color:#0f172a",
}
CHANNEL_STYLES = dict(zip(DEFAULT_CHANNELS, (
    "background:#e5e7eb;color:#374151;font-style:italic",
    "background:#fde68a;color:#78350f",
    "background:#bbf7d0;color:#14532d",
)))


def classify_tokens(encoding: HarmonyEncoding, tokens: Sequence[int]) -> list[tuple[str, str | None]]:
    """``(kind, channel)`` per token: kind is special, header, channel or content."""
    special = encoding.special
    kinds: list[tuple[str, str | None]] = []
    place, channel_name = "header", ""
    for token in tokens:
        if encoding.is_special_token(token):
            kinds.append(("special", None))
            if token == special.start:
                place, channel_name = "header", ""
            elif token == special.channel:
                place = "channel"
            elif token == special.message:
                place = "content"
            elif token == special.constrain:
                place = "header"
            continue
        if place == "channel":
            text = encoding.decode([token])
            if text[:1].isspace():
                place = "header"
            else:
                channel_name += text
        kinds.append((place, channel_name.strip() or None if place == "content" else None))
    return kinds


def render_tokens_html(encoding: HarmonyEncoding, tokens: Sequence[int]) -> str:
    """An HTML fragment with one coloured box per token (``IPython.display.HTML`` shows it)."""
    boxes = []
    for token, (kind, channel) in zip(tokens, classify_tokens(encoding, tokens)):
        style = CHANNEL_STYLES.get(channel or "", KIND_STYLES[kind]) if kind == "content" else KIND_STYLES[kind]
        text = encoding.decode([token])
        line_break = "<br>" if "\n" in text else ""  # the box shows ↵, the line breaks after it
        boxes.append(f'<span title="{token}" style="{style};padding:1px 2px;margin:1px;border-radius:3px;'
                     f'display:inline-block;font-family:monospace;white-space:pre">'
                     f'{html.escape(text.replace(chr(10), "↵"))}</span>{line_break}')
    return '<div style="line-height:1.9">' + "".join(boxes) + "</div>"
