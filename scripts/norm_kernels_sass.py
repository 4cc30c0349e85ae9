"""The fused RMSNorm kernels (``kernels/norm_linear.py``) compiled for a Hopper GPU without one: registers and spills.

    python scripts/norm_kernels_sass.py [--arch 90]

Compiles ``norm_linear`` (the pre-norm fused into ``qkv``) and ``norm_and_route`` (the
pre-norm fused into the router with top-4 and softmax) in the tiles the kernels pick for a
decode step and for a prefill, for 20b's 32 and 120b's 128 experts, with Triton's own
``ptxas``, and prints registers per thread, stack bytes and spill (``STL``/``LDL``)
instructions from the SASS. Compiling and disassembling reuse ``kernel_sass_stats.py``.
"""
from __future__ import annotations

import argparse
import os
import re
import sys

from kernel_sass_stats import NUM_WARPS, _compile, _sass_and_resources

BF16_LINEAR = {"x_ptr": "*bf16", "scale_ptr": "*fp32", "w_ptr": "*bf16", "b_ptr": "*bf16", "out_ptr": "*bf16",
               "rows": "i32", "features": "i32", "outputs": "i32", "eps": "fp32"}
BF16_ROUTER = {"x_ptr": "*bf16", "scale_ptr": "*fp32", "w_ptr": "*bf16", "b_ptr": "*bf16", "normed_ptr": "*bf16",
               "weights_ptr": "*bf16", "indices_ptr": "*i64", "rows": "i32", "features": "i32", "experts": "i32",
               "eps": "fp32"}
ROWS = {"decode, batch 1": 1, "prefill": 4096}


def resources(kernel, signature: dict, constexprs: dict, arch: int) -> tuple[int, int, int]:
    """``(registers, stack bytes, spill instructions)`` of ``kernel`` compiled for ``sm_{arch}``."""
    compiled = _compile(kernel, {**signature, **dict.fromkeys(constexprs, "constexpr")}, constexprs, arch, NUM_WARPS)
    instructions, usage = _sass_and_resources(compiled.asm["cubin"])
    spills = sum(1 for _, text in instructions if re.match(r"(@!?P\d+\s+)?(STL|LDL)\b", text))
    return int(re.search(r"REG:(\d+)", usage).group(1)), int(re.search(r"STACK:(\d+)", usage).group(1)), spills


def rows_of_stats(arch: int = 90) -> list[tuple[str, str, tuple[int, ...], tuple[int, int, int]]]:
    """``(kernel, case, tile, (registers, stack, spills))`` for every kernel and case."""
    import triton.language as tl
    from gptoss_edu.kernels import norm_linear as fused

    out = []
    for case, rows in ROWS.items():
        block_m, block_n, block_k = fused.norm_linear_tile(rows)
        constexprs = {"HAS_BIAS": True, "DOT_DTYPE": tl.bfloat16, "BLOCK_M": block_m, "BLOCK_N": block_n,
                      "BLOCK_K": block_k}
        out.append(("norm_linear (qkv)", case, (block_m, block_n, block_k),
                    resources(fused._norm_linear_kernel, BF16_LINEAR, constexprs, arch)))
        for experts in (32, 128):
            block_m, block_e, block_k = fused.router_tile(rows, experts)
            constexprs = {"K": 4, "DOT_DTYPE": tl.bfloat16, "BLOCK_M": block_m, "BLOCK_E": block_e, "BLOCK_TOP": 4,
                          "BLOCK_K": block_k}
            out.append((f"norm_and_route ({experts} experts)", case, (block_m, block_e, block_k),
                        resources(fused._norm_route_kernel, BF16_ROUTER, constexprs, arch)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, default=90, help="compute capability times ten (90: H100/H200)")
    args = parser.parse_args(argv)
    if os.environ.get("TRITON_INTERPRET") == "1":
        print("TRITON_INTERPRET=1 is set: unset it, the interpreter compiles nothing", file=sys.stderr)
        return 2
    print(f"fused RMSNorm kernels compiled for sm_{args.arch}, {NUM_WARPS} warps, bf16 activations")
    print("| kernel | case | tile (M, N or E, K) | registers | stack bytes | STL/LDL instr. |\n|---|---|---|---|---|---|")
    for kernel, case, tile, (registers, stack, spills) in rows_of_stats(args.arch):
        print(f"| {kernel} | {case} | {tile} | {registers} | {stack} | {spills} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
