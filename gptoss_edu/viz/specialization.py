"""Do experts specialise? Label each token of Python source by what it is, then find the expert each kind prefers.

Labels come from Python's own ``tokenize`` module, character by character, so they are
facts about the text and not guesses about tokens:

- ``indentation``: the leading whitespace of a line; ``newline``: a token that is only line breaks;
- ``keyword`` (``def``, ``return``, ...), ``identifier`` (other names), ``number``, ``operator``
  (punctuation such as ``(``, ``:``, ``=``);
- ``english``: inside a comment or a triple-quoted (doc)string; ``string``: other string literals.

A BPE token takes the label of its first character that is not plain whitespace. For each
label, ``expert_lift`` compares how often each (layer, expert) is chosen for those tokens
with how often it is chosen overall; ``specialists`` returns the best expert per label.
"""
from __future__ import annotations

import io
import keyword
import tokenize
from dataclasses import dataclass

import numpy as np

from gptoss_edu.viz.routing_data import RoutedText, expert_lift, routed_from_record

TOKEN_CLASSES = ("indentation", "newline", "keyword", "identifier", "number", "operator", "english", "string")
_SPACE, _NEWLINE = "space", "newline"


def _python_token_class(tok: tokenize.TokenInfo) -> str | None:
    if tok.type == tokenize.NAME:
        return "keyword" if keyword.iskeyword(tok.string) else "identifier"
    if tok.type == tokenize.NUMBER:
        return "number"
    if tok.type == tokenize.OP:
        return "operator"
    if tok.type == tokenize.COMMENT:
        return "english"
    if tok.type == tokenize.STRING:
        return "english" if tok.string.lstrip("rRbBuUfF").startswith(('"""', "'''")) else "string"
    return None  # NEWLINE, NL, INDENT, DEDENT, ENDMARKER: whitespace, labelled below


def character_classes(source: str) -> list[str]:
    """The label of every character of Python ``source`` (see the module docstring).

    An excerpt that ends inside a string or bracket is labelled up to that construct.
    """
    line_starts = [0]
    for line in source.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))
    classes = [_NEWLINE if c in "\r\n" else _SPACE for c in source]
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            label = _python_token_class(tok)
            if label is not None:
                start = line_starts[tok.start[0] - 1] + tok.start[1]
                end = line_starts[tok.end[0] - 1] + tok.end[1]
                classes[start:end] = [label] * (end - start)
    except (tokenize.TokenError, IndentationError):
        pass  # a cut-off excerpt: what came before the unfinished construct is labelled
    for start in line_starts[:-1]:
        i = start
        while i < len(source) and source[i] in " \t" and classes[i] == _SPACE:
            classes[i] = "indentation"
            i += 1
    return classes


def token_classes(tokenizer, source: str, ids: list[int]) -> np.ndarray:
    """``(T,)`` label of each BPE token of ``source`` (``ids`` must encode exactly ``source``)."""
    chars = character_classes(source)
    char_of_byte = np.repeat(np.arange(len(source)), [len(c.encode("utf-8")) for c in source])
    labels, offset = [], 0
    for token_bytes in tokenizer.decode_tokens_bytes(ids):
        covered = [chars[i] for i in sorted(set(char_of_byte[offset:offset + len(token_bytes)].tolist()))]
        offset += len(token_bytes)
        labels.append(next((c for c in covered if c not in (_SPACE, _NEWLINE)), _NEWLINE if _NEWLINE in covered else _SPACE))
    if offset != len(char_of_byte):
        raise ValueError(f"the ids decode to {offset} bytes but the source has {len(char_of_byte)}")
    return np.array(labels)


def route_long_text(model, tokenizer, text: str, window: int = 256) -> RoutedText:
    """Routing of a text of any length, run in independent windows of ``window`` tokens."""
    import torch

    from gptoss_edu.model.routing import capture_routing

    ids = tokenizer.encode(text, disallowed_special=())
    with torch.inference_mode(), capture_routing(model) as record:
        for start in range(0, len(ids), window):
            model(torch.tensor(ids[start:start + window], device=model.device))
    return routed_from_record(record, tokenizer, ids)


@dataclass(frozen=True)
class Specialist:
    """The (layer, expert) with the highest lift for one token class, and how strong it is."""

    token_class: str
    layer: int
    expert: int
    lift: float
    share: float  # fraction of this class's tokens that chose the expert
    count: int  # tokens of this class

    def __str__(self) -> str:
        return (f"{self.token_class:>11}: layer {self.layer} expert {self.expert:2d}  lift x{self.lift:.2f}  "
                f"(chosen for {self.share:.0%} of {self.count} tokens)")


def class_lifts(routed: RoutedText, labels: np.ndarray, min_count: int = 20) -> dict[str, np.ndarray]:
    """``{class: (L, E) lift}`` for every class with at least ``min_count`` tokens."""
    return {c: expert_lift(routed, labels == c) for c in TOKEN_CLASSES if (labels == c).sum() >= min_count}


def specialists(routed: RoutedText, labels: np.ndarray, min_count: int = 20) -> list[Specialist]:
    """The highest-lift (layer, expert) of each token class with enough tokens, strongest first."""
    found = []
    for name, lift in class_lifts(routed, labels, min_count).items():
        layer, expert = np.unravel_index(int(lift.argmax()), lift.shape)
        mask = labels == name
        share = float((routed.experts[layer, mask] == expert).any(axis=-1).mean())
        found.append(Specialist(name, int(layer), int(expert), float(lift[layer, expert]), share, int(mask.sum())))
    return sorted(found, key=lambda s: -s.lift)
