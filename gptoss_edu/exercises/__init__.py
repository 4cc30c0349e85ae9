"""Exercise checkers: run a learner's function and the library's on the same random inputs.

``check_function`` is the one mechanism every notebook uses. It stops at the first input on
which the two disagree and explains the difference in words a learner can act on: an
exception in their code, a stub that is not written yet, a wrong type, shape or dtype, or
the worst element with both values; ``torch_generator`` seeds the random tensors of a check
from its ``random.Random``. Per-notebook checkers live in the submodules
(``gptoss_edu.exercises.tokenizer``, ``.harmony``, ...); ``student_edition`` writes the
notebooks with their solution cells replaced by stubs.
"""
from __future__ import annotations

import math
import random
import traceback
from collections.abc import Callable, Sequence
from typing import Any


def torch_generator(rng: random.Random):
    """A ``torch.Generator`` seeded from ``rng``: the checkers' random tensors follow ``check_function``'s seed."""
    import torch  # the tokenizer and harmony checkers need no torch

    return torch.Generator().manual_seed(rng.randrange(2**31))


class ExerciseError(AssertionError):
    """The learner's answer differs from the library's; the message says how."""


def check_function(
    candidate: Callable[..., Any],
    reference: Callable[..., Any],
    make_inputs: Callable[[random.Random], tuple],
    trials: int = 5,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    name: str | None = None,
    seed: int = 0,
) -> None:
    """Compare ``candidate`` with ``reference`` on ``trials`` random inputs; raise on the first difference."""
    name = name or getattr(candidate, "__name__", "your function")
    rng = random.Random(seed)
    for trial in range(trials):
        args = make_inputs(rng)
        expected = reference(*args)
        try:
            got = candidate(*args)
        except NotImplementedError:
            raise ExerciseError(f"{name} is not written yet: replace the `raise NotImplementedError` with your code.") from None
        except Exception as e:  # the learner's bug: show it, do not crash the checker
            tb = traceback.format_exception_only(type(e), e)[-1].strip()
            raise ExerciseError(f"{name} raised on trial {trial} with inputs {_short(args)}: {tb}") from e
        problem = describe_difference(expected, got, atol=atol, rtol=rtol)
        if problem:
            raise ExerciseError(f"{name} differs from the library on trial {trial} with inputs {_short(args)}: {problem}")
    print(f"✓ {name} matches the library on {trials} random inputs.")


def describe_difference(expected: Any, got: Any, atol: float = 1e-6, rtol: float = 1e-5, path: str = "") -> str | None:
    """Return a sentence describing the first difference between two values, or None if they agree."""
    where = f" at {path}" if path else ""
    if _is_tensor(expected):
        return _tensor_difference(expected, got, atol, rtol, where)
    if isinstance(expected, float) and isinstance(got, (int, float)) and not isinstance(got, bool):
        if math.isclose(expected, got, rel_tol=rtol, abs_tol=atol) or (math.isnan(expected) and math.isnan(got)):
            return None
        return f"value{where}: expected {expected!r}, got {got!r}"
    both_sequences = isinstance(expected, Sequence) and isinstance(got, Sequence)
    if isinstance(expected, str) or isinstance(got, str):  # a string is not a list of its characters
        both_sequences = False
    if type(expected) is not type(got) and not both_sequences and not (isinstance(expected, dict) and isinstance(got, dict)):
        return f"type{where}: expected {type(expected).__name__}, got {type(got).__name__} ({_short(got)})"
    if isinstance(expected, dict):
        if set(expected) != set(got):
            missing, extra = set(expected) - set(got), set(got) - set(expected)
            return f"keys{where}: missing {_short(sorted(missing, key=repr))}, unexpected {_short(sorted(extra, key=repr))}"
        for key in expected:
            problem = describe_difference(expected[key], got[key], atol, rtol, f"{path}[{key!r}]")
            if problem:
                return problem
        return None
    if isinstance(expected, (list, tuple)):
        if len(expected) != len(got):
            return f"length{where}: expected {len(expected)} items, got {len(got)}"
        for i, (e, g) in enumerate(zip(expected, got)):
            problem = describe_difference(e, g, atol, rtol, f"{path}[{i}]")
            if problem:
                return problem
        return None
    if expected != got:
        return f"value{where}: expected {_short(expected)}, got {_short(got)}"
    return None


def _tensor_difference(expected, got, atol: float, rtol: float, where: str) -> str | None:
    import torch

    if not isinstance(got, torch.Tensor):
        return f"type{where}: expected a torch.Tensor, got {type(got).__name__}"
    if got.shape != expected.shape:
        return f"shape{where}: expected {tuple(expected.shape)}, got {tuple(got.shape)}"
    if got.dtype != expected.dtype:
        return f"dtype{where}: expected {expected.dtype}, got {got.dtype}"
    if expected.numel() == 0:
        return None
    if not expected.is_floating_point():
        wrong = (expected != got).nonzero()
        if len(wrong) == 0:
            return None
        index = tuple(wrong[0].tolist())
        return f"value{where}: {len(wrong)} elements differ; first at index {index}: expected {expected[index].item()}, got {got[index].item()}"
    e, g = expected.double(), got.double()
    error = (e - g).abs() - (atol + rtol * e.abs())
    # NaN must meet NaN and an infinity the same infinity; both would otherwise slip through the tolerance.
    special = e.isnan() | g.isnan() | e.isinf() | g.isinf()
    special_ok = (e.isnan() & g.isnan()) | (e == g)
    error = torch.where(special, torch.where(special_ok, -math.inf, math.inf), error)
    worst = int(error.argmax())
    if error.flatten()[worst] <= 0:
        return None
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), expected.shape))
    n_bad = int((error > 0).sum())
    return (
        f"value{where}: {n_bad} of {expected.numel()} elements are off; worst at index {index}: "
        f"expected {e[index].item():.6g}, got {g[index].item():.6g} (tolerance atol={atol}, rtol={rtol})"
    )


def _is_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and type(x).__name__ in ("Tensor", "Parameter")


def _short(x: Any, limit: int = 120) -> str:
    text = repr(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."
