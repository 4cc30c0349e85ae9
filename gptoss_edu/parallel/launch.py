"""Start a function on ``N`` local processes joined by a gloo (or NCCL) process group.

Tests, notebooks and benchmarks need a real multi-process job without ``torchrun``:

    results = run_parallel(my_job, world_size=2, args=(path,))   # [result of rank 0, rank 1]

``my_job(*args)`` runs on every rank after ``init_process_group``; it must be importable
(defined at the top level of a module, not in a notebook cell), because the children are
started with ``spawn`` (a fresh interpreter: fork is unsafe once torch has started threads).
The group listens on 127.0.0.1 only. Every wait has a timeout, so a rank that hangs or dies
fails the job with the rank's traceback instead of blocking forever.

Under ``torchrun`` use ``init_from_env`` instead: it reads ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and ``MASTER_ADDR/PORT`` that torchrun sets.
"""
from __future__ import annotations

import io
import multiprocessing as mp
import os
import queue
import socket
import time
import traceback
from collections.abc import Callable
from datetime import timedelta

import torch
import torch.distributed as dist

LOCALHOST = "127.0.0.1"
ERROR_GRACE_S = 10.0  # how long the other ranks may take to report once one has failed


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOCALHOST, 0))
        return s.getsockname()[1]


def _worker(fn: Callable, args: tuple, rank: int, world_size: int, port: int, backend: str,
            timeout_s: float, threads: int, results: mp.Queue) -> None:
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # keep gloo's sockets on the loopback interface
    torch.set_num_threads(threads)
    try:
        dist.init_process_group(backend, init_method=f"tcp://{LOCALHOST}:{port}", rank=rank,
                                world_size=world_size, timeout=timedelta(seconds=timeout_s))
        try:
            value = fn(*args)
        finally:
            dist.destroy_process_group()
        buffer = io.BytesIO()
        torch.save(value, buffer)  # by value: no shared-memory handles outliving this process
        results.put((rank, "ok", buffer.getvalue()))
    except BaseException:  # report everything, a KeyboardInterrupt included, then exit
        results.put((rank, "error", traceback.format_exc()))


def run_parallel(fn: Callable, world_size: int, args: tuple = (), backend: str = "gloo",
                 timeout_s: float = 300.0, threads: int = 1) -> list:
    """Run ``fn(*args)`` on ``world_size`` fresh processes in one process group; return the results by rank.

    Raises ``RuntimeError`` with the traceback of the first rank that failed, or
    ``TimeoutError`` (after stopping every rank) when the job takes longer than ``timeout_s``.
    """
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    context = mp.get_context("spawn")
    results = context.Queue()
    port = free_port()
    processes = [
        context.Process(target=_worker, args=(fn, args, rank, world_size, port, backend, timeout_s, threads, results),
                        daemon=True)
        for rank in range(world_size)
    ]
    for p in processes:
        p.start()
    collected: dict[int, object] = {}
    errors: dict[int, str] = {}
    try:
        _collect(results, world_size, timeout_s, collected, errors, fn.__name__)
    finally:
        for p in processes:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
                p.join()
    if errors:  # the first rank to fail is often not the one that reports first, so show them all
        raise RuntimeError("\n".join(f"rank {r} of {world_size} failed in {fn.__name__}:\n{errors[r]}"
                                     for r in sorted(errors)))
    return [collected[r] for r in range(world_size)]


def _collect(results: mp.Queue, world_size: int, timeout_s: float, collected: dict, errors: dict, name: str) -> None:
    """Fill ``collected`` (rank -> result) and ``errors`` (rank -> traceback) from the workers' reports.

    Once a rank has failed, the others get ``ERROR_GRACE_S`` to report (they usually fail too,
    with the broken connection); then collection stops.
    """
    deadline = time.monotonic() + timeout_s
    while len(collected) + len(errors) < world_size:
        wait = deadline - time.monotonic()
        if errors:
            wait = min(wait, ERROR_GRACE_S)
        try:
            rank, status, payload = results.get(timeout=max(wait, 0.01))
        except queue.Empty:
            if errors:
                return
            raise TimeoutError(f"parallel job {name} on {world_size} ranks did not finish within "
                               f"{timeout_s:.0f} s (ranks finished: {sorted(collected)})") from None
        if status == "error":
            errors[rank] = payload
        else:
            collected[rank] = torch.load(io.BytesIO(payload), weights_only=False)


def init_from_env(backend: str | None = None, timeout_s: float = 1800.0) -> tuple[int, int, int]:
    """Join the process group described by torchrun's environment; return ``(rank, world_size, local_rank)``.

    ``backend`` defaults to NCCL when CUDA is available, gloo otherwise. Without torchrun's
    variables (a plain ``python`` run) this is a group of one.
    """
    rank = int(os.environ.get("RANK", "0"))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if not dist.is_initialized():
        if "MASTER_ADDR" not in os.environ:  # a single process started without torchrun
            os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = LOCALHOST, str(free_port())
        dist.init_process_group(backend, rank=rank, world_size=world_size, timeout=timedelta(seconds=timeout_s))
    return rank, world_size, local_rank
