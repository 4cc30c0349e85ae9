"""The full-size gpt-oss-20b on this CPU: load time, memory, prefill and decode speed, against the roofline.

Uses real weights when given (``--weights DIR`` or ``$GPTOSS_EDU_WEIGHTS``), otherwise writes a
random checkpoint of the full 20b shape (13.8 GB, original layout) to ``--folder`` (kept with
``--keep``, deleted otherwise). Then, for each loading mode asked for (``--mmap``: the
packed experts memory-mapped from the files; ``--no-mmap``: read into memory; default both),
a fresh process loads the model in bf16 with the fused CPU experts and prints:

- load time, and memory after loading and after decoding: resident anonymous memory
  (``RssAnon``: the process's own), resident file pages (``RssFile``: page cache the kernel
  can drop), and the peak resident set (``VmHWM``);
- prefill tokens/s over a 128-token prompt, decode tokens/s at batch 1 (median gap);
- the roofline: weight bytes read per decoded token over a bf16 mat-vec bandwidth measured in
  the same process before loading.

    python benchmarks/cpu_full_20b.py [--weights DIR | --folder DIR [--keep]] [--mmap | --no-mmap] [--new-tokens 8]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WEIGHTS_ENV = "GPTOSS_EDU_WEIGHTS"
PROMPT_TOKENS = 128


def memory_status() -> dict[str, float]:
    """GB of ``RssAnon``, ``RssFile`` and ``VmHWM`` from ``/proc/self/status`` (Linux)."""
    out = {}
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile", "VmHWM"):
                out[key] = int(value.split()[0]) / 1e6  # kB -> GB
    return out


def measure_one(folder: Path, mmap: bool, new_tokens: int) -> None:
    """Load ``folder`` once and print one row of figures (runs in its own process)."""
    import torch
    from cpu_decode import measure_bandwidth

    from gptoss_edu.config import bytes_per_decoded_token
    from gptoss_edu.fast.cpu_experts import use_fused_cpu_experts
    from gptoss_edu.io.checkpoint import load_model

    bandwidth = measure_bandwidth(1e9)  # before the model takes the memory
    start = time.perf_counter()
    model = load_model(folder, dtype=torch.bfloat16, mmap=mmap, progress=False)
    load_seconds = time.perf_counter() - start
    use_fused_cpu_experts(model)
    after_load = memory_status()
    prompt = torch.randint(0, 200000, (PROMPT_TOKENS,), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        cache = model.new_cache(capacity=PROMPT_TOKENS + new_tokens + 1)
        start = time.perf_counter()
        logits = model(prompt, cache=cache)[-1]
        prefill = PROMPT_TOKENS / (time.perf_counter() - start)
        gaps = []
        for _ in range(new_tokens):
            start = time.perf_counter()
            logits = model(torch.argmax(logits).reshape(1), cache=cache)[-1]
            gaps.append(time.perf_counter() - start)
    decode = 1 / statistics.median(gaps[1:] or gaps)
    after_decode = memory_status()
    per_token = bytes_per_decoded_token(model.config)["total"]
    roofline = bandwidth * 1e9 / per_token
    mode = "mmap" if mmap else "in memory"
    print(f"{mode:10} load {load_seconds:6.1f} s | after load: anon {after_load.get('RssAnon', 0):5.2f} GB, "
          f"file {after_load.get('RssFile', 0):5.2f} GB | after decode: anon {after_decode.get('RssAnon', 0):5.2f} GB, "
          f"file {after_decode.get('RssFile', 0):5.2f} GB, peak RSS {after_decode.get('VmHWM', 0):5.2f} GB")
    print(f"{'':10} prefill {prefill:6.2f} tok/s ({PROMPT_TOKENS} tokens) | decode {decode:5.2f} tok/s | "
          f"roofline {roofline:5.2f} tok/s ({per_token / 1e9:.2f} GB/token at {bandwidth:.2f} GB/s) -> "
          f"{decode / roofline:.0%} of roofline", flush=True)


def available_gb() -> float:
    """``MemAvailable`` in GB (infinite where ``/proc/meminfo`` is absent)."""
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        return float("inf")
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1e6
    return float("inf")


def checkpoint_gb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.glob("*.safetensors")) / 1e9


def synthesise(folder: Path) -> Path:
    from gptoss_edu.config import GPT_OSS_20B
    from weights_tools.synthetic import write_checkpoint

    if not (folder / "config.json").exists():
        print(f"writing a random full-size gpt-oss-20b to {folder} (13.8 GB) ...", flush=True)
        start = time.perf_counter()
        write_checkpoint(folder, GPT_OSS_20B, "original", seed=0)
        print(f"written in {time.perf_counter() - start:.0f} s", flush=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=os.environ.get(WEIGHTS_ENV),
                        help=f"real weights folder (default ${WEIGHTS_ENV})")
    parser.add_argument("--folder", type=Path, default=None, help="where to write the random 20b (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the random checkpoint afterwards")
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--mmap", dest="modes", action="store_const", const=[True], help="only the memory-mapped load")
    modes.add_argument("--no-mmap", dest="modes", action="store_const", const=[False], help="only the in-memory load")
    parser.add_argument("--new-tokens", type=int, default=8)
    parser.add_argument("--one", choices=("mmap", "memory"), help=argparse.SUPPRESS)  # internal: one child process
    args = parser.parse_args()
    if args.one:
        measure_one(args.weights, args.one == "mmap", args.new_tokens)
        return
    import torch

    print(f"gpt-oss-20b on CPU: torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f}")
    temporary = None
    if args.weights is None:
        temporary = None if args.folder else tempfile.mkdtemp(prefix="gpt-oss-20b-")
        folder = synthesise(args.folder or Path(temporary) / "gpt-oss-20b")
    else:
        folder = args.weights
    try:
        for mmap in args.modes or [True, False]:
            need = checkpoint_gb(folder) + 2.0
            if not mmap and available_gb() < need:
                print(f"in memory: skipped, it needs about {need:.1f} GB and {available_gb():.1f} GB are available "
                      "(the machine is shared); the mmap row shows what fits")
                continue
            command = [sys.executable, __file__, "--weights", str(folder), "--one", "mmap" if mmap else "memory",
                       "--new-tokens", str(args.new_tokens)]
            subprocess.run(command, check=False)
    finally:
        if args.weights is None and not args.keep:
            shutil.rmtree(temporary or folder, ignore_errors=True)


if __name__ == "__main__":
    main()
