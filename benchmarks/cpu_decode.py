"""CPU decode speed at batch 1: ours (default, packed fused, dequantized) against transformers, and the roofline.

One 2-layer checkpoint at gpt-oss-20b's width (hidden 2880, 32 experts, the 201088-token
vocabulary) is written to disk in both layouts (random weights, same values). Every decoder
is loaded from it the way its users load it:

- ours, default: ``load_model(original/, dtype=bf16)``, exactly as a user calls it;
- ours, packed fused: the same model after ``use_fused_cpu_experts`` (the MXFP4 kernel of
  ``gptoss_edu.fast.cpu_kernel``, reading the packed bytes once per step);
- ours, dequantized: ``load_model(..., experts="dequantized")``, dense bf16 experts;
- transformers: ``GptOssForCausalLM.from_pretrained(hf/, dtype=bf16)`` (on CPU it dequantizes
  the MXFP4 experts to bf16), with its default experts implementation and with ``eager``.

Decoding one token must read every weight it uses once, so its floor is ``bytes per token /
memory bandwidth``; the bandwidth is measured in the same run with a bf16 mat-vec as large
as the model's per-token read, between rows (the machine may be shared), and the best value
is kept. Decode rate = one over the median gap between consecutive new tokens (prefill
excluded). ``--breakdown`` adds a per-token time profile by part of the decode step;
``--kernels`` compares the expert-matrix options (fused C, ``torch.compile``, decode + matmul).

    python benchmarks/cpu_decode.py [--new-tokens 24] [--threads N] [--folder DIR] [--breakdown] [--kernels]
"""
from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from collections import defaultdict
from functools import partial
from pathlib import Path

import torch

from gptoss_edu.config import GPT_OSS_20B, ModelConfig, bytes_per_decoded_token, parameter_count
from gptoss_edu.fast.cpu_experts import use_fused_cpu_experts
from gptoss_edu.io.checkpoint import load_model
from gptoss_edu.model.generation import generate
from weights_tools.synthetic import write_checkpoint

CONFIG = GPT_OSS_20B.replace(num_hidden_layers=2, name="gpt-oss-20b-width-2-layers")
PROMPT = list(range(1000, 1064))  # 64 prompt tokens
KERNELS_NOTE = ("transformers' native MXFP4 CPU path (use_kernels=True) downloads its kernel from the Hugging Face "
                "hub at run time;\nit cannot be measured offline here, so its rows are the bf16 dequantized ones it "
                "falls back to.")


def bf16_expert_bytes_per_token(config: ModelConfig) -> float:
    """Weights read per decoded token when the experts are bf16 (the other terms as in the config module)."""
    parts = parameter_count(config)
    floor = bytes_per_decoded_token(config)
    dense_experts = parts["experts"] // config.num_experts * config.experts_per_token * 2
    return floor["total"] - floor["experts"] + dense_experts


def measure_bandwidth(weight_bytes: float, repeats: int = 5) -> float:
    """GB/s of a bf16 mat-vec ``W (rows, 2880) @ x`` whose ``W`` has about ``weight_bytes`` bytes (best of ``repeats``)."""
    columns = CONFIG.hidden_size
    weight = torch.empty(int(weight_bytes) // (2 * columns), columns, dtype=torch.bfloat16).normal_()
    x = torch.randn(1, columns, dtype=torch.bfloat16)
    torch.nn.functional.linear(x, weight)  # warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.nn.functional.linear(x, weight)
        best = min(best, time.perf_counter() - start)
    return weight.numel() * 2 / best / 1e9


def ours_decode(model, n: int) -> tuple[list[int], list[float]]:
    """Greedy tokens and the time at which each was produced."""
    tokens, times = [], []
    for token in generate(model, PROMPT, max_new_tokens=n, stop_tokens=()):
        times.append(time.perf_counter())
        tokens.append(token)
    return tokens, times


class _TokenClock:
    """A transformers streamer that notes when each new token arrives (the first ``put`` is the prompt)."""

    def __init__(self):
        self.times: list[float] = []
        self.seen_prompt = False

    def put(self, value: torch.Tensor) -> None:
        if self.seen_prompt:
            self.times.append(time.perf_counter())
        self.seen_prompt = True

    def end(self) -> None:
        pass


def transformers_decode(model, n: int) -> tuple[list[int], list[float]]:
    clock = _TokenClock()
    with torch.inference_mode():
        out = model.generate(torch.tensor([PROMPT]), max_new_tokens=n, min_new_tokens=n, do_sample=False,
                             eos_token_id=None, pad_token_id=0, streamer=clock)
    return out[0, len(PROMPT):].tolist(), clock.times


def decode_rate(run, n: int) -> tuple[float, list[int]]:
    """Tokens/s of the decode steps alone: one over the median gap between consecutive new tokens."""
    run(2)  # warm up
    tokens, times = run(n)
    gaps = sorted(b - a for a, b in zip(times, times[1:]))
    return 1 / gaps[len(gaps) // 2], tokens


def write_checkpoints(root: Path) -> tuple[Path, Path]:
    """The 2-layer checkpoint in both layouts under ``root`` (written once, reused when present)."""
    folders = []
    for layout in ("original", "hf"):
        folder = root / layout
        if not (folder / "config.json").exists():
            print(f"writing the {layout} layout to {folder} ...", flush=True)
            write_checkpoint(folder, CONFIG, layout, seed=0)
        folders.append(folder)
    return folders[0], folders[1]


# ---- per-token time by part ----------------------------------------------------------------
class PartClock:
    """Accumulates wall time per named part of a forward pass, from module hooks and wrapped cores."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self._started: dict[int, float] = {}
        self._handles = []

    def time_module(self, module: torch.nn.Module, part: str) -> None:
        def before(mod, args):
            self._started[id(mod)] = time.perf_counter()

        def after(mod, args, out):
            self.seconds[part] += time.perf_counter() - self._started.pop(id(mod))

        self._handles += [module.register_forward_pre_hook(before), module.register_forward_hook(after)]

    def timed(self, core, part: str):
        def run(*args):
            start = time.perf_counter()
            out = core(*args)
            self.seconds[part] += time.perf_counter() - start
            return out
        return run

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


def decode_breakdown(model, steps: int = 16, context: int = 64) -> dict[str, float]:
    """Median-free mean milliseconds per decoded token for each part of the step (after ``context`` tokens)."""
    clock = PartClock()
    cores = [(b.attn.attention_core, b.mlp.experts_core) for b in model.block]
    for block, (attention_core, experts_core) in zip(model.block, cores):
        clock.time_module(block.attn, "attention block")
        clock.time_module(block.mlp, "moe block")
        block.attn.attention_core = clock.timed(attention_core, "attention over the cache")
        block.mlp.experts_core = clock.timed(experts_core, "experts")
    clock.time_module(model.unembedding, "unembedding")
    clock.time_module(model.norm, "final norm")
    clock.time_module(model.embedding, "embedding")
    total = 0.0
    with torch.inference_mode():
        cache = model.new_cache(capacity=context + steps + 1)
        logits = model(torch.tensor(PROMPT[:context]), cache=cache)[-1]
        clock.seconds.clear()
        for _ in range(steps):
            start = time.perf_counter()
            token = torch.argmax(logits).reshape(1)
            logits = model(token, cache=cache)[-1]
            total += time.perf_counter() - start
    clock.remove()
    for block, (attention_core, experts_core) in zip(model.block, cores):
        block.attn.attention_core, block.mlp.experts_core = attention_core, experts_core
    s = clock.seconds
    parts = {
        "attention over the cache": s["attention over the cache"],
        "attention projections, rope, cache": s["attention block"] - s["attention over the cache"],
        "router and norms": s["moe block"] - s["experts"] + s["final norm"],
        "experts": s["experts"],
        "unembedding": s["unembedding"],
        "embedding": s["embedding"],
    }
    parts["python and the rest"] = total - sum(parts.values())
    parts["total"] = total
    return {name: 1000 * seconds / steps for name, seconds in parts.items()}


def print_breakdown(model, config: ModelConfig, bandwidth: float) -> None:
    floor = bytes_per_decoded_token(config)
    share = {"attention over the cache": 0.0, "attention projections, rope, cache": floor["attention"],
             "router and norms": floor["router_and_norms"], "experts": floor["experts"],
             "unembedding": floor["unembedding"]}
    print(f"\nper-token time by part ({config.name}, packed fused, 64-token context, mean of 16 steps):")
    print(f"{'part':38} {'ms/token':>9} {'weights MB':>11} {'ms at roofline':>15}")
    for name, ms in decode_breakdown(model).items():
        weight = share.get(name)
        floor_ms = f"{weight / bandwidth / 1e6:15.2f}" if weight else f"{'':15}"
        print(f"{name:38} {ms:9.2f} {(weight or 0) / 1e6:11.1f} {floor_ms}")


# ---- expert-matrix options ------------------------------------------------------------------
def kernel_options(threads: int) -> None:
    """Time one expert's mlp1 (5760 x 2880) for n tokens: fused C kernel, torch.compile'd formula, decode + matmul."""
    from gptoss_edu.fast.cpu_kernel import mxfp4_matvec
    from gptoss_edu.model.mxfp4 import dequantize

    g = torch.Generator().manual_seed(0)
    rows, groups = 2 * CONFIG.intermediate_size, CONFIG.hidden_size // 32
    blocks = torch.randint(0, 256, (4, rows, groups, 16), dtype=torch.uint8, generator=g)
    scales = torch.randint(118, 125, (4, rows, groups), dtype=torch.uint8, generator=g)
    compiled = torch.compile(_inductor_matvec, dynamic=False)

    def median_ms(fn, repeats: int = 7) -> float:
        fn(0)
        times = []
        for i in range(repeats):
            start = time.perf_counter()
            fn(i % 4)
            times.append(time.perf_counter() - start)
        return 1000 * statistics.median(times)

    print(f"\none expert's mlp1 ({rows} x {groups * 32}, {blocks[0].numel() * 17 // 16 / 1e6:.1f} MB packed), "
          f"{threads} threads, median ms:")
    print(f"{'tokens':>6} {'fused C':>9} {'torch.compile':>14} {'decode+matmul':>14}")
    for n in (1, 4, 8, 16, 32, 64):
        x = torch.randn(n, groups * 32, dtype=torch.bfloat16)
        fused = median_ms(lambda e, x=x: mxfp4_matvec(blocks[e], scales[e], x))
        inductor = median_ms(lambda e, x=x: compiled(blocks[e], scales[e], x)) if n == 1 else float("nan")
        plain = median_ms(lambda e, x=x: torch.nn.functional.linear(x, dequantize(blocks[e], scales[e], torch.bfloat16)))
        print(f"{n:6} {fused:9.2f} {inductor:14.2f} {plain:14.2f}")


def _inductor_matvec(blocks: torch.Tensor, scales: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The same product as one torch expression for inductor: E2M1 codes decoded arithmetically (x4), no table."""
    codes = blocks.int()  # (rows, G, 16)
    xs = x.float().reshape(x.shape[0], 1, -1, 16, 2)  # (n, 1, G, 16, 2)

    def times4(c: torch.Tensor) -> torch.Tensor:  # 4 * E2M1 value of the 4-bit codes c
        exponent, mantissa = (c >> 1) & 3, c & 1
        magnitude = torch.where(exponent == 0, mantissa << 1, (mantissa + 2) << exponent)
        return (magnitude * (1 - ((c >> 2) & 2))).float()

    block_sums = times4(codes & 15) * xs[..., 0] + times4(codes >> 4) * xs[..., 1]  # (n, rows, G, 16)
    return (block_sums * torch.exp2(scales.float() - 129)[..., None]).sum((-2, -1))


# ---- the comparison ---------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=24)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--folder", type=Path, default=None, help="keep the checkpoints here (default: a temp dir)")
    parser.add_argument("--breakdown", action="store_true", help="per-token time by part of the decode step")
    parser.add_argument("--kernels", action="store_true", help="compare the expert-matrix implementations")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"{CONFIG.name}: torch {torch.__version__}, {torch.get_num_threads()} threads")
    with tempfile.TemporaryDirectory() as temporary:
        original, hf = write_checkpoints(args.folder or Path(temporary))
        rows, bandwidths = run_rows(original, hf, args)
    bandwidth = max(bandwidths)
    print(f"bf16 mat-vec bandwidth: best {bandwidth:.2f} GB/s (measured {', '.join(f'{b:.2f}' for b in bandwidths)})")
    print_table(rows, bandwidth)
    if args.kernels:
        kernel_options(torch.get_num_threads())


def run_rows(original: Path, hf: Path, args) -> tuple[list, list[float]]:
    """Load each decoder in turn (one in memory at a time), measure the bandwidth, then its decode rate."""
    from transformers import GptOssForCausalLM

    mxfp4_bytes = bytes_per_decoded_token(CONFIG)["total"]
    bf16_bytes = bf16_expert_bytes_per_token(CONFIG)
    rows, bandwidths = [], []

    def measure(name: str, run, weight_bytes: float) -> None:
        bandwidths.append(measure_bandwidth(bf16_bytes))
        rate, tokens = decode_rate(run, args.new_tokens)
        rows.append((name, rate, weight_bytes, tokens))
        print(f"  {name}: {rate:.2f} tok/s", flush=True)

    model = load_model(original, dtype=torch.bfloat16, progress=False)
    measure("ours, default (load_model)", partial(ours_decode, model), mxfp4_bytes)
    if use_fused_cpu_experts(model):
        measure("ours, packed MXFP4, fused kernel", partial(ours_decode, model), mxfp4_bytes)
        if args.breakdown:
            print_breakdown(model, CONFIG, max(bandwidths))
    del model
    gc.collect()
    dense = load_model(original, dtype=torch.bfloat16, experts="dequantized", progress=False)
    measure("ours, dequantized bf16 experts", partial(ours_decode, dense), bf16_bytes)
    del dense
    gc.collect()
    peer = GptOssForCausalLM.from_pretrained(hf, dtype=torch.bfloat16).eval()
    default = peer.config._experts_implementation
    for implementation in (default, "eager"):
        peer.set_experts_implementation(implementation)
        label = f"transformers, experts={implementation}" + (" (default)" if implementation == default else "")
        measure(label, partial(transformers_decode, peer), bf16_bytes)
    return rows, bandwidths


def print_table(rows: list, bandwidth: float) -> None:
    peer = max(rate for name, rate, _, _ in rows if name.startswith("transformers"))
    print(f"\n{'decoder':40} {'tokens/s':>9} {'vs transformers':>16} {'GB read/token':>14} {'roofline tok/s':>15} {'of roofline':>12}")
    for name, rate, weight_bytes, _ in rows:
        roofline = bandwidth * 1e9 / weight_bytes
        print(f"{name:40} {rate:9.2f} {rate / peer:15.2f}x {weight_bytes / 1e9:14.3f} {roofline:15.2f} {rate / roofline:11.0%}")
    print("\n'vs transformers' is against its faster row; each row's roofline uses the bytes of its own expert format")
    print("(MXFP4 for the packed rows, bf16 for the dequantized ones).")
    tokens = {name: t for name, _, _, t in rows}
    ours = tokens["ours, dequantized bf16 experts"]
    same = [name for name, t in tokens.items() if t == ours]
    print(f"greedy tokens identical to ours dequantized: {', '.join(same)}")
    print(KERNELS_NOTE)


if __name__ == "__main__":
    main()
