"""The kernels' machine code on a Hopper GPU, seen without one: compile, disassemble, count.

    python -m gptoss_edu.kernels.sass [--arch 90] [--only moe|norm]

Triton compiles a kernel for any NVIDIA architecture on a machine without a GPU (its own
``ptxas`` ships with it), and ``cuobjdump`` (also shipped) prints the machine code (SASS). Each
kernel is compiled as a launch would specialise it (pointers 16-byte aligned, the 20b's
hidden and intermediate sizes 2880). Run it in a process without the interpreter
(``TRITON_INTERPRET`` unset): the interpreter compiles nothing.

For the MoE kernels, the readable one of ``moe`` (checkpoint layout, byte by byte) and the
fast one of ``moe_fast`` (the GPU layout of ``gptoss_edu.fast.mxfp4_layout``, 8 weights per
32-bit word), in each tile configuration, it prints:

- registers per thread, the stack (local memory) per thread, and the instructions that store to and
  load from it (``STL``/``LDL``): values spill there when registers run out, and it is slow;
- the instructions of the main loop (the longest backward branch), and from them the
  instructions per weight: loop instructions x threads per program / weights per iteration.
  A kernel that reads MXFP4 at the memory's speed needs a few instructions per weight at most
  (the goal of issue 18 is 4); everything above that is decode work the memory waits for;
- the tensor-core instructions (``HMMA``/``HGMMA``) in that loop.

For the fused RMSNorm kernels of ``norm_linear`` (the pre-norm fused into ``qkv``, and into
the router with top-4 and softmax), in the tiles they pick for a decode step and a prefill,
for 20b's 32 and 120b's 128 experts: registers, stack bytes and spill instructions.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import interpreter_enabled

NUM_WARPS = 4  # the readable kernel's; the fast kernel's come from its CONFIGS table
HIDDEN = INTERMEDIATE = 2880  # gpt-oss-20b and 120b
TILES = {  # name -> (BLOCK_M, BLOCK_N, BLOCK_K), the configurations kernels.moe._tile_sizes picks on a GPU
    "decode (<= 16 rows per expert)": (16, 32, 256),
    "prefill (<= 64 rows per expert)": (64, 64, 128),
    "prefill (more rows)": (128, 64, 128),
}
FAST_TILES = {"decode": "decode (batch 1-8)", "grouped": "grouped (prefill)"}  # kernels.moe_fast.CONFIGS kinds
SASS_LINE = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(.*?);")


@dataclass(frozen=True)
class KernelStats:
    kernel: str
    tile: str
    sizes: tuple[int, int, int]
    warps: int
    registers: int
    stack_bytes: int
    spill_instructions: int
    loop_instructions: int
    tensor_core_instructions: int
    instructions_per_weight: float


def compile_for(kernel, signature: dict, constexprs: dict, arch: int, warps: int):
    """Compile as a launch with aligned pointers and sizes divisible by 16 would (Triton's specialisation)."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    aligned = {(i,): [["tt.divisibility", 16]] for i, (name, kind) in enumerate(signature.items())
               if kind.startswith("*") or name in ("hidden", "intermediate")}
    source = ASTSource(fn=kernel, signature=signature, constexprs=constexprs, attrs=aligned)
    return triton.compile(source, target=GPUTarget("cuda", arch, 32), options={"num_warps": warps})


def _tool(name: str) -> str:
    import triton

    return str(Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / name)


def sass_and_resources(cubin: bytes) -> tuple[list[tuple[int, str]], str]:
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
                 weights_per_iteration: int, arch: int, warps: int = NUM_WARPS, extra: dict | None = None
                 ) -> KernelStats:
    import triton.language as tl

    block_m, block_n, block_k = sizes
    constexprs = {**(extra or {}), "BLOCK_M": block_m, "BLOCK_N": block_n, "BLOCK_K": block_k,
                  "DOT_DTYPE": tl.bfloat16}
    constexprs = {name: constexprs[name] for name in kernel.arg_names if name in constexprs}  # in argument order
    signature = {name: signature.get(name, "constexpr") for name in kernel.arg_names}
    compiled = compile_for(kernel, signature, constexprs, arch, warps)
    instructions, usage = sass_and_resources(compiled.asm["cubin"])
    registers = int(re.search(r"REG:(\d+)", usage).group(1))
    stack_bytes = int(re.search(r"STACK:(\d+)", usage).group(1))
    spills = sum(1 for _, text in instructions if re.match(r"(@!?P\d+\s+)?(STL|LDL)\b", text))
    loop = main_loop(instructions)
    tensor_core = sum(1 for text in loop if re.search(r"\bH(G)?MMA\b", text))
    per_weight = len(loop) * warps * 32 / weights_per_iteration
    return KernelStats(kernel_name, tile, sizes, warps, registers, stack_bytes, spills, len(loop), tensor_core,
                       per_weight)


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


def fast_kernel_stats(arch: int = 90) -> list[KernelStats]:
    """Statistics of the fast kernels (``kernels.moe_fast``) in the tiles its table gives ``sm_{arch}``."""
    import triton.language as tl
    from gptoss_edu.kernels import moe_fast

    common = {"order_ptr": "*i32", "tile_expert_ptr": "*i32", "tile_start_ptr": "*i32", "tile_end_ptr": "*i32",
              "words_ptr": "*i32", "scales_ptr": "*u8", "bias_ptr": "*bf16", "num_experts": "i32"}
    mlp1 = {"x_ptr": "*bf16", **common, "h_ptr": "*bf16", "experts_per_token": "i32", "alpha": "fp32",
            "limit": "fp32"}
    mlp2 = {"h_ptr": "*bf16", **common, "routing_weight_ptr": "*fp32", "y_ptr": "*fp32"}
    configs = moe_fast.CONFIGS.get((arch // 10, arch % 10), moe_fast.CONFIGS["default"])
    stats = []
    for kind, tile in FAST_TILES.items():
        block_m, block_n, block_k, warps = configs[kind]
        extra = {"HIDDEN": HIDDEN, "INTERMEDIATE": INTERMEDIATE, "BF16_MATH": True,
                 "TAIL_K": moe_fast.k_blocks(HIDDEN, block_k)["TAIL_K"], "DOT_DTYPE": tl.bfloat16}
        sizes = (block_m, block_n, block_k)
        stats.append(kernel_stats("fast mlp1 + SwiGLU", moe_fast._mlp1_swiglu_fast_kernel, mlp1, tile, sizes,
                                  2 * block_n * block_k, arch, warps, extra))
        stats.append(kernel_stats("fast mlp2 + weight", moe_fast._mlp2_weighted_fast_kernel, mlp2, tile, sizes,
                                  block_n * block_k, arch, warps, extra))
    return stats


def moe_table(stats: list[KernelStats], arch: int) -> str:
    lines = [f"MoE kernels compiled for sm_{arch}, bf16 activations, hidden = intermediate = {HIDDEN}",
             "| kernel | tile (M, N, K) | warps | registers | stack bytes | STL/LDL instr. | loop instr. "
             "| tensor-core instr. | instr. per weight |", "|---|---|---|---|---|---|---|---|---|"]
    for s in stats:
        lines.append(f"| {s.kernel} | {s.tile} {s.sizes} | {s.warps} | {s.registers} | {s.stack_bytes} | "
                     f"{s.spill_instructions} | {s.loop_instructions} | {s.tensor_core_instructions} | "
                     f"{s.instructions_per_weight:.1f} |")
    return "\n".join(lines)


BF16_LINEAR = {"x_ptr": "*bf16", "scale_ptr": "*fp32", "w_ptr": "*bf16", "b_ptr": "*bf16", "out_ptr": "*bf16",
               "rows": "i32", "features": "i32", "outputs": "i32", "eps": "fp32"}
BF16_ROUTER = {"x_ptr": "*bf16", "scale_ptr": "*fp32", "w_ptr": "*bf16", "b_ptr": "*bf16", "normed_ptr": "*bf16",
               "weights_ptr": "*bf16", "indices_ptr": "*i64", "rows": "i32", "features": "i32", "experts": "i32",
               "eps": "fp32"}
NORM_ROWS = {"decode, batch 1": 1, "prefill": 4096}


def norm_resources(kernel, signature: dict, constexprs: dict, arch: int) -> tuple[int, int, int]:
    """``(registers, stack bytes, spill instructions)`` of ``kernel`` compiled for ``sm_{arch}``."""
    compiled = compile_for(kernel, {**signature, **dict.fromkeys(constexprs, "constexpr")}, constexprs, arch, NUM_WARPS)
    instructions, usage = sass_and_resources(compiled.asm["cubin"])
    spills = sum(1 for _, text in instructions if re.match(r"(@!?P\d+\s+)?(STL|LDL)\b", text))
    return int(re.search(r"REG:(\d+)", usage).group(1)), int(re.search(r"STACK:(\d+)", usage).group(1)), spills


def norm_kernel_stats(arch: int = 90) -> list[tuple[str, str, tuple[int, ...], tuple[int, int, int]]]:
    """``(kernel, case, tile, (registers, stack, spills))`` for every kernel and case."""
    import triton.language as tl
    from gptoss_edu.kernels import norm_linear as fused

    out = []
    for case, rows in NORM_ROWS.items():
        block_m, block_n, block_k = fused.norm_linear_tile(rows)
        constexprs = {"HAS_BIAS": True, "DOT_DTYPE": tl.bfloat16, "BLOCK_M": block_m, "BLOCK_N": block_n,
                      "BLOCK_K": block_k}
        out.append(("norm_linear (qkv)", case, (block_m, block_n, block_k),
                    norm_resources(fused._norm_linear_kernel, BF16_LINEAR, constexprs, arch)))
        for experts in (32, 128):
            block_m, block_e, block_k = fused.router_tile(rows, experts)
            constexprs = {"K": 4, "DOT_DTYPE": tl.bfloat16, "BLOCK_M": block_m, "BLOCK_E": block_e, "BLOCK_TOP": 4,
                          "BLOCK_K": block_k}
            out.append((f"norm_and_route ({experts} experts)", case, (block_m, block_e, block_k),
                        norm_resources(fused._norm_route_kernel, BF16_ROUTER, constexprs, arch)))
    return out


def norm_table(rows: list[tuple[str, str, tuple[int, ...], tuple[int, int, int]]], arch: int) -> str:
    lines = [f"fused RMSNorm kernels compiled for sm_{arch}, {NUM_WARPS} warps, bf16 activations",
             "| kernel | case | tile (M, N or E, K) | registers | stack bytes | STL/LDL instr. |", "|---|---|---|---|---|---|"]
    lines += [f"| {kernel} | {case} | {tile} | {registers} | {stack} | {spills} |"
              for kernel, case, tile, (registers, stack, spills) in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, default=90, help="compute capability times ten (90: H100/H200)")
    parser.add_argument("--only", choices=("moe", "norm"), help="one family of kernels (default: both)")
    args = parser.parse_args(argv)
    if interpreter_enabled():
        print("TRITON_INTERPRET=1 is set: unset it, the interpreter compiles nothing", file=sys.stderr)
        return 2
    if args.only in (None, "moe"):
        print(moe_table(moe_kernel_stats(args.arch) + fast_kernel_stats(args.arch), args.arch))
    if args.only in (None, "norm"):
        print(norm_table(norm_kernel_stats(args.arch), args.arch))
    return 0


if __name__ == "__main__":
    sys.exit(main())
