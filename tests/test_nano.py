"""gpt-oss-nano: the committed checkpoint, its tokenizer, the corpus, and the training code that made it."""
from __future__ import annotations

import json

import pytest
import torch

from gptoss_edu.config import ModelConfig
from gptoss_edu.io.checkpoint import open_checkpoint
from gptoss_edu.model.mxfp4 import dequantize, quantize
from gptoss_edu.model.transformer import Transformer
from gptoss_edu.training import nano
from gptoss_edu.training.pretrain import (
    TrainSettings,
    evaluate,
    fake_quantize,
    init_weights,
    learning_rate,
    load_balancing_loss,
    packed_state_dict,
    save_original,
    train,
    unigram_loss,
)

MICRO = ModelConfig(num_hidden_layers=2, num_experts=4, experts_per_token=2, vocab_size=64, hidden_size=32,
                    intermediate_size=32, head_dim=16, num_attention_heads=2, num_key_value_heads=1,
                    sliding_window=4, initial_context_length=256, name="micro")


@pytest.fixture(scope="module")
def shipped():
    return nano.load_nano()


def test_checkpoint_is_in_the_original_layout_with_mxfp4_experts():
    config = json.loads((nano.CHECKPOINT_DIR / "config.json").read_text())
    assert ModelConfig.from_original_dict(config) == nano.NANO_CONFIG.replace(name="checkpoint")
    ckpt = open_checkpoint(nano.CHECKPOINT_DIR, layout="original")  # strict: names, shapes, dtypes all checked
    assert ckpt.layout == "original" and ckpt.experts == "mxfp4"
    assert ckpt.stored["block.0.mlp.mlp1_weight.blocks"].dtype == torch.uint8
    total = sum(p.stat().st_size for p in nano.NANO_DIR.rglob("*") if p.is_file())
    assert total < 4 * 2**20, f"the committed nano files take {total} bytes"


def test_loads_through_load_model_and_beats_a_unigram_baseline(shipped):
    """The acceptance test: held-out text (a stdlib file never trained on) is predicted far better than by frequencies."""
    from gptoss_edu import load_model

    model = load_model(nano.CHECKPOINT_DIR, progress=False)
    assert isinstance(model, Transformer) and model.block[0].mlp.mlp2_weight.scales.dtype == torch.uint8
    tokenizer = shipped[1]
    metadata = nano.load_metadata()
    assert nano.HELDOUT_FILE not in metadata["corpus_files"]
    heldout = torch.tensor(tokenizer.encode(nano.heldout_text()[:6000]))
    train_counts = torch.tensor(metadata["train_token_counts"])
    assert train_counts.sum() == metadata["train_tokens"]
    baseline = unigram_loss(train_counts, heldout)
    loss = evaluate(model, heldout, seq_len=128)
    assert loss < baseline - 1.0, f"held-out loss {loss:.3f} vs unigram {baseline:.3f}"


def test_tokenizer_round_trips_and_fills_the_vocabulary(shipped):
    tokenizer = shipped[1]
    assert tokenizer.n_vocab == nano.NANO_CONFIG.vocab_size
    text = "def f(x):\n    return x ** 2  # héllo ✓\n"
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text and max(ids) < 2047
    assert tokenizer.encode(nano.END_OF_TEXT, allowed_special="all") == [2047]


def test_corpus_is_sorted_capped_and_excludes_the_heldout_file():
    corpus = nano.stdlib_corpus(char_cap=200_000)
    assert list(corpus.names) == sorted(corpus.names) and nano.HELDOUT_FILE not in corpus.names
    assert 0 < corpus.num_chars <= 200_000
    assert all(len(t) <= nano.FILE_CHAR_CAP and t.endswith("\n") for t in corpus.texts)
    assert corpus == nano.stdlib_corpus(char_cap=200_000)


def test_load_balancing_loss_is_one_when_balanced_and_grows_when_collapsed():
    balanced_logits = torch.zeros(8, 4, requires_grad=True)
    balanced_choice = torch.tensor([[0, 1], [2, 3]] * 4)
    assert load_balancing_loss(balanced_logits, balanced_choice).item() == pytest.approx(1.0)
    collapsed_logits = torch.tensor([[5.0, 4.0, 0.0, 0.0]] * 8, requires_grad=True)
    loss = load_balancing_loss(collapsed_logits, torch.tensor([[0, 1]] * 8))
    assert loss.item() > 1.8
    loss.backward()
    assert collapsed_logits.grad[:, :2].sum() > 0  # pushing the busy experts' logits down lowers the loss


def test_fake_quantize_rounds_forward_and_passes_gradients_straight_through():
    w = torch.randn(4, 64, requires_grad=True)
    out = fake_quantize(w)
    assert torch.equal(out.detach(), dequantize(*quantize(w.detach()), dtype=torch.float32))
    out.sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))


def test_learning_rate_warms_up_then_decays():
    s = TrainSettings(steps=100, warmup_steps=10, learning_rate=1.0, min_learning_rate=0.1)
    assert learning_rate(0, s) == pytest.approx(0.1) and learning_rate(9, s) == pytest.approx(1.0)
    assert learning_rate(99, s) == pytest.approx(0.1, abs=1e-3)


def test_a_short_training_run_learns_and_saves_a_loadable_mxfp4_checkpoint(tmp_path):
    from gptoss_edu import load_model

    torch.manual_seed(0)
    pattern = torch.arange(8).repeat(400)  # a sequence a tiny model can learn
    model = Transformer(MICRO, experts="dequantized")
    init_weights(model, seed=0)
    before = evaluate(model, pattern[:200], seq_len=16)
    settings = TrainSettings(steps=40, batch_size=4, seq_len=16, warmup_steps=5, eval_every=20, qat_fraction=0.25)
    history = train(model, pattern, settings, heldout_ids=pattern[:200])
    assert [r["step"] for r in history] == list(range(40)) and history[-1]["qat"] and not history[0]["qat"]
    assert history[-1]["heldout_loss"] < before - 1.0
    folder = save_original(packed_state_dict(model), MICRO, tmp_path / "original")
    loaded = load_model(folder, progress=False)
    assert abs(evaluate(loaded, pattern[:200], seq_len=16) - history[-1]["heldout_loss"]) < 0.05


def test_train_refuses_packed_experts():
    with pytest.raises(ValueError, match="dequantized"):
        train(Transformer(MICRO, device="meta"), torch.zeros(10, dtype=torch.long), TrainSettings(steps=1))
