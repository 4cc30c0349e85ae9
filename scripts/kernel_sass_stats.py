"""The shape of the MXFP4 MoE kernels on a Hopper GPU, seen without one: compile, disassemble, count.

    python scripts/kernel_sass_stats.py [--arch 90]

Triton compiles a kernel for any NVIDIA architecture on a machine without a GPU (its own
``ptxas`` ships with it), and ``cuobjdump`` (also shipped) prints the machine code (SASS). For
each MoE kernel and tile configuration this prints:

- registers per thread, the stack (local memory) per thread, and the instructions that store to and
  load from it (``STL``/``LDL``): values spill there when registers run out, and it is slow;
- the instructions of the main loop (the longest backward branch), and from them the
  instructions per weight: loop instructions x threads per program / weights per iteration.
  A kernel that reads MXFP4 at the memory's speed needs a few instructions per weight at most
  (the goal of issue 18 is 4); everything above that is decode work the memory waits for;
- the tensor-core instructions (``HMMA``/``HGMMA``) in that loop.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

NUM_WARPS = 4
TILES = {  # name -> (BLOCK_M, BLOCK_N, BLOCK_K), the configurations kernels.moe._tile_sizes picks on a GPU
    "decode (<= 16 rows per expert)": (16, 32, 256),
    "prefill (<= 64 rows per expert)": (64, 64, 128),
    "prefill (more rows)": (128, 64, 128),
}
SASS_LINE = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(.*?);")


@dataclass(frozen=True)
class KernelStats:
    kernel: str
    tile: str
    registers: int
    stack_bytes: int
    spill_instructions: int
    loop_instructions: int
    tensor_core_instructions: int
    instructions_per_weight: float


def _compile(kernel, signature: dict, constexprs: dict, arch: int):
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    source = ASTSource(fn=kernel, signature=signature, constexprs=constexprs)
    return triton.compile(source, target=GPUTarget("cuda", arch, 32), options={"num_warps": NUM_WARPS})


def _tool(name: str) -> str:
    import triton

    return str(Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / name)


def _sass_and_resources(cubin: bytes) -> tuple[list[tuple[int, str]], str]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "kernel.cubin"
        path.write_bytes(cubin)
        sass = subprocess.run([_tool("cuobjdump"), "-sass", str(path)], capture_output=True, text=True, check=True)
        usage = subprocess.run([_tool("cuobjdump"), "-res-usage", str(path)], capture_output=True, text=True,
                               check=True)
    instructions = [(int(address, 16), text.strip()) for address, text in SASS_LINE.findall(sass.stdout)]
    return instructions, usage.stdout


def main_loop(instructions: list[tuple[int, str]]) -> list[str]:
    """The instructions of the longest loop: from a backward branch's target to the branch itself."""
    best: list[str] = []
    for address, text in instructions:
        jump = re.search(r"\bBRA\b.*?(0x[0-9a-f]+)", text)
        if jump and int(jump.group(1), 16) < address:
            body = [t for a, t in instructions if int(jump.group(1), 16) <= a <= address]
            best = max(best, body, key=len)
    return best


def kernel_stats(kernel_name: str, kernel, signature: dict, tile: str, sizes: tuple[int, int, int],
                 weights_per_iteration: int, arch: int) -> KernelStats:
    import triton.language as tl

    block_m, block_n, block_k = sizes
    constexprs = {"BLOCK_M": block_m, "BLOCK_N": block_n, "BLOCK_K": block_k, "DOT_DTYPE": tl.bfloat16}
    compiled = _compile(kernel, {**signature, **dict.fromkeys(constexprs, "constexpr")}, constexprs, arch)
    instructions, usage = _sass_and_resources(compiled.asm["cubin"])
    registers = int(re.search(r"REG:(\d+)", usage).group(1))
    stack_bytes = int(re.search(r"STACK:(\d+)", usage).group(1))
    spills = sum(1 for _, text in instructions if re.match(r"(@!?P\d+\s+)?(STL|LDL)\b", text))
    loop = main_loop(instructions)
    tensor_core = sum(1 for text in loop if re.search(r"\bH(G)?MMA\b", text))
    per_weight = len(loop) * NUM_WARPS * 32 / weights_per_iteration
    return KernelStats(kernel_name, tile, registers, stack_bytes, spills, len(loop), tensor_core, per_weight)


def moe_kernel_stats(arch: int = 90) -> list[KernelStats]:
    """Statistics of both MoE kernels in every tile configuration, compiled for ``sm_{arch}``."""
    from gptoss_edu.kernels import moe

    common = {"order_ptr": "*i32", "tile_expert_ptr": "*i32", "tile_start_ptr": "*i32", "tile_end_ptr": "*i32",
              "blocks_ptr": "*u8", "scales_ptr": "*u8", "bias_ptr": "*bf16"}
    mlp1 = {"x_ptr": "*bf16", **common, "h_ptr": "*bf16", "hidden": "i32", "intermediate": "i32",
            "num_experts": "i32", "experts_per_token": "i32", "alpha": "fp32", "limit": "fp32"}
    mlp2 = {"h_ptr": "*bf16", **common, "routing_weight_ptr": "*fp32", "y_ptr": "*fp32", "hidden": "i32",
            "intermediate": "i32", "num_experts": "i32"}
    stats = []
    for tile, (block_m, block_n, block_k) in TILES.items():
        # mlp1 reads a gate row and a linear row per output unit; mlp2 one row per output
        stats.append(kernel_stats("mlp1 + SwiGLU", moe._mlp1_swiglu_kernel, mlp1, tile, (block_m, block_n, block_k),
                                  2 * block_n * block_k, arch))
        stats.append(kernel_stats("mlp2 + weight", moe._mlp2_weighted_kernel, mlp2, tile, (block_m, block_n, block_k),
                                  block_n * block_k, arch))
    return stats


def table(stats: list[KernelStats], arch: int) -> str:
    lines = [f"MoE kernels compiled for sm_{arch}, {NUM_WARPS} warps, bf16 activations",
             "| kernel | tile (M, N, K) | registers | stack bytes | STL/LDL instr. | loop instr. | tensor-core instr. "
             "| instr. per weight |", "|---|---|---|---|---|---|---|---|"]
    for s in stats:
        lines.append(f"| {s.kernel} | {s.tile} {TILES[s.tile]} | {s.registers} | {s.stack_bytes} | "
                     f"{s.spill_instructions} | {s.loop_instructions} | {s.tensor_core_instructions} | "
                     f"{s.instructions_per_weight:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, default=90, help="compute capability times ten (90: H100/H200)")
    args = parser.parse_args(argv)
    if os.environ.get("TRITON_INTERPRET") == "1":
        print("TRITON_INTERPRET=1 is set: unset it, the interpreter compiles nothing", file=sys.stderr)
        return 2
    print(table(moe_kernel_stats(args.arch), args.arch))
    return 0


if __name__ == "__main__":
    sys.exit(main())
