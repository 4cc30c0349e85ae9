"""GPU inference benchmark that refuses to time the wrong thing: gptoss-edu's Triton path against transformers.

    python benchmarks/gpu_inference.py                    # 20b and 120b shapes, full measurement
    python benchmarks/gpu_inference.py --check            # < 5 min: full-width 20b shapes, 4 layers
    python benchmarks/gpu_inference.py --device cpu --tiny   # every code path but CUDA timing, seconds, no GPU

Weights are synthetic (``gptoss_edu.model.random_weights``), made on the device with the
checkpoints' shapes (MXFP4 experts); nothing is downloaded. Per model, in this order:

1. **Kernels in use.** ``accelerate`` swaps the Triton cores in; one prefill and one decode
   step run under ``gptoss_edu.fast.core_calls.count_core_calls``: every core of every layer
   must be called and none may hand its work to plain torch (RoPE in a prefill excepted: the
   fused RoPE-and-store kernel serves decode steps). Otherwise nothing is timed (exit 3).
2. **Same answer.** The torch path's and the kernels' logits of one prompt, per token
   (``gptoss_edu.fast.agreement``): median and 90th-percentile max-abs error, argmax
   agreement, routing flips (recording the routing routes with the torch steps, so a second
   pass without it checks the fused router kernel: median error only); CUDA-graph replayed
   decode steps against the same steps run eagerly. A disagreement no routing flip explains marks the record unverified (exit 4 at
   the end; the timings are still written, flagged).
3. **Timing** with CUDA events after warm-up, medians: prefill tok/s at 128 / 1k / 8k tokens,
   time to first token of a 256-token prompt, CUDA-graph decode at batch 1 / 8 / 64 (the
   sequences of a batch have equal lengths: the model's KV cache holds one position for the
   whole batch), the batch-1 bandwidth roofline (``bytes_per_decoded_token`` over a
   device-to-device copy bandwidth measured in the same run) and our share of it, and the MoE
   core's effective GB/s with its calls captured in one CUDA graph and replayed.
4. **The peer**: transformers' ``GptOssForCausalLM`` on the same weights (dequantized to
   bf16, converted by ``gptoss_edu.conformance.transformers_compat``), with the fastest
   attention and experts implementations that run here and agree with our torch path, and
   decode through a static cache compiled with ``torch.compile`` when that works (else eager);
   the table says which. Skipped where its dense bf16 experts do not fit (120b).

Writes ``OUT.md`` (a table) and ``OUT.json`` (the record). Exit codes: 0 done (or "needs CUDA:
skipped" without a GPU), 2 bad arguments, 3 kernels not in use (nothing timed), 4 timed but
the paths disagree. Prefill is timed as ``generate`` runs it: ``prefill`` in chunks of
``PREFILL_CHUNK`` tokens, logits for the last position only.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from gptoss_edu.config import GPT_OSS_20B, GPT_OSS_120B, TINY, ModelConfig, bytes_per_decoded_token, dense_bf16_bytes
from gptoss_edu.model.generation import PREFILL_CHUNK, prefill

EXIT_NO_KERNELS, EXIT_DISAGREE = 3, 4
TINY_CONFIG = TINY.replace(vocab_size=1024, name="tiny-dry-run")
CHECK_LAYERS = 4


@dataclass(frozen=True)
class Plan:
    """Sizes of one run: the full measurement by default, ``check()`` for a short GPU slot, ``tiny()`` for the CPU."""

    prefill_tokens: tuple[int, ...] = (128, 1024, 8192)
    ttft_tokens: int = 256
    decode_batches: tuple[int, ...] = (1, 8, 64)
    decode_prompt: int = 128
    warmup: int = 3
    iterations: int = 20
    decode_steps: int = 100
    moe_tokens: tuple[int, ...] = (1, 8, 64)
    moe_calls_per_graph: int = 20
    agreement_tokens: int = 256
    copy_megabytes: int = 1024
    peer_compile_batches: tuple[int, ...] = (1, 8, 64)

    @classmethod
    def check(cls) -> Plan:
        return cls(warmup=2, iterations=3, decode_steps=10, agreement_tokens=128, moe_calls_per_graph=10,
                   peer_compile_batches=(1,))

    @classmethod
    def tiny(cls) -> Plan:
        return cls(prefill_tokens=(8, 16), ttft_tokens=8, decode_batches=(1, 2), decode_prompt=6, warmup=1,
                   iterations=1, decode_steps=2, moe_tokens=(1, 4), moe_calls_per_graph=2, agreement_tokens=10,
                   copy_megabytes=4, peer_compile_batches=())


@dataclass
class Row:
    model: str
    metric: str
    ours: float | None
    peer: float | None = None
    unit: str = ""
    note: str = ""


@dataclass
class Record:
    """Everything one run measured and checked; written as JSON next to the markdown table."""

    device: str
    mode: str
    torch_version: str
    rows: list[Row] = field(default_factory=list)
    checks: dict[str, dict] = field(default_factory=dict)  # per model: cores, agreement, graph, peer settings
    verified: bool = True

    def add(self, row: Row) -> None:
        self.rows.append(row)
        ours = "-" if row.ours is None else f"{row.ours:,.2f}"
        peer = "-" if row.peer is None else f"{row.peer:,.2f}"
        print(f"  {row.model:>22}  {row.metric:<42} {ours:>12} {peer:>12} {row.unit}  {row.note}", flush=True)

    def markdown(self) -> str:
        status = "verified" if self.verified else "NOT VERIFIED: the kernel path disagrees with the torch path"
        lines = [f"# gptoss-edu GPU inference benchmark on {self.device} ({self.mode}, {status})", "",
                 "| model | metric | gptoss-edu | transformers | ours/peer | unit | note |",
                 "|---|---|---:|---:|---:|---|---|"]
        for r in self.rows:
            cells = ["-" if v is None else f"{v:,.2f}" for v in (r.ours, r.peer)]
            ratio = f"{r.ours / r.peer:.2f}" if r.ours is not None and r.peer else "-"
            lines.append(f"| {r.model} | {r.metric} | {cells[0]} | {cells[1]} | {ratio} | {r.unit} | {r.note} |")
        lines += ["", "## Checks before timing", ""]
        for model, checks in self.checks.items():
            lines += [f"### {model}", "", "```", json.dumps(checks, indent=1), "```", ""]
        return "\n".join(lines)


def random_ids(vocab: int, *shape: int, device: torch.device, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, shape, generator=generator).to(device)


def timed(fn, device: torch.device, plan: Plan, warmup: int | None = None, iterations: int | None = None) -> float:
    """Median seconds per call of ``fn`` (CUDA events on a GPU), after ``plan.warmup`` untimed calls."""
    from gptoss_edu.fast.timing import median_seconds

    return median_seconds(fn, device, plan.warmup if warmup is None else warmup,
                          plan.iterations if iterations is None else iterations).median


# ---- 1 and 2: kernels in use, same answer -----------------------------------------------------------
def core_problems(model, ids: torch.Tensor) -> list[str]:
    """Run one prefill and one fixed-shape decode step counting the cores; return every problem found."""
    from gptoss_edu.fast.core_calls import count_core_calls

    cache = model.new_cache(capacity=len(ids) + 1)
    with torch.inference_mode():
        with count_core_calls(model) as prefill:
            model(ids, cache=cache)
        cache.fixed_shapes = True  # what a graph-captured decode step runs
        with count_core_calls(model) as decode:
            model(ids[-1:], cache=cache)
    return ([f"prefill: {p}" for p in prefill.problems(allow_torch=("rope_store",))]
            + [f"decode: {p}" for p in decode.problems()])


def graph_replay_error(model, prompt: int, steps: int, device: torch.device) -> tuple[float, str | None]:
    """Max-abs logit difference of ``DecodeGraph`` steps (replayed on CUDA) and the same steps run eagerly;
    and why the graph could not be captured (``None``: it was, or this is no GPU)."""
    from gptoss_edu.fast.gpu_decode import DecodeGraph

    ids = random_ids(model.config.vocab_size, 1, prompt + steps, device=device, seed=7)
    with torch.inference_mode():
        eager_cache = model.new_cache(capacity=prompt + steps)
        model(ids[:, :prompt], cache=eager_cache)
        eager_cache.fixed_shapes = True
        eager = [model(ids[:, p:p + 1], cache=eager_cache)[:, -1].float() for p in range(prompt, prompt + steps)]
        graph_cache = model.new_cache(capacity=prompt + steps)
        model(ids[:, :prompt], cache=graph_cache)
        decoder = DecodeGraph(model, graph_cache)
        replayed = [decoder.step(ids[:, p]).float().clone() for p in range(prompt, prompt + steps)]
    return float(max((a - b).abs().max() for a, b in zip(eager, replayed))), decoder.capture_problem


def fused_router_agreement(model, ids: torch.Tensor, reference):
    """The kernel path's agreement with ``reference`` as it really runs: with the fused router.

    ``run_path`` records the routing, and a block with a routing observer routes with the
    plain-torch steps whatever ``router_core`` holds; this pass has no observer, so the fused
    RMSNorm-router-top-k kernel chooses the experts (no routing to explain flips with).
    """
    from gptoss_edu.fast.agreement import PathOutput, compare

    with torch.inference_mode():
        return compare(reference, PathOutput(model(ids).float().cpu()))


def agreement_problems(agreement, graph_error: float, routed=None) -> list[str]:
    """What makes the kernel path's answer untrustworthy, judged against the size of the logits."""
    tolerance = 0.1 * agreement.scale  # far above bf16 rounding, far below what a wrong kernel does
    problems = []
    unexplained = agreement.unexplained(tolerance)
    if unexplained:
        problems.append(f"tokens {unexplained[:10]} differ by more than {tolerance:.3f} with no routing flip")
    if agreement.median_error > 0.03 * agreement.scale:
        problems.append(f"median per-token error {agreement.median_error:.3f} above 3% of the logits' size")
    if graph_error > tolerance:
        problems.append(f"graph-replayed decode differs from eager steps by {graph_error:.3f}")
    if routed is not None and routed.median_error > 0.03 * routed.scale:
        problems.append(f"with the fused router, median per-token error {routed.median_error:.3f} "
                        "above 3% of the logits' size")
    return problems


# ---- 3: timing our path ------------------------------------------------------------------------------------
def prefill_seconds(model, tokens: int, device: torch.device, plan: Plan, first_token: bool = False) -> float:
    """One prompt through a fresh KV cache (allocated inside the timed call, as a server does)."""
    ids = random_ids(model.config.vocab_size, tokens, device=device, seed=tokens)

    def one_prompt() -> None:
        logits = prefill(model, ids, model.new_cache(capacity=tokens + 1))  # (vocab,) at the last position
        if first_token:
            int(logits.argmax())  # the first token is on the host: that is when TTFT ends

    with torch.inference_mode():
        return timed(one_prompt, device, plan)


def decode_seconds(model, batch: int, device: torch.device, plan: Plan) -> tuple[float, bool]:
    """Median seconds per decode step for ``batch`` equal-length sequences; and whether it replayed a CUDA graph."""
    from gptoss_edu.fast.gpu_decode import DecodeGraph

    warmup = max(plan.warmup, 2)  # the first step runs eagerly, the second captures the graph
    cache = model.new_cache(batch_size=batch, capacity=plan.decode_prompt + warmup + plan.decode_steps + 1)
    with torch.inference_mode():
        model(random_ids(model.config.vocab_size, batch, plan.decode_prompt, device=device), cache=cache)
        decoder = DecodeGraph(model, cache)
        state = [random_ids(model.config.vocab_size, batch, device=device, seed=1)]

        def step() -> None:
            state[0] = decoder.step(state[0]).argmax(-1)  # next tokens stay on the device: no host sync

        seconds = timed(step, device, plan, warmup=warmup, iterations=plan.decode_steps)
    return seconds, decoder.graph is not None


def moe_seconds(model, tokens: int, device: torch.device, plan: Plan) -> tuple[float, int, str]:
    """Seconds per call of layer 1's experts core on ``tokens`` random routings; experts read; how it was timed."""
    from gptoss_edu.model.moe import route

    config, mlp = model.config, model.block[min(1, len(model.block) - 1)].mlp
    x = torch.randn(tokens, config.hidden_size, device=device, dtype=model.dtype)
    weights, indices = route(torch.randn(tokens, config.num_experts, device=device), config.experts_per_token)
    mlp1, mlp2 = mlp.expert_weights()

    def call() -> torch.Tensor:
        return mlp.experts_core(x, indices, weights, mlp1, mlp.mlp1_bias, mlp2, mlp.mlp2_bias,
                                config.swiglu_alpha, config.swiglu_limit)

    experts = int(indices.unique().numel())
    calls = plan.moe_calls_per_graph
    with torch.inference_mode():
        if device.type != "cuda":
            return timed(call, device, plan), experts, "eager calls (CPU dry run)"
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):
                call()  # compile and autotune outside the graph
        torch.cuda.current_stream().wait_stream(side)
        try:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                for _ in range(calls):
                    call()
        except RuntimeError as problem:  # the core synchronises with the host: time back-to-back calls instead
            torch.cuda.synchronize()
            how = f"{calls} eager calls back to back, no sync between (graph capture failed: {problem})"
            return timed(lambda: [call() for _ in range(calls)], device, plan) / calls, experts, how
        return timed(graph.replay, device, plan) / calls, experts, f"CUDA graph of {calls} calls, replayed"


def expert_bytes(mlp) -> int:
    """Bytes of one expert's weights and biases as the core reads them."""
    mlp1, mlp2 = mlp.expert_weights()
    parts = [*(mlp1 if isinstance(mlp1, tuple) else (mlp1,)), *(mlp2 if isinstance(mlp2, tuple) else (mlp2,)),
             mlp.mlp1_bias, mlp.mlp2_bias]
    return sum(t[0].numel() * t.element_size() for t in parts)


# ---- 4: the transformers peer -----------------------------------------------------------------------------
def peer_fits(config: ModelConfig, device: torch.device) -> bool:
    """The peer holds dense bf16 experts, built next to their transposed copies: about twice the dense model."""
    from gptoss_edu.fast.gpu import free_gpu_bytes

    return device.type != "cuda" or 2.1 * dense_bf16_bytes(config) < free_gpu_bytes(device)


def build_peer(model):
    """transformers' ``GptOssForCausalLM`` with ``model``'s weights, experts dequantized to the model's dtype."""
    from gptoss_edu.conformance.transformers_compat import transformers_model
    from gptoss_edu.model.mxfp4 import dequantize_state_dict
    from gptoss_edu.model.transformer import Transformer

    dense = Transformer(model.config, device="meta", dtype=model.dtype, experts="dequantized")
    dense.load_state_dict(dequantize_state_dict(model.state_dict(), dtype=model.dtype), assign=True)
    return transformers_model(dense, attn_implementation="eager")


def fastest_peer_settings(peer, ids: torch.Tensor, reference, device: torch.device) -> dict:
    """Try the peer's attention and experts implementations, fastest first; keep the first pair that agrees."""
    from gptoss_edu.fast.agreement import PathOutput, compare

    attention = (["flash_attention_2", "flex_attention"] if device.type == "cuda" else []) + ["eager"]
    experts = ["grouped_mm", "batched_mm", "eager"]
    tried = []
    for attn in attention:
        for expert_impl in experts:
            try:
                peer.set_attn_implementation(attn)
                peer.set_experts_implementation(expert_impl)
                with torch.inference_mode():
                    logits = peer(input_ids=ids[None]).logits[0]
            except Exception as problem:  # an implementation missing here: try the next one
                tried.append(f"{attn}/{expert_impl}: {type(problem).__name__}")
                continue
            agreement = compare(reference, PathOutput(logits.float().cpu()))
            if agreement.median_error <= 0.03 * agreement.scale:
                return {"attention": attn, "experts": expert_impl, "agreement": agreement.summary(), "refused": tried}
            tried.append(f"{attn}/{expert_impl}: disagrees ({agreement})")
    raise RuntimeError("no transformers setting agrees with our torch path: " + "; ".join(tried))


def peer_prefill_seconds(peer, tokens: int, device: torch.device, plan: Plan, first_token: bool = False) -> float:
    ids = random_ids(peer.config.vocab_size, 1, tokens, device=device, seed=tokens)

    def one_prompt() -> None:
        logits = peer(input_ids=ids, use_cache=True, logits_to_keep=1).logits  # (1, 1, vocab): the last position
        if first_token:
            int(logits[0, -1].argmax())

    with torch.inference_mode():
        return timed(one_prompt, device, plan)


def peer_decode_seconds(peer, batch: int, device: torch.device, plan: Plan, compile_it: bool) -> float:
    """Median seconds per decode step through a static cache, the forward compiled when ``compile_it``."""
    import inspect

    from transformers import StaticCache

    cache_argument = "cache" if "cache" in inspect.signature(peer.forward).parameters else "past_key_values"
    prompt, warmup = plan.decode_prompt, max(plan.warmup, 3 if compile_it else 1)  # compiling records at call 2-3
    cache = StaticCache(config=peer.config, max_cache_len=prompt + warmup + plan.decode_steps + 1)
    forward = torch.compile(peer.forward, mode="reduce-overhead", fullgraph=True) if compile_it else peer.forward
    with torch.inference_mode():
        ids = random_ids(peer.config.vocab_size, batch, prompt, device=device)
        logits = peer(input_ids=ids, use_cache=True, cache_position=torch.arange(prompt, device=device),
                      **{cache_argument: cache}).logits
        state = [logits[:, -1].argmax(-1, keepdim=True), torch.tensor([prompt], device=device)]

        def step() -> None:
            out = forward(input_ids=state[0], use_cache=True, cache_position=state[1], **{cache_argument: cache})
            state[0], state[1] = out.logits[:, -1].argmax(-1, keepdim=True), state[1] + 1

        return timed(step, device, plan, warmup=warmup, iterations=plan.decode_steps)


def measure_peer(model, ids, reference, device: torch.device, plan: Plan) -> tuple[dict[str, float | None], dict]:
    """The peer's timings by metric name (``None``: out of memory), and the settings it ran with."""
    peer = build_peer(model)
    settings = fastest_peer_settings(peer, ids, reference, device)
    out: dict[str, float | None] = {}
    for tokens in plan.prefill_tokens:
        out[f"prefill tok/s, {tokens} tokens"] = per_second(
            tokens, guarded(peer_prefill_seconds, peer, tokens, device, plan))
    ttft = guarded(peer_prefill_seconds, peer, plan.ttft_tokens, device, plan, first_token=True)
    out[f"TTFT ms, {plan.ttft_tokens}-token prompt"] = None if ttft is None else 1e3 * ttft
    settings["decode"] = {}
    for batch in plan.decode_batches:
        how = "static cache, eager"
        if batch in plan.peer_compile_batches and device.type == "cuda":
            try:
                seconds = peer_decode_seconds(peer, batch, device, plan, compile_it=True)
                how = "static cache, torch.compile(mode='reduce-overhead')"
            except Exception as problem:  # compile unsupported here: the eager static cache is the fastest left
                how = f"static cache, eager (torch.compile failed: {type(problem).__name__})"
                seconds = guarded(peer_decode_seconds, peer, batch, device, plan, compile_it=False)
        else:
            seconds = guarded(peer_decode_seconds, peer, batch, device, plan, compile_it=False)
        out[f"decode tok/s, batch {batch}"] = per_second(batch, seconds)
        settings["decode"][f"batch {batch}"] = how
    del peer
    if device.type == "cuda" and plan.peer_compile_batches:
        torch._dynamo.reset()  # compiled code and its CUDA graphs hold the peer's weights until reset
    return out, settings


def release_memory(device: torch.device) -> None:
    """Free what dropped tensors still hold, torch's allocator cache included: the next phase (and the
    next model's fast-layout check) must see that memory as free."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def guarded(measure, *args, **kwargs) -> float | None:
    """``measure(...)`` seconds, or ``None`` (a "-" in the table) when the device runs out of memory."""
    try:
        return measure(*args, **kwargs)
    except torch.OutOfMemoryError:
        release_memory(torch.device("cuda"))
        return None


def per_second(count: float, seconds: float | None) -> float | None:
    return None if seconds is None else count / seconds


# ---- the run ---------------------------------------------------------------------------------------------
def measure_model(config: ModelConfig, device: torch.device, plan: Plan, peer: bool, bandwidth: float,
                  record: Record) -> int:
    """Every phase for one model; returns 0, ``EXIT_NO_KERNELS`` or ``EXIT_DISAGREE``."""
    from gptoss_edu.fast import accelerate
    from gptoss_edu.fast.agreement import compare, run_path
    from gptoss_edu.model.random_weights import random_model

    name = config.name
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model = random_model(config, device=device, dtype=torch.bfloat16)
    ids = random_ids(config.vocab_size, plan.agreement_tokens, device=device, seed=3)
    reference = run_path(model, ids)  # a new model holds the plain-torch cores
    acceleration = accelerate(model, interpreter=device.type == "cpu", notice=None)
    print(acceleration, flush=True)
    checks = record.checks.setdefault(name, {"cores": str(acceleration)})
    problems = acceleration.fallbacks + core_problems(model, ids)
    checks["core_problems"] = problems
    if problems:
        print("refusing to time: the kernels are not what runs\n  " + "\n  ".join(problems), flush=True)
        record.verified = False
        return EXIT_NO_KERNELS
    agreement = compare(reference, run_path(model, ids))
    routed = fused_router_agreement(model, ids, reference)
    graph_error, capture_problem = graph_replay_error(model, prompt=8, steps=2, device=device)
    if capture_problem:
        print(f"decode steps run eagerly: CUDA graph capture failed ({capture_problem})", flush=True)
    disagreements = agreement_problems(agreement, graph_error, routed)
    checks |= {"agreement": agreement.summary(), "agreement_with_fused_router": routed.summary(),
               "graph_replay_max_abs_error": graph_error, "graph_capture_problem": capture_problem,
               "agreement_problems": disagreements}
    print(f"kernels against torch: {agreement}; graph replay against eager steps: {graph_error:.2e}", flush=True)
    if disagreements:
        print("THE PATHS DISAGREE (timings follow, marked unverified):\n  " + "\n  ".join(disagreements), flush=True)
        record.verified = False

    ours = measure_ours(model, device, plan)
    theirs: dict[str, float | None] = {}
    if peer and peer_fits(config, device):
        try:
            theirs, checks["peer"] = measure_peer(model, ids, reference, device, plan)
        except Exception as problem:  # the peer is a comparison: its failure must not lose our timings
            checks["peer"] = f"failed: {type(problem).__name__}: {problem}"
            print(f"transformers peer failed, its column stays empty: {checks['peer']}", flush=True)
        release_memory(device)
    elif peer:
        checks["peer"] = "skipped: its dense bf16 experts do not fit in this GPU's free memory"
    for (metric, unit, note), value in ours.items():
        record.add(Row(name, metric, value, theirs.get(metric), unit, note))
    roofline = bandwidth / bytes_per_decoded_token(config)["total"]
    batch1 = next((v for (m, _, _), v in ours.items() if m == "decode tok/s, batch 1"), None)
    record.add(Row(name, "batch-1 decode roofline (weight bytes / copy bandwidth)", roofline, unit="tok/s"))
    if batch1:
        record.add(Row(name, "our share of the roofline", 100 * batch1 / roofline, unit="%"))
    moe_rows(model, device, plan, bandwidth, record)
    del model
    release_memory(device)
    return EXIT_DISAGREE if disagreements else 0


def measure_ours(model, device: torch.device, plan: Plan) -> dict[tuple[str, str, str], float | None]:
    """Our timings keyed by (metric, unit, note); ``None`` where the device ran out of memory."""
    out = {}
    for tokens in plan.prefill_tokens:
        out[(f"prefill tok/s, {tokens} tokens", "tok/s", f"chunks of {PREFILL_CHUNK}, last-position logits")] = per_second(
            tokens, guarded(prefill_seconds, model, tokens, device, plan))
    ttft = guarded(prefill_seconds, model, plan.ttft_tokens, device, plan, first_token=True)
    out[(f"TTFT ms, {plan.ttft_tokens}-token prompt", "ms", "prefill + first token on the host")] = (
        None if ttft is None else 1e3 * ttft)
    for batch in plan.decode_batches:
        seconds, graph = decode_seconds(model, batch, device, plan)
        note = ("CUDA graph" if graph else "eager steps") + (", equal-length sequences" if batch > 1 else "")
        out[(f"decode tok/s, batch {batch}", "tok/s", note)] = batch / seconds
    if device.type == "cuda":
        out[("peak GPU memory", "GB", "")] = torch.cuda.max_memory_allocated(device) / 1e9
    return out


def moe_rows(model, device: torch.device, plan: Plan, bandwidth: float, record: Record) -> None:
    per_expert = expert_bytes(model.block[0].mlp)
    for tokens in plan.moe_tokens:
        seconds, experts, how = moe_seconds(model, tokens, device, plan)
        record.add(Row(model.config.name, f"MoE core GB/s, {tokens} tokens ({experts} experts read)",
                       experts * per_expert / seconds / 1e9, bandwidth / 1e9,
                       unit="GB/s (peer column: copy bandwidth)", note=how))


def configs_for(args: argparse.Namespace) -> list[ModelConfig]:
    if args.tiny:
        return [TINY_CONFIG]
    if args.check:
        return [GPT_OSS_20B.replace(num_hidden_layers=CHECK_LAYERS, name=f"gpt-oss-20b-{CHECK_LAYERS}-layers")]
    return [{"20b": GPT_OSS_20B, "120b": GPT_OSS_120B}[m] for m in args.models]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=["20b", "120b"], default=["20b", "120b"])
    parser.add_argument("--check", action="store_true",
                        help=f"short run (< 5 min): full-width 20b shapes with {CHECK_LAYERS} layers, few iterations")
    parser.add_argument("--tiny", action="store_true", help="a tiny model: checks the script itself (CPU is fine)")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--out", type=Path, default=None,
                        help="writes OUT.md and OUT.json (default benchmarks/results/gpu_inference[-check|-tiny])")
    parser.add_argument("--no-peer", action="store_true", help="skip transformers' GptOssForCausalLM")
    args = parser.parse_args(argv)
    if args.device == "cpu" and not args.tiny:
        parser.error("--device cpu runs only the --tiny dry run (full-size timing needs CUDA)")
    if args.out is None:
        suffix = "-tiny" if args.tiny else "-check" if args.check else ""
        args.out = Path("benchmarks/results") / f"gpu_inference{suffix}"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is downloaded: transformers must not look for hub kernels
    if args.device == "cuda" and not torch.cuda.is_available():
        print("needs CUDA: skipped (python benchmarks/gpu_inference.py --device cpu --tiny checks the script)")
        return 0
    device = torch.device(args.device)
    plan = Plan.tiny() if args.tiny else Plan.check() if args.check else Plan()
    mode = "tiny dry run" if args.tiny else "--check" if args.check else "full"
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    record = Record(device=name, mode=mode, torch_version=torch.__version__)
    bandwidth = copy_bandwidth_bytes(device, plan)
    record.add(Row("device", "device-to-device copy bandwidth", bandwidth / 1e9, unit="GB/s"))
    status = 0
    for config in configs_for(args):
        print(f"== {config.name}", flush=True)
        outcome = measure_model(config, device, plan, not args.no_peer, bandwidth, record)
        status = outcome if outcome == EXIT_NO_KERNELS else max(status, outcome)
        if outcome == EXIT_NO_KERNELS:
            break
    write(record, args.out, plan)
    return status


def copy_bandwidth_bytes(device: torch.device, plan: Plan) -> float:
    from gptoss_edu.fast.timing import copy_bandwidth

    return copy_bandwidth(device, plan.copy_megabytes, iterations=max(plan.iterations, 5))


def write(record: Record, out: Path, plan: Plan) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    md, js = out.with_suffix(".md"), out.with_suffix(".json")
    md.write_text(record.markdown())
    js.write_text(json.dumps({**asdict(record), "plan": asdict(plan)}, indent=1, default=str))
    print(f"wrote {md} and {js}")


if __name__ == "__main__":
    sys.exit(main())
