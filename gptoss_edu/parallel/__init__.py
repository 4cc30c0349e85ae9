"""gpt-oss split over several processes with ``torch.distributed``: tensor and expert parallelism.

On every rank of an initialised process group (gloo on CPU, NCCL on GPU):

    model = gptoss_edu.parallel.load_model(path, mode="tensor")   # or mode="expert"
    logits = model(ids)                          # the full (T, vocab) logits, on every rank
    tokens = list(gptoss_edu.generate(model, ids, 20))   # rank 0 decides each token

- ``sharding``: which slice of each tensor a rank holds (``ShardPlan``);
- ``layers``: the pieces that talk to other ranks (all-reduce, all-gather, all-to-all);
- ``transformer``: ``ParallelTransformer``, the ordinary model with those pieces swapped in;
- ``loader``: ``load_model``, reading only the rank's slices from either checkpoint layout;
- ``comm``: the collectives, counting the bytes they send;
- ``launch``: ``run_parallel`` (N local processes, for tests and notebooks), ``init_from_env`` (torchrun);
- ``entry``: ``setup_for_chat``, what ``python -m gptoss_edu.chat --parallel`` calls under torchrun;
- ``costs``: weight bytes per rank, traffic per token, expert-mode load per rank (notebook 10);
- ``jobs``: small ``run_parallel`` jobs for notebook 10.

``torchrun --nproc-per-node N -m gptoss_edu.parallel CHECKPOINT --prompt TEXT`` generates with a
split model (a smoke test of a multi-GPU machine).
"""
from __future__ import annotations

from gptoss_edu.parallel.entry import setup_for_chat, share_from_rank0
from gptoss_edu.parallel.launch import init_from_env, run_parallel
from gptoss_edu.parallel.loader import ShardReport, load_model
from gptoss_edu.parallel.sharding import ShardPlan, check_world_size
from gptoss_edu.parallel.transformer import ParallelTransformer

__all__ = ["ParallelTransformer", "ShardPlan", "ShardReport", "check_world_size", "init_from_env", "load_model",
           "run_parallel", "setup_for_chat", "share_from_rank0"]
