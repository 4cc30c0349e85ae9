"""Exercise checkers: run a learner's function and the library's on the same random inputs.

``check_function`` is the one mechanism every notebook uses. It stops at the first input on
which the two disagree and explains the difference in words a learner can act on:

- which returned item is wrong, by name (``weights``, not ``[0]``), and how;
- the smallest failing input it can find, printed in full with the argument names;
- the misconception behind a typical wrong answer (``Misconception``), when the learner's
  output is exactly what that mistake produces;
- a solution that just calls the library function the exercise asks for is refused;
- a stub that is not written yet is reported as such, without an error, so a notebook with
  unsolved exercises still runs top to bottom (see ``falls_back_to``).

A ✓ is printed only once every check of a checker has passed. Per-notebook checkers live in
the submodules (``gptoss_edu.exercises.tokenizer``, ``.harmony``, ...); predict-then-run
prompts and quizzes in ``gptoss_edu.exercises.questions``; ``torch_generator`` seeds a
check's random tensors from its ``random.Random``; ``student_edition`` writes the notebooks
with their solution cells replaced by stubs.
"""
from __future__ import annotations

import functools
import inspect
import math
import random
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

FULL_PRINT_LIMIT = 256  # elements: a tensor up to this size is shown in full
_SEARCH_TRIALS = 30  # extra random inputs tried to find a smaller failing one


def torch_generator(rng: random.Random):
    """A ``torch.Generator`` seeded from ``rng``: the checkers' random tensors follow ``check_function``'s seed."""
    import torch  # the tokenizer and harmony checkers need no torch

    return torch.Generator().manual_seed(rng.randrange(2**31))


class ExerciseError(AssertionError):
    """The learner's answer differs from the library's; the message says how."""


class _CalledTheLibrary(Exception):
    """Raised inside the learner's function when it calls a function the exercise asks them to write."""

    def __init__(self, function: Callable) -> None:
        super().__init__(function)
        self.function = function


@dataclass(frozen=True)
class Misconception:
    """A typical wrong answer: when the learner returns exactly what ``mistake`` returns, ``hint`` says why.

    ``hint`` is a sentence, or a function of ``(learner_output, *inputs)`` that writes one with the numbers in it.
    """

    mistake: Callable[..., Any]
    hint: str | Callable[..., str]


def check_function(
    candidate: Callable[..., Any],
    reference: Callable[..., Any],
    make_inputs: Callable[[random.Random], tuple],
    trials: int = 5,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    name: str | None = None,
    seed: int = 0,
    inputs: Sequence[str] = (),
    outputs: Sequence[str] = (),
    misconceptions: Sequence[Misconception] = (),
    forbidden: Sequence[Callable] = (),
    report: bool = True,
) -> bool:
    """Compare ``candidate`` with ``reference`` on ``trials`` random inputs; raise ``ExerciseError`` on a difference.

    ``inputs`` and ``outputs`` name the arguments and the returned items for the messages;
    ``forbidden`` lists library functions the learner must not call; ``report=False`` stays
    silent on success (for a checker that runs several checks and prints one ✓ at the end).
    Returns False, with a note and no error, when the learner's function is a stub not written yet.
    """
    candidate = inspect.unwrap(candidate)  # judge the learner's code, not a fallback wrapper
    name = name or getattr(candidate, "__name__", "your function")
    rng = random.Random(seed)
    for _ in range(trials):
        args = make_inputs(rng)
        verdict, error = _judge(candidate, reference, args, atol, rtol, outputs, forbidden)
        if verdict == "not written":
            print(f"○ {name} is not written yet: replace the `raise NotImplementedError` with your code, then run this cell again.")
            return False
        if verdict is not None:
            args = _smallest_failing(candidate, reference, make_inputs, rng, args, verdict, atol, rtol, outputs, forbidden)
            message, error = _failure_message(candidate, reference, args, atol, rtol, inputs, outputs,
                                              misconceptions, forbidden, name)
            raise ExerciseError(message) from error
    if report:
        print(f"✓ {name} matches the library on {trials} random inputs.")
    return True


def _call(candidate: Callable, args: tuple, forbidden: Sequence[Callable]) -> Any:
    """``candidate(*args)``, raising ``_CalledTheLibrary`` the moment it enters a forbidden function."""
    if not forbidden:
        return candidate(*args)
    codes = {inspect.unwrap(f).__code__: f for f in forbidden}

    def watch(frame, event, _arg):
        if event == "call" and frame.f_code in codes:
            raise _CalledTheLibrary(codes[frame.f_code])

    previous = sys.getprofile()
    sys.setprofile(watch)
    try:
        return candidate(*args)
    finally:
        sys.setprofile(previous)


def _judge(candidate, reference, args, atol, rtol, outputs, forbidden) -> tuple[str | None, Exception | None]:
    """``(None, None)`` when the candidate agrees on ``args``; else ``("not written" or a reason, the learner's error)``."""
    expected = reference(*args)
    try:
        got = _call(candidate, args, forbidden)
    except NotImplementedError:
        return "not written", None
    except _CalledTheLibrary:
        return "calls the library", None
    except Exception as e:  # the learner's bug: report it, do not crash the checker
        return "raised " + traceback.format_exception_only(type(e), e)[-1].strip(), e
    return describe_difference(expected, got, atol=atol, rtol=rtol, names=outputs), None


def _kind(verdict: str | None) -> str | None:
    """The kind of a failure, so a smaller input is only preferred when it fails the same way."""
    return None if verdict is None else verdict.split(" ", 1)[0] if verdict.startswith("raised") else "differs"


def _smallest_failing(candidate, reference, make_inputs, rng, args, verdict, atol, rtol, outputs, forbidden) -> tuple:
    """The smallest input that fails the same way: more random draws, then single rows of the failing one."""
    kind, best = _kind(verdict), args
    for _ in range(_SEARCH_TRIALS):
        more = make_inputs(rng)
        if _size(more) < _size(best) and _kind(_judge(candidate, reference, more, atol, rtol, outputs, forbidden)[0]) == kind:
            best = more
    for row in _single_rows(best):
        try:
            if _kind(_judge(candidate, reference, row, atol, rtol, outputs, forbidden)[0]) == kind:
                return row
        except Exception:  # a slice the reference cannot take: keep the larger input
            continue
    return best


def _single_rows(args: tuple) -> list[tuple]:
    """``args`` cut to one row each, where every tensor argument shares the same leading length > 1."""
    tensors = [a for a in args if _is_tensor(a) and a.dim() >= 2]
    lengths = {a.shape[0] for a in tensors}
    if not tensors or len(lengths) != 1 or lengths == {1}:
        return []
    (n,) = lengths
    return [tuple(a[i : i + 1] if _is_tensor(a) and a.dim() >= 2 else a for a in args) for i in range(min(n, 8))]


def _failure_message(candidate, reference, args, atol, rtol, inputs, outputs, misconceptions, forbidden,
                     name) -> tuple[str, Exception | None]:
    """What went wrong on ``args``, in words, and the learner's own exception if their code raised."""
    verdict, error = _judge(candidate, reference, args, atol, rtol, outputs, forbidden)
    if verdict == "calls the library":
        called = ", ".join(f"{f.__module__}.{f.__qualname__}" for f in forbidden)
        return (f"✗ {name} calls the library's own answer ({called}). The exercise is to write it yourself, "
                "without the function you are rebuilding."), None
    lines = [f"✗ {name} differs from the library.", "Smallest failing input found:"]
    lines += [f"  {label} = {_show(value)}" for label, value in _labelled(args, inputs)]
    if error is not None:
        lines.append(f"Your function {verdict}.")
        return "\n".join(lines), error
    lines.append(f"What differs: {verdict}.")
    got = _call(candidate, args, forbidden)
    for m in misconceptions:
        try:
            same = describe_difference(m.mistake(*args), got, atol=atol, rtol=rtol, names=outputs) is None
        except Exception:
            same = False
        if same:
            lines.append(f"Hint: {m.hint(got, *args) if callable(m.hint) else m.hint}")
            break
    return "\n".join(lines), None


def _labelled(args: tuple, inputs: Sequence[str]) -> list[tuple[str, Any]]:
    labels = list(inputs) + [f"argument {i}" for i in range(len(inputs), len(args))]
    return list(zip(labels, args))


def _size(args: tuple) -> int:
    """How big an input is, to prefer the smallest failing one: elements of tensors, lengths of sequences."""
    total = 0
    for a in args:
        if _is_tensor(a):
            total += a.numel()
        elif isinstance(a, (str, bytes, list, tuple, dict)):
            total += len(a)
        else:
            total += 1
    return total


def _show(value: Any) -> str:
    """A value in full when it is small enough to read, else its shape and dtype."""
    if _is_tensor(value):
        if value.numel() > FULL_PRINT_LIMIT:
            return f"tensor of shape {tuple(value.shape)}, dtype {value.dtype} (too large to print in full)"
        return f"tensor({_nested(value.tolist())}, dtype={value.dtype})"
    text = repr(value)
    return text if len(text) <= 2000 else text[:1997] + "..."


def _nested(values: Any) -> str:
    """A nested list of numbers with floats to 6 significant digits."""
    if isinstance(values, list):
        return "[" + ", ".join(_nested(v) for v in values) + "]"
    return f"{values:.6g}" if isinstance(values, float) else repr(values)


def falls_back_to(library_function: Callable) -> Callable[[Callable], Callable]:
    """Decorate an exercise's function so the notebook runs on before the learner has written it.

    While the function still raises ``NotImplementedError``, calls go to ``library_function``
    and a note says so once. The checkers look through the decorator at the learner's code.
    """
    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)
        def learner_or_library(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except NotImplementedError:
                if not getattr(learner_or_library, "noted", False):
                    learner_or_library.noted = True
                    print(f"○ {function.__name__} is not written yet: the cells below use the library's "
                          f"{library_function.__module__}.{library_function.__qualname__} instead.")
                return library_function(*args, **kwargs)

        return learner_or_library

    return decorate


def describe_difference(expected: Any, got: Any, atol: float = 1e-6, rtol: float = 1e-5, path: str = "",
                        names: Sequence[str] = ()) -> str | None:
    """Return a sentence describing the first difference between two values, or None if they agree.

    ``names`` labels the items of a returned tuple (``("weights", "indices")``), so the sentence
    says ``weights`` where it would otherwise say ``[0]``.
    """
    if names and isinstance(expected, (tuple, list)) and len(names) == len(expected):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return f"your function returned {_short(got)}; expected {len(names)} items: {', '.join(names)}"
        for label, e, g in zip(names, expected, got):
            problem = describe_difference(e, g, atol, rtol, label)
            if problem:
                return problem
        return None
    where = f" at {path}" if path.startswith("[") else f" of `{path}`" if path else ""
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
