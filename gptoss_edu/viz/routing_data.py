"""Routing of one text as plain arrays, and the statistics the views draw from it.

``route_text(model, tokenizer, text)`` runs the model once inside ``capture_routing`` and
returns a ``RoutedText``: the token strings and, per layer and token, the chosen experts,
their weights and all router logits, as numpy arrays on the CPU (so the same views work
for the nano model on a laptop and gpt-oss-120b on a GPU). The functions below derive
what the views show: tokens per expert, routing entropy, how often two experts are chosen
together, and which expert a set of tokens prefers (lift).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RoutedText:
    """Routing of ``T`` tokens through ``L`` layers of ``E`` experts, ``k`` chosen per token.

    ``experts (L, T, k)`` ids, highest router logit first; ``weights (L, T, k)`` (rows sum to 1);
    ``router_logits (L, T, E)``; ``tokens`` the ``T`` token strings; ``ids`` their token ids.
    """

    tokens: tuple[str, ...]
    ids: tuple[int, ...]
    experts: np.ndarray
    weights: np.ndarray
    router_logits: np.ndarray

    @property
    def num_layers(self) -> int:
        return self.experts.shape[0]

    @property
    def num_tokens(self) -> int:
        return self.experts.shape[1]

    @property
    def num_experts(self) -> int:
        return self.router_logits.shape[2]

    @property
    def top1(self) -> np.ndarray:
        """``(L, T)`` the expert with the largest weight for each layer and token."""
        return self.experts[:, :, 0]


def token_strings(tokenizer, ids) -> tuple[str, ...]:
    """Each id decoded on its own (a token holding part of a UTF-8 character shows U+FFFD)."""
    return tuple(tokenizer.decode([int(i)]) for i in ids)


def routed_from_record(record, tokenizer, ids) -> RoutedText:
    """A ``RoutedText`` from a ``gptoss_edu.model.routing.RoutingRecord`` and the token ids it saw."""
    ids = tuple(int(i) for i in ids)
    if record.num_tokens != len(ids):
        raise ValueError(f"the routing record holds {record.num_tokens} tokens but {len(ids)} ids were given")
    return RoutedText(
        tokens=token_strings(tokenizer, ids),
        ids=ids,
        experts=record.experts.cpu().numpy(),
        weights=record.weights.float().cpu().numpy(),
        router_logits=record.router_logits.float().cpu().numpy(),
    )


def route_ids(model, tokenizer, ids) -> RoutedText:
    """Run ``model`` once on token ``ids`` and return its routing (``tokenizer`` names the tokens)."""
    import torch

    from gptoss_edu.model.routing import capture_routing

    ids = [int(i) for i in ids]
    if not ids:
        raise ValueError("no tokens to route (the text is empty)")
    with torch.inference_mode(), capture_routing(model) as record:
        model(torch.tensor(ids, device=model.device))
    return routed_from_record(record, tokenizer, ids)


def route_text(model, tokenizer, text: str) -> RoutedText:
    """Run ``model`` on ``tokenizer.encode(text)`` and return its routing."""
    return route_ids(model, tokenizer, tokenizer.encode(text, disallowed_special=()))


# ---- statistics -----------------------------------------------------------------------------------
def expert_load(routed: RoutedText, layer: int) -> np.ndarray:
    """``(E,)`` fraction of the layer's (token, slot) assignments that went to each expert (sums to 1)."""
    counts = np.bincount(routed.experts[layer].reshape(-1), minlength=routed.num_experts)
    return counts / counts.sum()


def load_entropy(load: np.ndarray) -> float:
    """Entropy in bits of an expert-load distribution: ``log2(E)`` when perfectly balanced."""
    p = load[load > 0]
    return float(-(p * np.log2(p)).sum())


def router_entropy(routed: RoutedText) -> np.ndarray:
    """``(L, T)`` entropy in bits of the router's softmax over all experts, per layer and token."""
    logits = routed.router_logits - routed.router_logits.max(axis=-1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=-1, keepdims=True)
    return -(p * np.log2(np.clip(p, 1e-30, None))).sum(axis=-1)


def co_occurrence(routed: RoutedText, layer: int) -> np.ndarray:
    """``(E, E)`` how many tokens chose both expert ``i`` and expert ``j`` in ``layer`` (diagonal: tokens per expert)."""
    chosen = np.zeros((routed.num_tokens, routed.num_experts))
    np.put_along_axis(chosen, routed.experts[layer], 1.0, axis=1)  # (T, E) one-hot of the k choices
    return chosen.T @ chosen


def expert_lift(routed: RoutedText, mask: np.ndarray) -> np.ndarray:
    """``(L, E)`` lift of each expert for the tokens in ``mask (T,)``.

    Lift = P(expert chosen | token in mask) / P(expert chosen): 1 means no preference,
    3 means the expert is picked three times as often for these tokens as for tokens overall.
    """
    if not mask.any():
        raise ValueError("the token mask selects no tokens")
    chosen = np.zeros((routed.num_layers, routed.num_tokens, routed.num_experts))
    np.put_along_axis(chosen, routed.experts, 1.0, axis=2)  # (L, T, E)
    overall = chosen.mean(axis=1)
    within = chosen[:, mask].mean(axis=1)
    return within / np.clip(overall, 1e-12, None)
