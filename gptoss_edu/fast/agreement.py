"""Do two paths through the model give the same answer? Per-token statistics that survive routing flips.

A fast path (Triton kernels, bf16 tensor cores) never gives bit-identical logits: sums run
in another order. Usually that moves a logit by a rounding step. But a mixture of experts
has a discontinuity: when two router logits are nearly tied, a rounding step can swap
which 4 experts a token uses (a *routing flip*), and that token's output changes by far
more than rounding, as do later tokens that attend to it. A single "max error below x"
over all logits then fails on correct kernels. So the comparison here is per token:

- ``error[t]``: the largest absolute logit difference at token ``t``, and its median and
  90th percentile over tokens (robust to the odd flipped token);
- ``argmax_agreement``: the share of tokens whose most likely next token is the same;
- ``flips[t]``: in how many layers token ``t``'s set of chosen experts differs between the paths;
- ``unexplained(tolerance)``: tokens whose error exceeds ``tolerance`` although no routing
  flip happened at that token or before it (what a real bug looks like).

``run_path(model, ids)`` runs one forward pass and records logits and routing;
``compare(reference, candidate)`` computes the statistics.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from gptoss_edu.model.routing import capture_routing


@dataclass
class PathOutput:
    """One forward pass: ``logits (T, vocab)`` float32 and ``experts (layers, T, k)`` chosen per token (CPU tensors)."""

    logits: torch.Tensor
    experts: torch.Tensor | None = None


@torch.inference_mode()
def run_path(model, ids: torch.Tensor) -> PathOutput:
    """Logits and routing of ``model(ids)`` for ``ids (T,)``, through whichever cores ``model`` holds now."""
    with capture_routing(model) as routing:
        logits = model(ids)
    return PathOutput(logits.float().cpu(), routing.experts.cpu())


@dataclass
class Agreement:
    """Per-token comparison of a candidate path with a reference path (see the module docstring)."""

    error: torch.Tensor  # (T,) max |candidate - reference| over the vocabulary
    scale: float  # median over tokens of max |reference logit|: what an error is small against
    same_argmax: torch.Tensor  # (T,) bool
    flips: torch.Tensor | None  # (T,) layers whose expert set differs; None without routing
    gap: torch.Tensor  # (T,) how much the reference prefers its top token over the candidate's top token

    @property
    def median_error(self) -> float:
        return float(self.error.median())

    @property
    def p90_error(self) -> float:
        return float(torch.quantile(self.error, 0.9))

    @property
    def max_error(self) -> float:
        return float(self.error.max())

    @property
    def argmax_agreement(self) -> float:
        return float(self.same_argmax.float().mean())

    @property
    def flipped_tokens(self) -> int:
        """Tokens with a routing flip in at least one layer (0 when routing was not recorded)."""
        return 0 if self.flips is None else int((self.flips > 0).sum())

    def flipped_at_or_before(self) -> torch.Tensor:
        """``(T,)`` bool: a routing flip happened at this token or an earlier one (which it attends to)."""
        if self.flips is None:
            return torch.zeros_like(self.same_argmax)
        return torch.cummax((self.flips > 0).int(), dim=0).values.bool()

    def unexplained(self, tolerance: float) -> list[int]:
        """Tokens whose error exceeds ``tolerance`` with no routing flip at or before them."""
        suspicious = (self.error > tolerance) & ~self.flipped_at_or_before()
        return suspicious.nonzero().flatten().tolist()

    def unexplained_mismatches(self) -> list[int]:
        """Tokens whose argmax differs with no routing flip at or before them (a near-tie in the logits)."""
        return (~self.same_argmax & ~self.flipped_at_or_before()).nonzero().flatten().tolist()

    def mismatch_reasons(self) -> dict[int, str]:
        """For each token whose argmax differs: a routing flip at or before it, or the reference's margin.

        Without a flip, a different argmax means the reference preferred its token by at most
        twice that token's error; when that error is a rounding step, the two were a near tie.
        """
        flipped = self.flipped_at_or_before()
        return {t: ("routing flip at or before it" if flipped[t] else
                    f"no routing flip: the reference preferred its token by {float(self.gap[t]):.2e}, "
                    f"the error is {float(self.error[t]):.2e}")
                for t in (~self.same_argmax).nonzero().flatten().tolist()}

    def summary(self) -> dict[str, float | int]:
        """The headline numbers, for a table or a JSON record."""
        return {"tokens": len(self.error), "median_error": self.median_error, "p90_error": self.p90_error,
                "max_error": self.max_error, "logit_scale": self.scale, "argmax_agreement": self.argmax_agreement,
                "routing_flip_tokens": self.flipped_tokens}

    def __str__(self) -> str:
        return (f"{len(self.error)} tokens: per-token max-abs logit error median {self.median_error:.2e}, "
                f"p90 {self.p90_error:.2e}, max {self.max_error:.2e} (logits of size {self.scale:.2f}); "
                f"argmax agreement {self.argmax_agreement:.1%}; tokens with a routing flip {self.flipped_tokens}")


def _expert_sets_differ(reference: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
    """``(layers, T, k)`` expert choices of two paths -> ``(T,)`` number of layers whose sets differ (order ignored)."""
    if reference.shape != candidate.shape:
        raise ValueError(f"routing shapes differ: reference {tuple(reference.shape)}, "
                         f"candidate {tuple(candidate.shape)}")
    differ = (reference.sort(-1).values != candidate.sort(-1).values).any(-1)  # (layers, T)
    return differ.sum(0)


def compare(reference: PathOutput, candidate: PathOutput) -> Agreement:
    """Per-token statistics of ``candidate`` against ``reference`` (same tokens, same model)."""
    if reference.logits.shape != candidate.logits.shape:
        raise ValueError(f"logit shapes differ: reference {tuple(reference.logits.shape)}, "
                         f"candidate {tuple(candidate.logits.shape)}")
    ref, cand = reference.logits.float(), candidate.logits.float()
    ref, cand = ref.reshape(-1, ref.shape[-1]), cand.reshape(-1, cand.shape[-1])  # (T, vocab), any batch flattened
    flips = None
    if reference.experts is not None and candidate.experts is not None:
        flips = _expert_sets_differ(reference.experts, candidate.experts)
    chosen = cand.argmax(-1, keepdim=True)  # (T, 1) the candidate's top token
    return Agreement(error=(cand - ref).abs().amax(-1), scale=float(ref.abs().amax(-1).median()),
                     same_argmax=chosen[:, 0] == ref.argmax(-1), flips=flips,
                     gap=ref.amax(-1) - ref.gather(-1, chosen)[:, 0])
