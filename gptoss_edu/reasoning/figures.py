"""Pictures for notebook 11: the loss mask over rendered tokens, and training curves with a smoothing."""
from __future__ import annotations

from collections.abc import Sequence

TRAINED_COLOUR, CONTEXT_COLOUR = "#ffd27f", "#e8e8e8"


def draw_loss_mask(ax, token_texts: Sequence[str], mask: Sequence[bool], per_line: int = 16) -> None:
    """Lay the tokens out in rows of ``per_line`` boxes: orange where the loss counts, grey where it does not."""
    if len(token_texts) != len(mask):
        raise ValueError(f"{len(token_texts)} tokens but {len(mask)} mask entries")
    rows = (len(token_texts) + per_line - 1) // per_line
    for index, (text, trained) in enumerate(zip(token_texts, mask)):
        row, column = divmod(index, per_line)
        ax.add_patch(_box(column, rows - 1 - row, TRAINED_COLOUR if trained else CONTEXT_COLOUR))
        label = text.replace("\n", "\\n")
        ax.text(column + 0.5, rows - 1 - row + 0.45, label if len(label) <= 11 else label[:10] + "…",
                ha="center", va="center", fontsize=6.5, family="monospace")
    ax.set_xlim(0, per_line)
    ax.set_ylim(0, rows)
    ax.axis("off")


def _box(x: float, y: float, colour: str):
    from matplotlib.patches import Rectangle

    return Rectangle((x + 0.03, y + 0.05), 0.94, 0.9, facecolor=colour, edgecolor="white")


def smooth(values: Sequence[float], width: int = 10) -> list[float]:
    """Trailing moving average over ``width`` points (shorter at the start)."""
    out, total = [], 0.0
    for index, value in enumerate(values):
        total += value
        if index >= width:
            total -= values[index - width]
        out.append(total / min(index + 1, width))
    return out
