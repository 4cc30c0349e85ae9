"""Greedy or sampled generation with a split model, under torchrun (a smoke test of a multi-GPU setup).

    torchrun --nproc-per-node 4 -m gptoss_edu.parallel CHECKPOINT --mode expert --prompt "Hello"
    torchrun --nproc-per-node 2 -m gptoss_edu.parallel CHECKPOINT --prompt-ids 1,2,3 --max-new-tokens 8

Every rank prints its ``ShardReport``; rank 0 prints the generated token ids as one JSON list
(and their text when the prompt was text, encoded with o200k_harmony).
"""
from __future__ import annotations

import argparse
import json

import torch.distributed as dist

from gptoss_edu.model.generation import generate
from gptoss_edu.parallel.entry import setup_for_chat


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m gptoss_edu.parallel", description=__doc__.split("\n")[0])
    p.add_argument("checkpoint")
    p.add_argument("--mode", choices=["tensor", "expert"], default="tensor")
    prompt = p.add_mutually_exclusive_group(required=True)
    prompt.add_argument("--prompt", help="text, encoded with o200k_harmony")
    prompt.add_argument("--prompt-ids", help="comma-separated token ids")
    p.add_argument("--max-new-tokens", type=int, default=16)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    model, is_rank0 = setup_for_chat(args.checkpoint, args.mode, device=args.device)
    tokenizer = None
    if args.prompt is not None:
        from gptoss_edu.tokenizer import o200k_harmony

        tokenizer = o200k_harmony()
        ids = tokenizer.encode(args.prompt)
    else:
        ids = [int(i) for i in args.prompt_ids.split(",")]
    tokens = list(generate(model, ids, args.max_new_tokens, temperature=args.temperature, stop_tokens=()))
    if is_rank0:
        print(json.dumps(tokens))
        if tokenizer is not None:
            print(tokenizer.decode(tokens))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
