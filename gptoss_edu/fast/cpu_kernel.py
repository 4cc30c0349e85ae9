"""A fused MXFP4 matrix-vector product for the CPU, compiled once with the system's C compiler.

``mxfp4_matvec(blocks, scales, x)`` computes ``x @ W.T`` for an MXFP4 weight ``W (rows, K)``
held as ``blocks (rows, K/32, 16)`` and ``scales (rows, K/32)``, straight from the packed
bytes: each byte is split into its two 4-bit codes, each code looked up in the 16 E2M1
values, multiplied by the matching activations, and the block's sum scaled by
``2**(scale - 127)``. Nothing larger than one 16-value vector is ever decoded, so a decode
step reads 4.25 bits per weight from memory and writes nothing back.

Why C and not ``torch.compile``: we measured both (see ``benchmarks/cpu_decode.py``).
Inductor's C++ code for the same formula decodes a byte in tens of instructions (it has no
16-entry in-register lookup), about 0.4 GB/s of packed weights per core here. The kernel
below looks the 16 codes up with one AVX-512 permute (``vpermps``), about 15x faster, and
falls back to a plain loop that any C compiler vectorises where AVX-512 is absent.

The shared library is built on first use into ``$GPTOSS_EDU_CACHE/cpu_kernels`` (default
``~/.cache/gptoss_edu/cpu_kernels``), keyed by a hash of the source, compiler flags and
machine; ``load_kernel()`` returns ``None`` with the reason in ``kernel_problem()`` when no
compiler is found or the build fails, and callers fall back to the plain torch path.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch

from gptoss_edu.io.offline import cache_root

SOURCE = r"""
#include <stdint.h>
#include <math.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

static const float E2M1[16] = {0.f, .5f, 1.f, 1.5f, 2.f, 3.f, 4.f, 6.f,
                               -0.f, -.5f, -1.f, -1.5f, -2.f, -3.f, -4.f, -6.f};
#define MAX_TOKENS 8  /* tokens sharing one decoded block, kept in registers */

#if defined(__AVX512F__)
/* acc[t] += scale * sum_j (E2M1[lo(b_j)] * x_t[j] + E2M1[hi(b_j)] * x_t[16 + j]) for one block of 16 bytes. */
static inline void block_fma(const uint8_t *b, float scale_value, const float *xs, int64_t x_stride, int64_t n,
                             __m512 table, __m512i low_nibble, __m512 *acc) {
    __m512i bytes = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)b));
    __m512 lo = _mm512_permutexvar_ps(_mm512_and_si512(bytes, low_nibble), table);  /* 16 lookups at once */
    __m512 hi = _mm512_permutexvar_ps(_mm512_srli_epi32(bytes, 4), table);
    __m512 scale = _mm512_set1_ps(scale_value);
    for (int64_t t = 0; t < n; t++) {
        const float *x = xs + t * x_stride;
        __m512 part = _mm512_mul_ps(lo, _mm512_loadu_ps(x));
        part = _mm512_fmadd_ps(hi, _mm512_loadu_ps(x + 16), part);
        acc[t] = _mm512_fmadd_ps(part, scale, acc[t]);
    }
}
#endif

/* y[t, r] = sum_g 2^(scales[r, g] - 127) * sum_j (E2M1[lo(b)] * xe[t, g, j] + E2M1[hi(b)] * xo[t, g, j])
   for rows r in [r0, r1), tokens t in [0, n) with n <= MAX_TOKENS.
   blocks (rows, groups, 16) bytes; scales (rows, groups); xs (n, groups, 2, 16): even then odd inputs. */
static void rows_kernel(const uint8_t *blocks, const uint8_t *scales, const float *xs, float *y,
                        int64_t rows, int64_t groups, int64_t n, int64_t r0, int64_t r1,
                        const float *scale_of) {
    const int64_t x_stride = groups * 32;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *b = blocks + r * groups * 16;
        const uint8_t *s = scales + r * groups;
#if defined(__AVX512F__)
        const __m512 table = _mm512_loadu_ps(E2M1);
        const __m512i low_nibble = _mm512_set1_epi32(15);
        __m512 even[MAX_TOKENS], odd[MAX_TOKENS];  /* two accumulators: blocks alternate, halving the add chain */
        for (int64_t t = 0; t < n; t++) even[t] = odd[t] = _mm512_setzero_ps();
        int64_t g = 0;
        for (; g + 1 < groups; g += 2) {
            block_fma(b + g * 16, scale_of[s[g]], xs + g * 32, x_stride, n, table, low_nibble, even);
            block_fma(b + g * 16 + 16, scale_of[s[g + 1]], xs + g * 32 + 32, x_stride, n, table, low_nibble, odd);
        }
        if (g < groups) block_fma(b + g * 16, scale_of[s[g]], xs + g * 32, x_stride, n, table, low_nibble, even);
        for (int64_t t = 0; t < n; t++) y[t * rows + r] = _mm512_reduce_add_ps(_mm512_add_ps(even[t], odd[t]));
#else
        float acc[MAX_TOKENS] = {0};
        for (int64_t g = 0; g < groups; g++) {
            float lo[16], hi[16];
            for (int j = 0; j < 16; j++) { lo[j] = E2M1[b[g * 16 + j] & 15]; hi[j] = E2M1[b[g * 16 + j] >> 4]; }
            const float scale = scale_of[s[g]];
            for (int64_t t = 0; t < n; t++) {
                const float *x = xs + t * x_stride + g * 32;
                float part = 0.f;
                for (int j = 0; j < 16; j++) part += lo[j] * x[j] + hi[j] * x[16 + j];
                acc[t] += part * scale;
            }
        }
        for (int64_t t = 0; t < n; t++) y[t * rows + r] = acc[t];
#endif
    }
}

int mxfp4_max_tokens(void) { return MAX_TOKENS; }

void mxfp4_matvec(const uint8_t *blocks, const uint8_t *scales, const float *xs, float *y,
                  int64_t rows, int64_t groups, int64_t n, int threads) {
    float scale_of[256];
    for (int i = 0; i < 256; i++) scale_of[i] = ldexpf(1.f, i - 127);
    const int64_t chunk = 32, chunks = (rows + chunk - 1) / chunk;
    /* dynamic: on a shared machine a thread that gets descheduled does not hold the others up */
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int64_t c = 0; c < chunks; c++) {
        int64_t r0 = c * chunk, r1 = r0 + chunk < rows ? r0 + chunk : rows;
        rows_kernel(blocks, scales, xs, y, rows, groups, n, r0, r1, scale_of);
    }
}
"""

_ARGTYPES = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
             ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_int]


def cache_dir() -> Path:
    """Where built kernels are kept: ``$GPTOSS_EDU_CACHE/cpu_kernels`` or ``~/.cache/gptoss_edu/cpu_kernels``."""
    return cache_root() / "cpu_kernels"


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _machine_key() -> str:
    """CPU model and flags, so a library built with ``-march=native`` is never used on another CPU."""
    info = Path("/proc/cpuinfo")
    text = info.read_text() if info.exists() else ""
    lines = [line for line in text.splitlines() if line.startswith(("model name", "flags", "Features"))][:2]
    return platform.machine() + platform.system() + "".join(lines)


def _build(compiler: str, library: Path) -> str | None:
    """Compile ``SOURCE`` into ``library`` (with OpenMP if the compiler has it); return an error or None."""
    library.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=library.parent) as work:
        source = Path(work) / "mxfp4_matvec.c"
        source.write_text(SOURCE)
        partial = Path(work) / library.name
        error = ""
        for flags in (["-fopenmp"], []):  # macOS clang has no OpenMP: build single-threaded
            command = [compiler, "-O3", "-march=native", "-shared", "-fPIC", *flags, str(source), "-o", str(partial), "-lm"]
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode == 0:
                partial.replace(library)  # atomic: concurrent processes never see a half-written file
                return None
            error = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"exit {result.returncode}"
        return f"{compiler} failed: {error}"


@functools.lru_cache(maxsize=1)
def _load() -> tuple[ctypes.CDLL | None, str]:
    compiler = _compiler()
    if compiler is None:
        return None, "no C compiler found (set CC or install gcc/clang)"
    key = hashlib.sha256((SOURCE + compiler + _machine_key()).encode()).hexdigest()[:16]
    library = cache_dir() / f"mxfp4_matvec_{key}.so"
    if not library.exists():
        problem = _build(compiler, library)
        if problem:
            return None, problem
    try:
        lib = ctypes.CDLL(str(library))
    except OSError as e:
        return None, f"cannot load {library}: {e}"
    lib.mxfp4_matvec.argtypes = _ARGTYPES
    lib.mxfp4_matvec.restype = None
    return lib, ""


def load_kernel() -> ctypes.CDLL | None:
    """The compiled kernel library, building it on first use; ``None`` where it cannot be built."""
    return _load()[0]


def kernel_problem() -> str:
    """Why ``load_kernel()`` returned ``None`` (empty when the kernel is available)."""
    return _load()[1]


def max_tokens() -> int:
    """Tokens one kernel call multiplies at once (more are done in several calls)."""
    lib = load_kernel()
    return lib.mxfp4_max_tokens() if lib is not None else 0


def split_even_odd(x: torch.Tensor) -> torch.Tensor:
    """``x (n, K)`` -> float32 ``(n, K/32, 2, 16)``: per 32-block the 16 even inputs, then the 16 odd ones.

    Even inputs meet the low nibbles of a block's bytes, odd inputs the high nibbles.
    """
    return x.float().reshape(x.shape[0], -1, 16, 2).transpose(-1, -2).contiguous()


def mxfp4_matvec(blocks: torch.Tensor, scales: torch.Tensor, x: torch.Tensor,
                 threads: int | None = None) -> torch.Tensor:
    """``x (n, K) @ W.T`` for MXFP4 ``W`` given as ``blocks (rows, K/32, 16)``, ``scales (rows, K/32)``.

    Returns float32 ``(n, rows)``, accumulated in float32. ``blocks``/``scales`` must be
    contiguous uint8 CPU tensors (views of one expert of a stacked weight are). Raises
    ``RuntimeError`` when the kernel is unavailable (see ``kernel_problem``).
    """
    lib = load_kernel()
    if lib is None:
        raise RuntimeError(f"the fused MXFP4 CPU kernel is unavailable: {kernel_problem()}")
    rows, groups = scales.shape
    if blocks.shape != (rows, groups, 16) or x.shape[-1] != groups * 32:
        raise ValueError(f"MXFP4 blocks {tuple(blocks.shape)}, scales {tuple(scales.shape)} and inputs "
                         f"{tuple(x.shape)} do not fit (rows, K/32, 16), (rows, K/32), (n, K)")
    if not (blocks.is_contiguous() and scales.is_contiguous()) or blocks.device.type != "cpu":
        raise ValueError("MXFP4 blocks and scales must be contiguous CPU tensors")
    xs = split_even_odd(x)  # (n, G, 2, 16)
    out = torch.empty(x.shape[0], rows, dtype=torch.float32)
    threads = threads or torch.get_num_threads()
    step = lib.mxfp4_max_tokens()
    for t0 in range(0, x.shape[0], step):
        chunk = xs[t0:t0 + step]
        lib.mxfp4_matvec(blocks.data_ptr(), scales.data_ptr(), chunk.data_ptr(), out[t0:].data_ptr(),
                         rows, groups, chunk.shape[0], threads)
    return out
