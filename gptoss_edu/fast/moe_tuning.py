"""Tiles for the fast MoE kernels, tuned once per GPU and problem, kept in a small file: ``tuned_tile``.

``gptoss_edu.kernels.moe_fast`` starts from a table of tiles per compute capability. The best
tile also depends on the exact GPU (SM count, clocks, memory) and on the problem (the model's
widths, the number of experts, decode or prefill), so the first call for a new combination
times a few candidate tiles on the real inputs with CUDA events and keeps the fastest. The
choice is remembered in memory and in ``$GPTOSS_EDU_CACHE/moe_fast_tiles.json`` (one line per
GPU and problem), so later processes start tuned.

Tuning never happens inside a CUDA-graph capture (it must launch, synchronise and maybe
compile): there the remembered tile, else the table's, is used. A candidate that fails (too
many registers for that GPU, say) is skipped; if every one fails the table's tile is used.
"""
from __future__ import annotations

import contextlib
import json
import os
import statistics
from collections.abc import Callable
from pathlib import Path

import torch

from gptoss_edu.io.offline import cache_root

Tile = tuple[int, int, int, int]  # (BLOCK_M, BLOCK_N, BLOCK_K, num_warps)

# Candidates per kind, besides the table's own tile: narrower and wider N, shorter K, more warps.
CANDIDATES: dict[str, tuple[Tile, ...]] = {
    "decode": ((16, 32, 256, 4), (16, 64, 256, 4), (16, 128, 128, 8), (16, 64, 128, 4), (16, 128, 256, 8)),
    "grouped": ((64, 128, 64, 4), (64, 64, 128, 4), (128, 128, 64, 8), (64, 128, 128, 8)),
}
TIMED_CALLS = 5  # per candidate, after one untimed call that compiles it
_remembered: dict[str, Tile] = {}


def tiles_file() -> Path:
    """``$GPTOSS_EDU_CACHE/moe_fast_tiles.json`` (default ``~/.cache/gptoss_edu``)."""
    return cache_root() / "moe_fast_tiles.json"


def problem_key(device: torch.device, kind: str, hidden: int, intermediate: int, experts: int) -> str:
    """One line of the file: the GPU by name and capability, and the problem."""
    major, minor = torch.cuda.get_device_capability(device)
    return f"{torch.cuda.get_device_name(device)} sm_{major}{minor} {kind} {hidden}x{intermediate} E{experts}"


def _read_file(path: Path) -> dict[str, Tile]:
    try:
        stored = json.loads(path.read_text())
        return {key: tuple(int(v) for v in tile) for key, tile in stored.items() if len(tile) == 4}
    except (OSError, ValueError, TypeError, AttributeError):  # missing or damaged: tune again
        return {}


def _write_file(path: Path, tiles: dict[str, Tile]) -> None:
    """Write the file whole (a partial file, then renamed); a read-only cache only costs tuning again next time."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        partial.write_text(json.dumps({key: list(tile) for key, tile in sorted(tiles.items())}, indent=1))
        partial.replace(path)


def cuda_event_seconds(run: Callable[[], object], calls: int = TIMED_CALLS) -> float:
    """Median seconds of ``run()`` on the current CUDA stream, after one untimed call."""
    run()
    times = []
    for _ in range(calls):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        run()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times)


def fastest(candidates: tuple[Tile, ...], run: Callable[[Tile], object],
            seconds: Callable[[Callable[[], object]], float]) -> Tile | None:
    """The candidate ``run`` takes least time with (``seconds`` measures a call); ``None`` if all fail."""
    timed = {}
    for tile in dict.fromkeys(candidates):  # in order, without repeats
        try:
            timed[tile] = seconds(lambda tile=tile: run(tile))
        except Exception:  # noqa: BLE001  (a compiler or launch failure rules out this tile only)
            continue
    return min(timed, key=timed.get) if timed else None


def tuned_tile(key: str, table_tile: Tile, kind: str, run: Callable[[Tile], object],
               capturing: bool, seconds: Callable[[Callable[[], object]], float] = cuda_event_seconds,
               path: Path | None = None) -> Tile:
    """The tile for problem ``key``: remembered, else read from the file, else tuned now (not while ``capturing``).

    ``run(tile)`` runs the kernels once with ``tile``; ``table_tile`` is the table's choice, a
    candidate itself and the answer while capturing or when nothing could be timed.
    """
    if key in _remembered:
        return _remembered[key]
    path = path or tiles_file()
    stored = _read_file(path)
    if key in stored:
        _remembered[key] = stored[key]
        return stored[key]
    if capturing:
        return table_tile
    best = fastest((table_tile, *CANDIDATES[kind]), run, seconds) or table_tile
    _remembered[key] = best
    _write_file(path, {**_read_file(path), key: best})
    return best
