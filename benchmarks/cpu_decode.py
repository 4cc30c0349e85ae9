"""CPU decode speed: our ``generate`` against transformers' ``generate``, and against the memory-bandwidth roofline.

Both libraries hold the *same* random bf16 weights of a 2-layer model at gpt-oss-20b's width
(hidden 2880, 32 experts, the 201088-token vocabulary), built in this process. Decoding one
token at batch 1 must read every weight it uses once, so its floor is
``bytes per token / memory bandwidth``. We measure the bandwidth with a large bf16 mat-vec
whose weight is about as big as what the model reads per token, then report each decoder's
tokens/s as a share of that roofline.

Rows:
- ours, ``experts="dequantized"``: dense bf16 experts, like transformers' dense ``GptOssExperts``
  (the like-for-like comparison);
- ours, ``experts="packed"``: MXFP4 experts decoded per selected expert and step (4x less
  memory; on CPU the decode costs more than the bytes it saves, so it is slower);
- transformers ``GptOssForCausalLM`` (eager attention), with its default experts implementation
  and with ``experts_implementation="eager"`` (its loop over the selected experts).

Decode rate = one over the median time between consecutive generated tokens (prefill excluded).

    python benchmarks/cpu_decode.py [--new-tokens 24] [--threads N]
"""
from __future__ import annotations

import argparse
import time

import torch

from gptoss_edu.config import GPT_OSS_20B, ModelConfig, bytes_per_decoded_token, parameter_count
from gptoss_edu.conformance.transformers_compat import transformers_model
from gptoss_edu.model.generation import generate
from gptoss_edu.model.mxfp4 import dequantize_state_dict
from gptoss_edu.model.random_weights import random_state_dict
from gptoss_edu.model.transformer import Transformer

CONFIG = GPT_OSS_20B.replace(num_hidden_layers=2, name="gpt-oss-20b-width-2-layers")
PROMPT = list(range(1000, 1008))


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


def our_models() -> tuple[Transformer, Transformer]:
    """Packed and dequantized bf16 models sharing every tensor except the expert weights."""
    packed = Transformer(CONFIG, dtype=torch.bfloat16, experts="packed")
    packed.load_state_dict(random_state_dict(CONFIG, seed=0))
    dense = Transformer(CONFIG, device="meta", dtype=torch.bfloat16, experts="dequantized")
    dense.load_state_dict(dequantize_state_dict(packed.state_dict()), assign=True)
    return packed.eval(), dense.eval()


def ours_decode(model: Transformer, n: int) -> tuple[list[int], list[float]]:
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
    """Tokens/s of the decode steps alone: one over the median time between consecutive new tokens.

    The first token (which pays for the prefill) only starts the clock; the median resists
    the hiccups of a shared machine.
    """
    run(2)  # warm up
    tokens, times = run(n)
    gaps = sorted(b - a for a, b in zip(times, times[1:]))
    return 1 / gaps[len(gaps) // 2], tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=24)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    mxfp4_bytes = bytes_per_decoded_token(CONFIG)["total"]
    bf16_bytes = bf16_expert_bytes_per_token(CONFIG)
    print(f"{CONFIG.name}: torch {torch.__version__}, {torch.get_num_threads()} threads")

    packed, dense = our_models()
    hf = transformers_model(dense)
    hf_default = hf.config._experts_implementation

    def transformers_with(implementation: str):
        def run(n: int) -> list[int]:
            hf.set_experts_implementation(implementation)
            return transformers_decode(hf, n)
        return run

    rows, bandwidths = [], []
    for name, run, weight_bytes in (
        ("ours, dequantized bf16 experts", lambda n: ours_decode(dense, n), bf16_bytes),
        (f"transformers, experts={hf_default} (default)", transformers_with(hf_default), bf16_bytes),
        ("transformers, experts=eager", transformers_with("eager"), bf16_bytes),
        ("ours, packed MXFP4 experts", lambda n: ours_decode(packed, n), mxfp4_bytes),
    ):
        bandwidths.append(measure_bandwidth(bf16_bytes))  # re-measured between rows: the machine may be shared
        rate, tokens = decode_rate(run, args.new_tokens)
        rows.append((name, rate, weight_bytes, tokens))
    bandwidth = max(bandwidths)  # the best observed bandwidth gives the strictest roofline
    print(f"bf16 mat-vec bandwidth: best {bandwidth:.2f} GB/s (measured {', '.join(f'{b:.2f}' for b in bandwidths)})")

    peer = rows[1][1]
    print(f"\n{'decoder':42} {'tokens/s':>9} {'vs transformers':>16} {'GB read/token':>14} {'roofline tok/s':>15} {'of roofline':>12}")
    for name, rate, weight_bytes, _ in rows:
        roofline = bandwidth * 1e9 / weight_bytes
        print(f"{name:42} {rate:9.2f} {rate / peer:15.2f}x {weight_bytes / 1e9:14.3f} {roofline:15.2f} {rate / roofline:11.0%}")
    print("\n'vs transformers' is against its default experts implementation; the roofline of each row uses the bytes")
    print("of its own expert format (bf16, or MXFP4 for the packed row).")
    print(f"greedy tokens identical (ours dequantized vs transformers, bf16): {rows[0][3] == rows[1][3]}")


if __name__ == "__main__":
    main()
