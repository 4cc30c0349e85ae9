"""Peak memory of writing and verifying a checkpoint, ours against the safetensors library.

A 2-layer checkpoint of full gpt-oss-20b width (embedding and unembedding of 201088 x 2880,
32 experts per layer; about 3.2 GB) is written and then verified, each step in a fresh
process whose peak resident memory (``ru_maxrss``) is measured:

- write: ``python -m weights_tools synth`` (streams chunk by chunk) against
  ``safetensors.torch.save_file`` of the same tensors (needs them all in memory);
- verify: ``python -m weights_tools verify`` (positioned reads of 64 MB chunks) against a
  NaN/Inf scan with ``safetensors.safe_open`` + ``get_tensor`` (memory-mapped, whole tensors).

The baseline row is ``import torch`` alone. The files are deleted at the end.
Run: ``python benchmarks/weights_memory.py [--layers 2] [--dir /tmp]``.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MEASURE = (
    "import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024); sys.exit(rc)"
)

PEER_WRITE = """
import sys
from pathlib import Path
import safetensors.torch
from gptoss_edu.config import GPT_OSS_20B
from weights_tools.synthetic import SyntheticSource
config = GPT_OSS_20B.replace(num_hidden_layers=int(sys.argv[2]))
source = SyntheticSource(config, seed=0)
tensors = {name: source.rows(name, 0, spec.shape[0]) for name, spec in source.spec.items()}
Path(sys.argv[1]).mkdir(parents=True)
safetensors.torch.save_file(tensors, Path(sys.argv[1]) / "model.safetensors")
"""

PEER_VERIFY = """
import sys
from pathlib import Path
import torch
from safetensors import safe_open
bad = 0
for file in sorted(Path(sys.argv[1]).glob("*.safetensors")):
    with safe_open(file, framework="pt") as f:
        for name in f.keys():
            t = f.get_tensor(name)
            if t.is_floating_point():
                bad += int((~torch.isfinite(t)).sum())
sys.exit(1 if bad else 0)
"""


def peak_rss(command: list[str]) -> tuple[int, float]:
    """Run ``command`` in a fresh child; return its peak resident bytes and wall seconds."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{command} failed:\n{done.stderr[-2000:]}")
    return int(done.stdout.split()[-1]), time.perf_counter() - start


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where to write the checkpoints")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="weights_memory_", dir=args.dir))
    py = sys.executable
    try:
        ours_dir, peer_dir = work / "ours", work / "peer"
        base, _ = peak_rss([py, "-c", "import torch"])
        ours_write = peak_rss([py, "-m", "weights_tools", "synth", str(ours_dir), "-q", "--preset", "gpt-oss-20b",
                               "--set", f"num_hidden_layers={args.layers}"])
        size = folder_bytes(ours_dir)
        peer_write = peak_rss([py, "-c", PEER_WRITE, str(peer_dir), str(args.layers)])
        ours_verify = peak_rss([py, "-m", "weights_tools", "verify", str(ours_dir), "-q"])
        peer_verify = peak_rss([py, "-c", PEER_VERIFY, str(ours_dir)])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"checkpoint: gpt-oss-20b width, {args.layers} layers, {size / 1e9:.2f} GB on disk; "
          f"baseline (import torch) {base / 1e9:.2f} GB")
    print(f"{'step':8} {'ours peak RSS':>14} {'peer peak RSS':>14} {'ours/size':>10} {'peer/size':>10} "
          f"{'ours/peer':>10} {'ours s':>7} {'peer s':>7}  peer")
    rows = (("write", ours_write, peer_write, "safetensors.torch.save_file"),
            ("verify", ours_verify, peer_verify, "safe_open + get_tensor"))
    for step, (ours, ours_s), (peer, peer_s), who in rows:
        print(f"{step:8} {ours / 1e9:>11.2f} GB {peer / 1e9:>11.2f} GB {ours / size:>10.2f} {peer / size:>10.2f} "
              f"{ours / peer:>10.2f} {ours_s:>7.1f} {peer_s:>7.1f}  {who}")


if __name__ == "__main__":
    main()
