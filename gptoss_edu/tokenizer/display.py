"""Coloured token views for notebooks: each token a coloured span, its id shown on hover.

``tokens_html(tokenizer, text)`` returns an HTML string (wrap it in ``IPython.display.HTML``);
``show_tokens`` displays it directly. A token that is not valid UTF-8 on its own (one byte of
a multi-byte character, common for emoji and rare scripts) is shown as its bytes in hex, in
italics, so nothing is hidden. Whitespace is made visible: ``·`` for a space, ``↵`` for a
line break (followed by a real one), ``→`` for a tab.
"""
from __future__ import annotations

import html

from .core import SpecialSet, Tokenizer

# Pastel backgrounds that keep black text readable; neighbours always differ.
PALETTE = ("#ffd6a5", "#caffbf", "#9bf6ff", "#bdb2ff", "#ffc6ff", "#fdffb6", "#a0c4ff", "#ffadad")
_VISIBLE_WHITESPACE = {" ": "·", "\n": "↵\n", "\t": "→", "\r": "␍"}


def token_label(token: bytes) -> tuple[str, bool]:
    """What to print for one token's bytes, and whether they were valid UTF-8 on their own."""
    try:
        text = token.decode("utf-8")
    except UnicodeDecodeError:
        return token.hex(" "), False
    return "".join(_VISIBLE_WHITESPACE.get(char, char) for char in text), True


def tokens_html(tokenizer: Tokenizer, text: str, allowed_special: SpecialSet = "all") -> str:
    """HTML for ``text`` with one coloured ``<span>`` per token; hovering shows the id."""
    spans = []
    for index, (token_id, token) in enumerate(tokenizer.pieces(text, allowed_special=allowed_special)):
        label, is_text = token_label(token)
        style = f"background:{PALETTE[index % len(PALETTE)]};border-radius:3px;padding:1px 0;"
        if not is_text:
            style += "font-style:italic;font-size:80%;"
        if tokenizer.is_special_token(token_id):
            style += "font-weight:bold;outline:1px solid #555;"
        spans.append(f'<span title="id {token_id}" style="{style}">{html.escape(label)}</span>')
    n_tokens = len(spans)
    summary = f"{n_tokens} tokens, {len(text)} characters"
    return (
        '<div style="font-family:monospace;white-space:pre-wrap;line-height:1.8;color:black;">'
        + "".join(spans)
        + f'</div><div style="font-size:80%;color:#666;">{summary}</div>'
    )


def show_tokens(tokenizer: Tokenizer, text: str, allowed_special: SpecialSet = "all") -> None:
    """Display the coloured token view in a notebook (needs IPython)."""
    from IPython.display import HTML, display

    display(HTML(tokens_html(tokenizer, text, allowed_special)))
