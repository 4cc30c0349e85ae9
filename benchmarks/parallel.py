"""Decoding split over processes: world 1 vs 2 (gloo, CPU), or 1/2/4/8 GPUs (NCCL), both modes.

The model is gpt-oss-20b's width with 2 layers (hidden 2880, 32 experts, the 201088-token
vocabulary; MXFP4 experts, bf16 elsewhere), a random checkpoint written once to
``--checkpoint``. Each row is a fresh job of ``world`` processes started by
``gptoss_edu.parallel.run_parallel``; every rank loads its share with
``gptoss_edu.parallel.load_model`` and decodes greedily with ``gptoss_edu.generate``.

Columns: decode tokens/s (one over the median time between tokens, prefill excluded) and
its ratio to world 1; bytes handed to collectives per decoded token, summed over ranks, as
counted by the ``Communicator`` and as ``parallel.costs.decode_traffic`` predicts; weight
bytes resident per rank (``model.report``) and the rank's peak RSS (torch itself and the
checkpoint pages mapped while loading included); whether the greedy tokens equal world 1's
(in bf16 the partial sums round differently, so near-ties between random logits can flip).
On CPU each rank uses ``--threads`` threads, so world 2 also uses twice the cores.

    python benchmarks/parallel.py [--new-tokens 16] [--threads 1]
    python benchmarks/parallel.py --device cuda --worlds 1,2,4,8 --out gpu_parallel.txt
"""
from __future__ import annotations

import argparse
import resource
import statistics
import time
from pathlib import Path

import torch

import gptoss_edu
from gptoss_edu import parallel
from gptoss_edu.config import GPT_OSS_20B
from gptoss_edu.parallel.costs import decode_traffic

CONFIG = GPT_OSS_20B.replace(num_hidden_layers=2, name="gpt-oss-20b-width-2-layers")
DEFAULT_CHECKPOINT = Path("/tmp/gptoss-edu-bench") / CONFIG.name
PROMPT = list(range(1000, 1008))


def ensure_checkpoint(path: Path) -> Path:
    """The random checkpoint at ``path``, written first if it is not there (about 3.3 GB)."""
    if not (path / "config.json").is_file():
        from weights_tools.synthetic import write_checkpoint

        print(f"writing a random {CONFIG.name} checkpoint to {path} (once) ...", flush=True)
        write_checkpoint(path, CONFIG, "original", seed=0, progress=True)
    return path


def decode_job(path: str, mode: str, new_tokens: int, device: str, dtype: torch.dtype) -> dict:
    """On one rank: load, decode greedily, time each step and count the collectives' bytes."""
    model = parallel.load_model(path, mode, device=device, dtype=dtype)
    stamps, tokens = [], []
    for token in gptoss_edu.generate(model, PROMPT, new_tokens, stop_tokens=()):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())
        tokens.append(token)
        if len(tokens) == 1:
            model.comm.reset()  # count decode steps only, not the prefill
    steps = len(tokens) - 1
    return {
        "rate": 1 / statistics.median(b - a for a, b in zip(stamps, stamps[1:])),
        "sent_per_token": model.comm.total_sent / steps,
        "resident": model.report.resident_bytes,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "gpu_peak": torch.cuda.max_memory_allocated() if device.startswith("cuda") else 0,
        "tokens": tokens,
    }


def run(worlds: list[int], modes: list[str], new_tokens: int, device: str, threads: int, path: Path) -> list[dict]:
    dtype = torch.bfloat16
    backend = "nccl" if device == "cuda" else "gloo"
    rows, base = [], None
    for world in worlds:
        for mode in modes if world > 1 else ["tensor"]:
            ranks = parallel.run_parallel(decode_job, world, args=(str(path), mode, new_tokens, device, dtype),
                                          backend=backend, timeout_s=1200, threads=threads)
            rate = statistics.median(r["rate"] for r in ranks)
            base = base or (rate, ranks[0]["tokens"])
            rows.append({
                "world": world, "mode": mode if world > 1 else "-", "rate": rate, "ratio": rate / base[0],
                "counted": sum(r["sent_per_token"] for r in ranks),
                "predicted": decode_traffic(CONFIG, mode, world, dtype.itemsize)["total"],
                "resident": max(r["resident"] for r in ranks), "peak_rss": max(r["peak_rss"] for r in ranks),
                "gpu_peak": max(r["gpu_peak"] for r in ranks), "same_tokens": ranks[0]["tokens"] == base[1],
            })
    return rows


def format_table(rows: list[dict], where: str) -> str:
    lines = [f"# {CONFIG.name}, bf16 activations, MXFP4 experts, batch 1, on {where}",
             "| world | mode | decode tok/s | vs world 1 | comm bytes/token counted | predicted | "
             "weights/rank GB | peak RSS/rank GB | GPU peak GB | same tokens |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['world']} | {r['mode']} | {r['rate']:.2f} | {r['ratio']:.2f}x | {r['counted']:,.0f} | "
                     f"{r['predicted']:,.0f} | {r['resident'] / 1e9:.2f} | {r['peak_rss'] / 1e9:.2f} | "
                     f"{r['gpu_peak'] / 1e9:.2f} | {r['same_tokens']} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--worlds", default=None, help="comma-separated world sizes (default 1,2 on CPU, 1,2,4,8 on GPU)")
    p.add_argument("--modes", default="tensor,expert")
    p.add_argument("--new-tokens", type=int, default=16)
    p.add_argument("--threads", type=int, default=1, help="torch threads per rank (CPU)")
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = p.parse_args()
    if args.device == "cuda":
        gpus = torch.cuda.device_count()
        worlds = [int(w) for w in (args.worlds or "1,2,4,8").split(",") if int(w) <= gpus]
        where = f"{gpus} x {torch.cuda.get_device_name(0)}"
    else:
        worlds = [int(w) for w in (args.worlds or "1,2").split(",")]
        where = f"CPU, {args.threads} thread(s) per rank"
    rows = run(worlds, args.modes.split(","), args.new_tokens, args.device, args.threads, ensure_checkpoint(args.checkpoint))
    table = format_table(rows, where)
    print(table)
    if args.out:
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
