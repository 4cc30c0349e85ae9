"""Train the reasoning students of notebook 11 and write them where ``gptoss_edu.reasoning.student`` finds them.

    python scripts/train_reasoning.py                         # reproduces the committed checkpoints
    python scripts/train_reasoning.py --out /tmp/r --sft-steps 50 --rl-steps 2 --eval-per-effort 5

Stages, each timed and recorded in ``training.json``:

1. the compact vocabulary (``reasoning.vocab.build_vocab``) and the data: teacher
   conversations at the three effort levels plus the calculator variant; the evaluation
   problems are held out of the training set;
2. accuracy of the untrained student (random weights);
3. SFT (distillation of the programmatic teacher's traces), written to ``sft/original``;
   accuracy per effort level and tool use of the *written* checkpoint;
4. GRPO with the verifiable reward from the SFT checkpoint, written to ``rl/original``;
5. GRPO with the generous "show your work" reward from the same start (not written):
   the reward-hacking demonstration, with its curves and one transcript.

Deterministic for one torch version and thread count (recorded); the machine is shared,
so the times are wall-clock seconds under the load average recorded next to them.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from gptoss_edu.harmony import HarmonyEncodingName, load_harmony_encoding
from gptoss_edu.model.transformer import Transformer
from gptoss_edu.reasoning import grpo, student
from gptoss_edu.reasoning.rollout import evaluate
from gptoss_edu.reasoning.sft import STUDENT_SETTINGS, make_example, sft_train, student_config
from gptoss_edu.reasoning.tasks import EFFORTS, problems
from gptoss_edu.reasoning.tools import tool_accuracy
from gptoss_edu.reasoning.vocab import build_vocab
from gptoss_edu.training.pretrain import init_weights, packed_state_dict, quantized_experts, save_original

TRAIN_PROBLEMS, TRAIN_TOOL_PROBLEMS = 6000, 1500


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=student.REASONING_DIR)
    parser.add_argument("--sft-steps", type=int, default=STUDENT_SETTINGS.steps)
    parser.add_argument("--rl-steps", type=int, default=grpo.GRPOSettings().steps)
    parser.add_argument("--eval-per-effort", type=int, default=50)
    parser.add_argument("--eval-tool", type=int, default=20)
    parser.add_argument("--eval-before", type=int, default=10,
                        help="problems per effort for the untrained model (it never stops: 96 tokens each)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--stage", choices=("all", "sft", "rl", "generous"), default="all",
                        help="rl and generous start from the SFT checkpoint in --out (they can run side by side)")
    return parser.parse_args()


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def held_out_split(eval_per_effort: int, eval_tool: int):
    """Evaluation problems (fixed seeds) and training problems that avoid them."""
    evaluation = [p for effort in EFFORTS for p in problems(eval_per_effort, seed=7, effort=effort)]
    tool_eval = problems(eval_tool, seed=8, with_tool=True)
    held = {p.terms for p in evaluation + tool_eval}
    train = [p for p in problems(TRAIN_PROBLEMS, seed=0) + problems(TRAIN_TOOL_PROBLEMS, seed=3, with_tool=True)
             if p.terms not in held]
    return train, evaluation, tool_eval


def measure(model, encoding, vocab, evaluation, tool_eval) -> dict:
    """Greedy accuracy per effort level and tool use, timed."""
    started = time.perf_counter()
    table, rollouts = evaluate(model, encoding, vocab, evaluation)
    table["tool"] = tool_accuracy(model, vocab, encoding, tool_eval)
    table["seconds"] = round(time.perf_counter() - started, 1)
    table["load_average"] = load_average()
    table["example"] = encoding.decode(vocab.to_o200k(rollouts[len(rollouts) // 2].completion))
    return table


def write_checkpoint(model, config, folder: Path):
    """MXFP4 experts, float32 everything else (see ``reasoning.student``); return the reloaded model."""
    save_original(packed_state_dict(model, dtype=torch.float32), config, folder)
    from gptoss_edu import load_model

    return load_model(folder, device="cpu", progress=False)


def trainable_copy(folder: Path):
    """A dequantized, trainable model from a written checkpoint, computing with MXFP4-rounded experts."""
    from gptoss_edu import load_model

    model = load_model(folder, device="cpu", experts="dequantized", progress=False).requires_grad_(True)
    model.set_experts_core(quantized_experts)
    return model


def run_rl(args, encoding, vocab, start: Path, weights: grpo.RewardWeights, seed: int):
    """GRPO from the checkpoint at ``start``; ``(policy, history, seconds)``."""
    settings = grpo.GRPOSettings(steps=args.rl_steps, seed=seed)
    policy = trainable_copy(start)
    reference = student_reference(start)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=settings.learning_rate, weight_decay=0.0)
    pool = problems(settings.steps * settings.prompts_per_step, seed=100 + seed)
    history, started = [], time.perf_counter()
    for step in range(settings.steps):
        batch = pool[step * settings.prompts_per_step:(step + 1) * settings.prompts_per_step]
        record = grpo.rl_step(policy, reference, optimizer, encoding, vocab, batch, settings, seed=10_000 * step,
                              weights=weights)
        record |= {"step": step, "elapsed_s": round(time.perf_counter() - started, 1)}
        history.append(record)
        print(f"rl step {step:3d}  reward {record['reward']:.3f}  accuracy {record['accuracy']:.2f}  "
              f"analysis {record['analysis_tokens']:.1f} tok  kl {record['kl']:.4f}  {record['elapsed_s']:.0f}s",
              flush=True)
    return policy, history, round(time.perf_counter() - started, 1), settings


def student_reference(folder: Path):
    from gptoss_edu import load_model

    return load_model(folder, device="cpu", progress=False)


def hack_example(snapshot, encoding, vocab, seed: int) -> dict:
    """The sample with the most ``a+b=c`` lines among the generous-reward policy's answers to six problems."""
    settings = grpo.GRPOSettings(group_size=4)
    rollouts = grpo.sample_groups(snapshot, encoding, vocab, problems(6, seed=200), settings, seed)
    longest = max(rollouts, key=lambda r: (len(grpo.STEP_LINE.findall(r.analysis)), len(r.completion)))
    return {"question": longest.problem.question, "effort": longest.problem.effort, "answer": longest.problem.answer,
            "completion": encoding.decode(vocab.to_o200k(longest.completion)), "correct": longest.correct,
            "reward_generous": grpo.reward(longest, grpo.GENEROUS), "reward_strict": grpo.reward(longest)}


def record_header(args) -> dict:
    return {"python": sys.version.split()[0], "torch": torch.__version__, "threads": args.threads,
            "machine": platform.machine(), "load_average_start": load_average(),
            "command": "python scripts/train_reasoning.py " + " ".join(sys.argv[1:])}


def stage_sft(args, encoding) -> dict:
    """Stages 1-3: vocabulary, data, the untrained student, SFT, the written SFT checkpoint."""
    record = record_header(args)
    vocab = build_vocab(encoding)
    student.save_vocab(vocab, args.out / student.VOCAB_FILE.name)
    train_problems, evaluation, tool_eval = held_out_split(args.eval_per_effort, args.eval_tool)
    examples = [make_example(encoding, vocab, p) for p in train_problems]
    heldout = [make_example(encoding, vocab, p) for p in evaluation[::4]]
    config = student_config(len(vocab))
    record |= {"vocab_size": len(vocab), "config": config.to_original_dict(), "train_examples": len(examples),
               "eval_per_effort": args.eval_per_effort, "eval_tool": args.eval_tool, "eval_before": args.eval_before}

    torch.manual_seed(0)
    model = Transformer(config, experts="dequantized")
    init_weights(model, seed=0)
    model.eval()
    n = args.eval_before
    before = [p for i, p in enumerate(evaluation) if i % args.eval_per_effort < n]
    record["before_sft"] = measure(model, encoding, vocab, before, tool_eval[:n])
    print("before SFT", json.dumps({k: record["before_sft"][k] for k in (*EFFORTS, "tool")}), flush=True)

    settings = dataclasses.replace(STUDENT_SETTINGS, steps=args.sft_steps)
    history = sft_train(model, examples, settings, heldout=heldout,
                        log=lambda r: print(f"sft step {r['step']:4d}  loss {r['loss']:.3f}  {r['elapsed_s']:.0f}s"
                                            + (f"  held-out {r['heldout_loss']:.3f}" if "heldout_loss" in r else ""),
                                            flush=True) if r["step"] % 25 == 0 or "heldout_loss" in r else None)
    record["sft"] = {"settings": settings.as_dict(), "seconds": round(history[-1]["elapsed_s"], 1),
                     "load_average": load_average(),
                     "history": [{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()} for r in history]}
    shipped = write_checkpoint(model, config, student.checkpoint_dir("sft", args.out))
    record["after_sft"] = measure(shipped, encoding, vocab, evaluation, tool_eval)
    print("after SFT", json.dumps({k: record["after_sft"][k] for k in (*EFFORTS, "tool")}), flush=True)
    return record


def stage_rl(args, encoding) -> dict:
    """Stage 4: GRPO with the verifiable reward, from the written SFT checkpoint; writes ``rl/original``."""
    record = record_header(args)
    vocab = student.load_vocab(args.out / student.VOCAB_FILE.name)
    _, evaluation, tool_eval = held_out_split(args.eval_per_effort, args.eval_tool)
    policy, history, seconds, settings = run_rl(args, encoding, vocab, student.checkpoint_dir("sft", args.out),
                                                grpo.RewardWeights(), seed=0)
    record["rl"] = {"settings": dataclasses.asdict(settings), "reward": dataclasses.asdict(grpo.RewardWeights()),
                    "seconds": seconds, "load_average": load_average(), "history": history}
    shipped = write_checkpoint(policy, policy.config, student.checkpoint_dir("rl", args.out))
    record["after_rl"] = measure(shipped, encoding, vocab, evaluation, tool_eval)
    print("after RL", json.dumps({k: record["after_rl"][k] for k in (*EFFORTS, "tool")}), flush=True)
    return record


def stage_generous(args, encoding) -> dict:
    """Stage 5: GRPO with the generous reward from the same SFT checkpoint (not written): reward hacking.

    Evaluated on the first ``eval_before`` problems per effort level only (the machine is shared).
    """
    record = record_header(args)
    vocab = student.load_vocab(args.out / student.VOCAB_FILE.name)
    _, evaluation, _ = held_out_split(args.eval_per_effort, args.eval_tool)
    evaluation = [p for i, p in enumerate(evaluation) if i % args.eval_per_effort < args.eval_before]
    hacked, history, seconds, settings = run_rl(args, encoding, vocab, student.checkpoint_dir("sft", args.out),
                                                grpo.GENEROUS, seed=1)
    snapshot = grpo.rounded_snapshot(hacked)
    table, _ = evaluate(snapshot, encoding, vocab, evaluation)
    record["generous_rl"] = {"settings": dataclasses.asdict(settings), "reward": dataclasses.asdict(grpo.GENEROUS),
                             "seconds": seconds, "load_average": load_average(), "history": history, "after": table,
                             "example": hack_example(snapshot, encoding, vocab, 0)}
    print("after generous RL", json.dumps(table), flush=True)
    return record


STAGES = {"sft": stage_sft, "rl": stage_rl, "generous": stage_generous}


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    encoding = load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)
    args.out.mkdir(parents=True, exist_ok=True)
    for stage in STAGES if args.stage == "all" else [args.stage]:
        record = STAGES[stage](args, encoding)
        path = args.out / student.RECORD_FILES[stage]
        path.write_text(json.dumps(record, indent=1) + "\n")
        print(f"{stage}: written to {path}", flush=True)


if __name__ == "__main__":
    main()
