"""A decode step on the Triton cores asks the host nothing: what CUDA graph capture of it needs.

A CUDA graph records kernels; a step that reads a tensor's value on the host (``.item()``,
``int(t)``, ``bool(t)``, ``torch.nonzero``, a data-dependent shape) fails capture on the GPU.
Here, under the Triton interpreter on the CPU (``tests/conftest.py`` switches it on without
CUDA), a decode step runs through ``DecodeGraph`` (eagerly: no CUDA) with the fused router,
the fast MXFP4 experts (one tile per assignment at batch 1, grouped by expert at batch 4),
the fused RoPE-and-cache write and split-key attention, under a dispatch mode that records
every operator which hands a tensor's value to the host. Also: the fast experts core works
with weights made under ``torch.inference_mode`` (which keep no version counter), and running
out of GPU memory while preparing it leaves the checkpoint-layout core in place with a reason.
"""
from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from gptoss_edu.config import TINY
from gptoss_edu.fast import accelerate
from gptoss_edu.fast.fast_experts import FastExpertsCore
from gptoss_edu.fast.gpu_decode import DecodeGraph
from gptoss_edu.fast.select import use_torch, uses_kernels
from gptoss_edu.model.random_weights import random_state_dict
from gptoss_edu.model.transformer import Transformer

# 32 experts, 4 per token: batch 1 takes one tile per assignment (4 * 4 <= 32), batch 4 groups by expert
CONFIG = TINY.replace(hidden_size=64, intermediate_size=64, num_experts=32, experts_per_token=4, head_dim=16,
                      num_attention_heads=4, num_key_value_heads=2, sliding_window=4, vocab_size=256,
                      num_hidden_layers=2, name="host-sync-test")
HOST_READS = {"_local_scalar_dense", "nonzero", "is_nonzero", "equal", "unique", "_unique2", "bincount",
              "masked_select"}


class HostReads(TorchDispatchMode):
    """Records the operators that read a tensor's value on the host (a sync on CUDA)."""

    def __init__(self):
        super().__init__()
        self.seen: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket.__name__ in HOST_READS:
            self.seen.append(str(func))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("batch", [1, 4])
def test_a_decode_step_on_the_triton_cores_reads_nothing_on_the_host(batch):
    model = Transformer(CONFIG, experts="packed")
    model.load_state_dict(random_state_dict(CONFIG, seed=0))
    model.eval()
    ids = torch.randint(0, CONFIG.vocab_size, (batch, 5), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        accelerate(model, interpreter=True, notice=None)
        try:
            assert uses_kernels(model) and all(isinstance(b.mlp.experts_core, FastExpertsCore) for b in model.block)
            cache = model.new_cache(batch_size=batch, capacity=8)
            model(ids, cache=cache)
            decoder = DecodeGraph(model, cache)
            token = ids[:, -1]
            with HostReads() as reads:
                for _ in range(2):  # the warm-up step and the step a GPU would capture run the same code here
                    token = decoder.step(token).argmax(-1)
        finally:
            use_torch(model)
    assert reads.seen == [], f"a decode step reads tensor values on the host: {reads.seen}"


def test_the_fast_experts_core_takes_weights_made_in_inference_mode():
    with torch.inference_mode():
        model = Transformer(CONFIG, experts="packed")
        model.load_state_dict(random_state_dict(CONFIG, seed=0))
        x = torch.randn(3, CONFIG.hidden_size)
        indices = torch.tensor([[0, 1, 2, 3], [4, 5, 6, 7], [0, 9, 10, 11]])
        weights = torch.full((3, 4), 0.25)
        mlp = model.block[0].mlp
        mlp1, mlp2 = mlp.expert_weights()
        assert mlp1[0].is_inference()
        core = FastExpertsCore(mlp1, mlp2)  # reading ``_version`` of an inference tensor raised here
        from gptoss_edu.kernels.moe import moe_experts_reference

        want = moe_experts_reference(x, indices, weights, *mlp1, mlp.mlp1_bias, *mlp2, mlp.mlp2_bias)
        got = core(x, indices, weights, mlp1, mlp.mlp1_bias, mlp2, mlp.mlp2_bias)
    torch.testing.assert_close(got, want, atol=1e-4 * want.abs().max().item(), rtol=1e-4)


def test_running_out_of_memory_while_preparing_keeps_the_checkpoint_layout_core(monkeypatch):
    from gptoss_edu.fast import fast_experts

    model = Transformer(CONFIG, experts="packed")
    model.load_state_dict(random_state_dict(CONFIG, seed=0))
    before = [block.mlp.experts_core for block in model.block]

    def out_of_memory(*args):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(fast_experts, "FastExpertsCore", out_of_memory)
    assert fast_experts.use_fast_experts(model) == "the GPU ran out of memory while preparing the fast layout"
    assert [block.mlp.experts_core for block in model.block] == before


def test_a_failed_capture_leaves_the_cache_as_it_was_and_the_steps_run_eagerly():
    from gptoss_edu.model.random_weights import random_model

    model = random_model(CONFIG, device="cpu", dtype=torch.float32, seed=0)
    ids = torch.randint(0, CONFIG.vocab_size, (9,), generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        want_cache = model.new_cache(capacity=9)
        model(ids[:5], cache=want_cache)
        want_cache.fixed_shapes = True
        want = [model(ids[p:p + 1], cache=want_cache)[-1] for p in range(5, 9)]
        cache = model.new_cache(capacity=9)
        model(ids[:5], cache=cache)
        decoder = DecodeGraph(model, cache)
        decoder.use_graph = True  # as on a GPU; the warm-up runs eagerly, the capture fails as a host sync would

        def warm_up():
            decoder.warmed_up = True
            return decoder._eager()

        def failing_capture():
            decoder.cache.length += 1  # capture runs the Python: the host count had moved when it failed
            raise RuntimeError("CUDA error: operation not permitted when stream is capturing")

        decoder._warm_up, decoder._capture = warm_up, failing_capture
        got = [decoder.step(ids[p:p + 1])[-1].clone() for p in range(5, 9)]
    assert decoder.capture_problem.startswith("RuntimeError: CUDA error: operation not permitted")
    assert decoder.graph is None and not decoder.use_graph and len(cache) == 9
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)
