"""SFT on masked harmony: batching, the masked loss, and a short run that lowers the loss."""
from __future__ import annotations

import pytest
import torch
from model_helpers import single_thread  # noqa: F401  (autouse fixture)

from gptoss_edu.harmony import HarmonyEncodingName, load_harmony_encoding
from gptoss_edu.model.generation import generate
from gptoss_edu.model.transformer import Transformer
from gptoss_edu.reasoning.rollout import parse_completion, prompt_ids
from gptoss_edu.reasoning.sft import (
    collate,
    heldout_loss,
    make_example,
    masked_cross_entropy,
    sft_loss,
    sft_train,
    student_config,
)
from gptoss_edu.reasoning.tasks import problems
from gptoss_edu.reasoning.vocab import build_vocab
from gptoss_edu.training.pretrain import TrainSettings, init_weights

ENCODING = load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)
VOCAB = build_vocab(ENCODING)


def tiny_model(seed: int = 0) -> Transformer:
    config = student_config(len(VOCAB)).replace(num_hidden_layers=2, num_experts=4, experts_per_token=2,
                                                hidden_size=64, intermediate_size=32, head_dim=16)
    torch.manual_seed(seed)
    model = Transformer(config, experts="dequantized")
    init_weights(model, seed)
    return model


def test_collate_shifts_targets_and_mask_by_one():
    examples = [make_example(ENCODING, VOCAB, p) for p in problems(3, seed=1)]
    inputs, targets, loss_mask = collate(examples)
    assert inputs.shape == targets.shape == loss_mask.shape == (3, max(len(e.ids) for e in examples) - 1)
    for row, example in enumerate(examples):
        n = len(example.ids) - 1
        assert inputs[row, :n].tolist() == list(example.ids[:-1])
        assert targets[row, :n].tolist() == list(example.ids[1:])
        assert loss_mask[row, :n].tolist() == list(example.mask[1:])
        assert not loss_mask[row, n:].any()  # padding is never trained


def test_masked_cross_entropy_counts_only_masked_positions():
    logits = torch.zeros(1, 3, 4)
    logits[0, 0, 1] = 100.0  # position 0 predicts token 1 with certainty
    targets = torch.tensor([[1, 2, 3]])
    only_first = torch.tensor([[True, False, False]])
    assert masked_cross_entropy(logits, targets, only_first).item() == pytest.approx(0.0, abs=1e-6)
    assert masked_cross_entropy(logits, targets, torch.tensor([[False, True, False]])).item() == pytest.approx(
        torch.log(torch.tensor(4.0)).item())
    with pytest.raises(ValueError, match="no token"):
        masked_cross_entropy(logits, targets, torch.zeros(1, 3, dtype=torch.bool))


def test_short_sft_run_lowers_the_masked_loss():
    model = tiny_model()
    examples = [make_example(ENCODING, VOCAB, p) for p in problems(64, seed=2)]
    heldout = [make_example(ENCODING, VOCAB, p) for p in problems(16, seed=3)]
    model.eval()
    before = heldout_loss(model, heldout)
    settings = TrainSettings(steps=25, batch_size=8, learning_rate=3e-3, warmup_steps=5, eval_every=100,
                             qat_fraction=0.0)
    history = sft_train(model, examples, settings)
    after = heldout_loss(model, heldout)
    assert len(history) == 25 and not history[-1]["qat"]
    assert after < 0.6 * before, f"held-out masked loss {before:.3f} -> {after:.3f}"


def test_training_after_generation_works():
    """generate() runs in inference mode; the RoPE tables it creates must not break a later backward."""
    model = tiny_model()
    model.eval()
    list(generate(model, [0, 1, 2], 3))
    model.train()
    loss, _ = sft_loss(model, collate([make_example(ENCODING, VOCAB, problems(1, seed=4)[0])]), 0.01)
    loss.backward()
    assert model.embedding.weight.grad is not None


def test_teacher_completion_parses_as_a_correct_well_formed_rollout():
    problem = problems(1, seed=5, effort="high")[0]
    example = make_example(ENCODING, VOCAB, problem)
    prompt = prompt_ids(ENCODING, VOCAB, problem)
    assert list(example.ids[:len(prompt)]) == prompt  # training rendering = completion prompt + answer
    rollout = parse_completion(ENCODING, VOCAB, problem, prompt, example.ids[len(prompt):])
    assert rollout.well_formed and rollout.correct and rollout.final == str(problem.answer)
    assert all(example.mask[len(prompt):]) and not any(example.mask[:len(prompt)])
