"""Jobs the parallel tests run on every rank of a spawned gloo group (importable, so spawn can start them)."""
from __future__ import annotations

import torch
import torch.distributed as dist

import gptoss_edu
from gptoss_edu import parallel
from gptoss_edu.fast.select import use_torch

PROMPT_SEED = 7


def prompt(config, length: int) -> torch.Tensor:
    return torch.randint(0, config.vocab_size, (length,), generator=torch.Generator().manual_seed(PROMPT_SEED))


def split_and_compare(folders: dict[str, str], length: int, new_tokens: int, unsplittable: str | None = None) -> dict:
    """On this rank, for each layout and mode: logits (no cache and with a cache), greedy and sampled tokens, bytes;
    and, given an ``unsplittable`` checkpoint, the error each mode raises on it."""
    results = {"errors": load_errors(unsplittable)} if unsplittable else {}
    for layout, folder in folders.items():
        for mode in ("tensor", "expert"):
            model = parallel.load_model(folder, mode)
            use_torch(model)  # swaps the cores as accelerate does on CUDA: the split must survive it
            ids = prompt(model.config, length)
            logits = model(ids)
            cache = model.new_cache()
            cached = torch.cat([model(ids[:length - 3], cache=cache), model(ids[length - 3:], cache=cache)])
            batch = model(torch.stack([ids[:8], ids[8:16]]))
            greedy = list(gptoss_edu.generate(model, ids[:12], new_tokens, stop_tokens=()))
            sampled = list(gptoss_edu.generate(model, ids[:12], new_tokens, temperature=1.0, stop_tokens=(),
                                               seed=1000 + dist.get_rank()))  # seeds differ: rank 0 must decide
            results[layout, mode] = {
                "logits": logits, "cached": cached, "batch": batch, "greedy": greedy, "sampled": sampled,
                "report": model.report, "sent": dict(model.comm.sent),
            }
    return results


def load_errors(folder: str) -> dict[str, str]:
    """The error each mode raises on this rank for a checkpoint the world size cannot split."""
    errors = {}
    for mode in ("tensor", "expert"):
        try:
            parallel.load_model(folder, mode)
            errors[mode] = ""
        except ValueError as e:
            errors[mode] = str(e)
    return errors


def fail_on_rank_1() -> None:
    """Rank 1 raises; rank 0 waits for it in a barrier that never completes."""
    if dist.get_rank() == 1:
        raise ZeroDivisionError("rank 1 fails on purpose")
    dist.barrier()


def split_with_interpreted_kernels(folder: str, length: int, new_tokens: int) -> dict:
    """On this rank, both modes with the Triton cores put in by ``accelerate`` (under the interpreter):
    logits, greedy tokens and the experts core each layer holds."""
    from gptoss_edu.kernels import use_interpreter

    from gptoss_edu.fast import accelerate

    use_interpreter()  # a fresh spawned process: no kernel module is imported yet
    results = {}
    for mode in ("tensor", "expert"):
        model = parallel.load_model(folder, mode)
        report = accelerate(model, interpreter=True, notice=None)
        ids = prompt(model.config, length)
        results[mode] = {"triton": report.triton, "logits": model(ids),
                         "greedy": list(gptoss_edu.generate(model, ids[:12], new_tokens, stop_tokens=())),
                         "experts_cores": {(type(b.mlp.experts_core).__name__, b.mlp.experts_core.core.__name__)
                                           for b in model.block}}
    return results
