"""Timing GPU work honestly: CUDA events, warm-up first, many iterations, the median.

A host clock around a CUDA call measures the launch, not the work, unless it synchronises
after every call, and then it also measures the synchronisation. CUDA events are recorded
into the stream around each call and read once at the end, so each sample is the GPU's own
time from the start of a call to its end (including any time the GPU waited for the host to
launch the next kernel, which is part of the cost). Warm-up calls come first: compilation,
autotuning and CUDA-graph capture happen there. On a CPU the same function uses the host clock.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Timing:
    """Seconds per call: ``median`` of ``samples`` (each one call, after ``warmup`` untimed calls)."""

    median: float
    samples: tuple[float, ...]
    warmup: int

    @property
    def iterations(self) -> int:
        return len(self.samples)


def median_seconds(fn: Callable[[], object], device: torch.device | str, warmup: int = 2, iterations: int = 10
                   ) -> Timing:
    """Run ``fn`` ``warmup`` times untimed, then ``iterations`` times timed (CUDA events on a GPU)."""
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1, got {iterations}")
    device = torch.device(device)
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                  for _ in range(iterations)]
        for start, end in events:
            start.record()
            fn()
            end.record()
        torch.cuda.synchronize(device)
        samples = tuple(start.elapsed_time(end) / 1e3 for start, end in events)
    else:
        samples = []
        for _ in range(iterations):
            begin = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - begin)
        samples = tuple(samples)
    return Timing(statistics.median(samples), samples, warmup)


def copy_bandwidth(device: torch.device | str, megabytes: int = 1024, iterations: int = 10) -> float:
    """Device-to-device copy bandwidth in bytes/s, median of ``iterations`` (each byte read once, written once)."""
    source = torch.empty(megabytes << 20, dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    timing = median_seconds(lambda: target.copy_(source), device, warmup=2, iterations=iterations)
    return 2 * source.numel() / timing.median
