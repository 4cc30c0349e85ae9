"""GPU inference benchmark: gptoss-edu's Triton path against transformers, on full-size random weights.

    python benchmarks/gpu_inference.py                    # 20b and 120b shapes, writes a markdown table
    python benchmarks/gpu_inference.py --models 20b --out /tmp/bench.md
    python benchmarks/gpu_inference.py --dry-run          # the same pipeline on a tiny model, CPU is fine

Nothing is downloaded: weights are random, made directly on the GPU with the checkpoints'
shapes (MXFP4 experts), which is all that speed depends on. Measured in one run, per model:
prefill tokens/s (2048-token prompt), time to first token (256-token prompt), decode tokens/s
at batch 1, 8 and 64 (CUDA-graph decode steps), peak GPU memory; transformers'
``GptOssForCausalLM`` (bf16, dense experts) on the 20b shape as the peer; the memory-bandwidth
roofline (``bytes_per_decoded_token`` over a device-to-device copy bandwidth measured here)
and our share of it; the MoE kernel's effective bandwidth against the copy bandwidth.
Without CUDA (and without ``--dry-run``) it prints "skipped: no CUDA" and exits 0.
"""
from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from gptoss_edu.config import GPT_OSS_20B, GPT_OSS_120B, TINY, ModelConfig, bytes_per_decoded_token

DRY_RUN_CONFIG = TINY.replace(vocab_size=1024, name="tiny-dry-run")


@dataclass
class Settings:
    """Sizes of one benchmark run (the defaults are the real measurement; ``dry_run`` shrinks them)."""

    prefill_tokens: int = 2048
    ttft_tokens: int = 256
    decode_batches: tuple[int, ...] = (1, 8, 64)
    decode_prompt: int = 128
    decode_steps: int = 32
    repeats: int = 3
    moe_batches: tuple[int, ...] = (1, 64, 256)

    @classmethod
    def dry_run(cls) -> Settings:
        return cls(prefill_tokens=24, ttft_tokens=8, decode_batches=(1, 2), decode_prompt=6, decode_steps=3,
                   repeats=1, moe_batches=(1, 4))


@dataclass
class Row:
    metric: str
    ours: float
    peer: float | None = None
    unit: str = ""


@dataclass
class Report:
    device_name: str
    rows: dict[str, list[Row]] = field(default_factory=dict)

    def add(self, model: str, row: Row) -> None:
        self.rows.setdefault(model, []).append(row)
        peer = f"{row.peer:,.1f}" if row.peer is not None else "-"
        print(f"  {model:>14}  {row.metric:<40} {row.ours:>12,.1f} {peer:>12} {row.unit}", flush=True)

    def markdown(self) -> str:
        lines = [f"# gptoss-edu GPU inference benchmark on {self.device_name}", "",
                 "| model | metric | gptoss-edu | transformers | ratio (ours/peer) | unit |",
                 "|---|---|---:|---:|---:|---|"]
        for model, rows in self.rows.items():
            for r in rows:
                peer = f"{r.peer:,.1f}" if r.peer is not None else "-"
                ratio = f"{r.ours / r.peer:.2f}" if r.peer else "-"
                lines.append(f"| {model} | {r.metric} | {r.ours:,.1f} | {peer} | {ratio} | {r.unit} |")
        return "\n".join(lines) + "\n"


# ---- timing helpers ----------------------------------------------------------------------------
def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_time(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Fastest of ``repeats`` timed calls after one untimed warm-up call (compilation, autotuning)."""
    fn()
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return min(times)


def copy_bandwidth(device: torch.device, megabytes: int = 1024) -> float:
    """Device-to-device copy bandwidth in bytes/s (each copied byte is read once and written once)."""
    n = megabytes * (1 << 20)
    src = torch.empty(n, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    seconds = best_time(lambda: dst.copy_(src), device, repeats=5)
    return 2 * n / seconds


def reset_peak(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_gb(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else float("nan")


def random_ids(vocab: int, *shape: int, device: torch.device) -> torch.Tensor:
    return torch.randint(0, vocab, shape, device=device)


# ---- our model -----------------------------------------------------------------------------------
@torch.inference_mode()
def measure_ours(config: ModelConfig, device: torch.device, s: Settings) -> dict[str, float]:
    """Prefill tokens/s, TTFT (ms), decode tokens/s per batch, peak GB for gptoss-edu."""
    from gptoss_edu.fast import accelerate
    from gptoss_edu.model.random_weights import random_model

    reset_peak(device)
    model = random_model(config, device=device, dtype=torch.bfloat16)
    accelerate(model)

    def prefill(tokens: int) -> None:
        cache = model.new_cache(capacity=tokens + 1)
        model(random_ids(config.vocab_size, tokens, device=device), cache=cache)[-1].argmax()

    out = {
        "prefill tok/s": s.prefill_tokens / best_time(lambda: prefill(s.prefill_tokens), device, s.repeats),
        "TTFT ms": 1e3 * best_time(lambda: prefill(s.ttft_tokens), device, s.repeats),
    }
    for batch in s.decode_batches:
        out[f"decode tok/s, batch {batch}"] = decode_rate_ours(model, batch, device, s)
    out["peak GB"] = peak_gb(device)
    return out


def decode_rate_ours(model, batch: int, device: torch.device, s: Settings) -> float:
    """Tokens/s of CUDA-graph decode steps for ``batch`` sequences after a ``decode_prompt`` prefill."""
    from gptoss_edu.fast.gpu_decode import DecodeGraph

    vocab = model.config.vocab_size
    cache = model.new_cache(batch_size=batch, capacity=s.decode_prompt + 2 * s.decode_steps + 2)
    model(random_ids(vocab, batch, s.decode_prompt, device=device), cache=cache)
    decoder = DecodeGraph(model, cache)
    tokens = [random_ids(vocab, batch, device=device)]
    for _ in range(2):  # eager warm-up, then capture
        tokens[0] = decoder.step(tokens[0]).argmax(-1)

    def decode() -> None:
        for _ in range(s.decode_steps):
            tokens[0] = decoder.step(tokens[0]).argmax(-1)

    return batch * s.decode_steps / best_time(decode, device, repeats=1)  # best_time's warm-up call uses cache room too


# ---- the transformers peer -----------------------------------------------------------------------
def transformers_fits(config: ModelConfig, device: torch.device) -> bool:
    """The peer holds every expert in bf16: it needs that plus room for activations."""
    if device.type != "cuda":
        return True
    from gptoss_edu.config import dense_bf16_bytes

    return dense_bf16_bytes(config) * 1.15 < torch.cuda.mem_get_info(device)[0]


@torch.inference_mode()
def measure_transformers(config: ModelConfig, device: torch.device, s: Settings) -> dict[str, float]:
    """The same measurements for transformers' ``GptOssForCausalLM`` (random bf16 weights, eager decode)."""
    from transformers import GptOssConfig, GptOssForCausalLM

    from gptoss_edu.io.hf_config import to_hf_dict

    reset_peak(device)
    hf_config = to_hf_dict(config)
    hf_config.pop("quantization_config")  # dense bf16 experts: its MXFP4 path needs kernels we cannot download
    for special in ("pad_token_id", "eos_token_id"):  # harmony's ids do not exist in the dry run's short vocabulary
        if hf_config[special] >= config.vocab_size:
            hf_config[special] = None
    with torch.device(device):
        model = GptOssForCausalLM._from_config(GptOssConfig(**hf_config), dtype=torch.bfloat16).eval()

    def prefill(tokens: int) -> torch.Tensor:
        return model(random_ids(config.vocab_size, 1, tokens, device=device), use_cache=True).logits[0, -1].argmax()

    out = {
        "prefill tok/s": s.prefill_tokens / best_time(lambda: prefill(s.prefill_tokens), device, s.repeats),
        "TTFT ms": 1e3 * best_time(lambda: prefill(s.ttft_tokens), device, s.repeats),
    }
    for batch in s.decode_batches:
        out[f"decode tok/s, batch {batch}"] = decode_rate_transformers(model, batch, device, s)
    out["peak GB"] = peak_gb(device)
    return out


def decode_rate_transformers(model, batch: int, device: torch.device, s: Settings) -> float:
    """Tokens/s of the peer's own cached decode steps (one eager forward per token)."""
    state = [model(random_ids(model.config.vocab_size, batch, s.decode_prompt, device=device), use_cache=True)]

    def decode() -> None:
        for _ in range(s.decode_steps):
            token = state[0].logits[:, -1].argmax(-1, keepdim=True)
            state[0] = model(token, past_key_values=state[0].past_key_values, use_cache=True)

    return batch * s.decode_steps / best_time(decode, device, repeats=1)


# ---- kernel microbenchmark -------------------------------------------------------------------------
@torch.inference_mode()
def moe_bandwidth(config: ModelConfig, device: torch.device, tokens: int, repeats: int) -> float:
    """Effective bytes/s of one layer's MoE (weights of the experts actually chosen, read once)."""
    from gptoss_edu.fast.select import triton_experts_core
    from gptoss_edu.model.moe import grouped_experts
    from gptoss_edu.model.random_weights import random_model

    one_layer = config.replace(num_hidden_layers=1, vocab_size=32)
    mlp = random_model(one_layer, device=device, dtype=torch.bfloat16).block[0].mlp
    x = torch.randn(tokens, config.hidden_size, device=device, dtype=torch.bfloat16)
    weights, indices = torch.softmax(torch.randn(tokens, config.num_experts, device=device), -1).topk(
        config.experts_per_token, dim=-1)
    core = triton_experts_core if device.type == "cuda" else grouped_experts
    mlp1, mlp2 = mlp.expert_weights()
    seconds = best_time(lambda: core(x, indices, weights, mlp1, mlp.mlp1_bias, mlp2, mlp.mlp2_bias), device, repeats)
    experts_read = indices.unique().numel()
    per_expert = sum(t[0].numel() * t.element_size() for t in (*mlp1, *mlp2, mlp.mlp1_bias, mlp.mlp2_bias))
    return experts_read * per_expert / seconds


# ---- the run ---------------------------------------------------------------------------------------
def run(configs: list[ModelConfig], device: torch.device, s: Settings, peer: bool, report: Report) -> None:
    bandwidth = copy_bandwidth(device, megabytes=16 if device.type == "cpu" else 1024)
    report.add("device", Row("device-to-device copy bandwidth", bandwidth / 1e9, unit="GB/s"))
    for config in configs:
        print(f"{config.name}: gptoss-edu", flush=True)
        ours = measure_ours(config, device, s)
        theirs = {}
        is_20b_shape = config.num_experts == GPT_OSS_20B.num_experts or device.type == "cpu"
        if peer and is_20b_shape and transformers_fits(config, device):
            print(f"{config.name}: transformers", flush=True)
            theirs = measure_transformers(config, device, s)
        units = {"prefill tok/s": "tok/s", "TTFT ms": "ms", "peak GB": "GB"}
        for metric, value in ours.items():
            report.add(config.name, Row(metric, value, theirs.get(metric), units.get(metric, "tok/s")))
        roofline = bandwidth / bytes_per_decoded_token(config)["total"]
        report.add(config.name, Row("batch-1 decode roofline (weights only)", roofline, unit="tok/s"))
        report.add(config.name, Row("our share of the roofline", 100 * ours["decode tok/s, batch 1"] / roofline,
                                    unit="%"))
        for tokens in s.moe_batches:
            gbps = moe_bandwidth(config, device, tokens, s.repeats) / 1e9
            report.add(config.name, Row(f"MoE layer GB/s, {tokens} tokens", gbps, bandwidth / 1e9,
                                        unit="GB/s (peer column: copy bandwidth)"))
        reset_peak(device)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=["20b", "120b"], default=["20b", "120b"])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/gpu_inference.md"))
    parser.add_argument("--no-peer", action="store_true", help="skip transformers' GptOssForCausalLM")
    parser.add_argument("--dry-run", action="store_true",
                        help="run the whole pipeline on a tiny random model (CPU is fine) to check the script")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.dry_run:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        configs, settings = [DRY_RUN_CONFIG], Settings.dry_run()
    elif not torch.cuda.is_available():
        print("skipped: no CUDA (use --dry-run to check the script on the CPU)")
        return 0
    else:
        device = torch.device("cuda")
        configs = [{"20b": GPT_OSS_20B, "120b": GPT_OSS_120B}[m] for m in args.models]
        settings = Settings()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (dry run)"
    report = Report(name)
    run(configs, device, settings, peer=not args.no_peer, report=report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report.markdown())
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
