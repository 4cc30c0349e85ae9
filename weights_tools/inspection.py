"""Describe a checkpoint: layout, tensors grouped by component, totals against the config.

``inspect_checkpoint`` returns a plain dictionary (what ``inspect --json`` prints); the
tensor table collapses the layer index (``block.*.attn.qkv.weight  x24``) so a 36-layer model
fits on a screen. Parameters count two values per MXFP4 block byte and none for scale bytes,
so a sound checkpoint reproduces ``parameter_count(config)`` exactly, component by component.
The scale-exponent histogram (``byte - 127``) reads only the scale tensors, in chunks.
"""
from __future__ import annotations

import os
import re

import torch

from gptoss_edu.config import checkpoint_bytes, dense_bf16_bytes, parameter_count
from gptoss_edu.io.checkpoint import open_checkpoint
from gptoss_edu.io.layouts import BF16, component_of
from gptoss_edu.io.safetensors_io import StoredTensor
from weights_tools.verify import iter_chunks

COMPONENTS = ("embedding", "attention", "router", "experts", "norms", "unembedding")


def parameters_in(t: StoredTensor) -> int:
    """Model parameters a stored tensor holds: two per MXFP4 block byte, none for scale bytes."""
    numel = (t.end - t.begin) // t.dtype.itemsize
    if t.name.endswith("blocks"):
        return 2 * numel
    return 0 if t.name.endswith("scales") else numel


def layer_pattern(name: str) -> str:
    """The name with its layer index replaced by ``*``."""
    return re.sub(r"^(block|model\.layers)\.\d+\.", r"\1.*.", name)


def scale_histogram(tensors: list[StoredTensor]) -> dict[int, int]:
    """How many scale bytes encode each exponent ``byte - 127``, over all scale tensors."""
    counts = torch.zeros(256, dtype=torch.int64)
    for t in tensors:
        for chunk in iter_chunks(t):
            counts += torch.bincount(chunk.reshape(-1).long(), minlength=256)
    return {byte - 127: int(n) for byte, n in enumerate(counts.tolist()) if n}


def inspect_checkpoint(path: str | os.PathLike | None, layout: str = "auto", histogram: bool = True) -> dict:
    """Everything ``inspect`` shows, as a JSON-ready dictionary."""
    ckpt = open_checkpoint(path, layout)
    rows: dict[str, dict] = {}
    for name, t in ckpt.stored.items():
        key = layer_pattern(name)
        row = rows.setdefault(key, {"name": key, "component": component_of(name), "shape": list(t.shape),
                                    "dtype": str(t.dtype).removeprefix("torch."), "count": 0, "parameters": 0,
                                    "bytes": 0})
        row["count"] += 1
        row["parameters"] += parameters_in(t)
        row["bytes"] += t.end - t.begin
    components = {c: {"parameters": 0, "bytes": 0, "expected_parameters": n}
                  for c, n in parameter_count(ckpt.config).items() if c in COMPONENTS}
    for row in rows.values():
        components[row["component"]]["parameters"] += row["parameters"]
        components[row["component"]]["bytes"] += row["bytes"]
    expected_bytes = dense_bf16_bytes(ckpt.config) if ckpt.experts == BF16 else checkpoint_bytes(ckpt.config)
    scales = [t for n, t in ckpt.stored.items() if n.endswith("scales")]
    files = sorted({t.file for t in ckpt.stored.values()})
    return {
        "folder": str(ckpt.folder), "layout": ckpt.layout, "experts": ckpt.experts, "config": ckpt.config.name,
        "files": [f.name for f in files], "file_bytes": sum(f.stat().st_size for f in files),
        "tensors": sorted(rows.values(), key=lambda r: (COMPONENTS.index(r["component"]), r["name"])),
        "components": components,
        "total": {"parameters": sum(c["parameters"] for c in components.values()),
                  "expected_parameters": parameter_count(ckpt.config)["total"],
                  "bytes": sum(c["bytes"] for c in components.values()), "expected_bytes": int(expected_bytes)},
        "scale_exponents": scale_histogram(scales) if histogram else {},
    }


def _gb(n: float) -> str:
    """Bytes in the largest decimal unit that keeps the number at least 1."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)} B"


def format_report(report: dict) -> str:
    """The human-readable tables of ``inspect``."""
    lines = [f"{report['folder']}: {report['layout']} layout, {report['experts']} experts, "
             f"{len(report['files'])} file(s), {_gb(report['file_bytes'])} on disk", ""]
    lines.append(f"{'tensor':52} {'shape':>24} {'dtype':>9} {'count':>6} {'bytes':>12}")
    for component in COMPONENTS:
        lines.append(f"[{component}]")
        for r in (r for r in report["tensors"] if r["component"] == component):
            lines.append(f"  {r['name']:50} {str(tuple(r['shape'])):>24} {r['dtype']:>9} {r['count']:>6} "
                         f"{_gb(r['bytes']):>12}")
    lines += ["", f"{'component':12} {'parameters':>16} {'config says':>16} {'bytes':>12}"]
    for name, c in report["components"].items():
        mark = "" if c["parameters"] == c["expected_parameters"] else "  <-- differs"
        lines.append(f"{name:12} {c['parameters']:>16,} {c['expected_parameters']:>16,} {_gb(c['bytes']):>12}{mark}")
    total = report["total"]
    lines.append(f"{'total':12} {total['parameters']:>16,} {total['expected_parameters']:>16,} "
                 f"{_gb(total['bytes']):>12} (config implies {_gb(total['expected_bytes'])})")
    if report["scale_exponents"]:
        lines += ["", "MXFP4 scale exponents (byte - 127):"]
        peak = max(report["scale_exponents"].values())
        for exponent, n in sorted(report["scale_exponents"].items()):
            lines.append(f"  2^{exponent:<4} {n:>14,} {'#' * max(1, round(40 * n / peak))}")
    return "\n".join(lines)

