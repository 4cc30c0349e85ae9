"""The production recipe on a tiny random Hugging Face gpt-oss: TRL's SFTTrainer and GRPOTrainer + PEFT LoRA, on CPU.

Optional: skipped unless the ``train`` extra (trl, peft, datasets) is installed. It checks
the plumbing, not learning: TRL trains exactly the tokens our loss mask marks, and the
LoRA adapters move; GRPO samples completions of our harmony prompts with the real
o200k_harmony vocabulary (converted offline for transformers) and pays them with our
verifiable reward.
"""
from __future__ import annotations

import os

import pytest
import torch
from model_helpers import single_thread  # noqa: F401  (autouse fixture)

pytest.importorskip("trl")
pytest.importorskip("peft")
datasets = pytest.importorskip("datasets")

from peft import LoraConfig  # noqa: E402
from tokenizers import Tokenizer, models  # noqa: E402
from transformers import GptOssConfig, GptOssForCausalLM, PreTrainedTokenizerFast  # noqa: E402
from transformers.convert_slow_tokenizer import TikTokenConverter  # noqa: E402
from trl import GRPOConfig, GRPOTrainer, SFTConfig, SFTTrainer  # noqa: E402

from gptoss_edu.harmony import HarmonyEncodingName, load_harmony_encoding  # noqa: E402
from gptoss_edu.reasoning.recipe import grpo_row, sft_tokens, verifiable_reward  # noqa: E402
from gptoss_edu.reasoning.tasks import problems  # noqa: E402
from gptoss_edu.tokenizer import O200K_PATTERN, o200k_harmony  # noqa: E402

ENCODING = load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)
END_OF_TEXT = 199999


def padding_only_tokenizer() -> PreTrainedTokenizerFast:
    """TRL needs a processing class for the pad id; the data is already tokenized, so nothing else is used."""
    table = Tokenizer(models.WordLevel({"<|endoftext|>": END_OF_TEXT}, unk_token="<|endoftext|>"))
    return PreTrainedTokenizerFast(tokenizer_object=table, pad_token="<|endoftext|>", eos_token="<|endoftext|>")


def tiny_random_gpt_oss() -> GptOssForCausalLM:
    config = GptOssConfig(vocab_size=201088, hidden_size=64, intermediate_size=64, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, head_dim=16, num_local_experts=4,
                          num_experts_per_tok=2, sliding_window=128, layer_types=["sliding_attention", "full_attention"])
    torch.manual_seed(0)
    return GptOssForCausalLM(config)


def o200k_harmony_for_transformers(vocab_folder: str) -> PreTrainedTokenizerFast:
    """The o200k_harmony tokenizer as transformers' fast tokenizer, built offline from the vocabulary file."""
    specials = [text for text, _ in sorted(o200k_harmony().special_tokens.items(), key=lambda item: item[1])]
    converter = TikTokenConverter(vocab_file=f"{vocab_folder}/o200k_base.tiktoken", pattern=O200K_PATTERN,
                                  extra_special_tokens=specials)
    return PreTrainedTokenizerFast(tokenizer_object=converter.converted(), eos_token="<|return|>",
                                   pad_token="<|endoftext|>")


def test_sft_trainer_with_lora_trains_exactly_our_masked_tokens(tmp_path):
    rows = [sft_tokens(ENCODING, p) for p in problems(8, seed=0)]
    model = tiny_random_gpt_oss()
    args = SFTConfig(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=4, learning_rate=1e-3,
                     completion_only_loss=True, report_to=[], use_cpu=True, logging_steps=1, save_strategy="no")
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], task_type="CAUSAL_LM")
    trainer = SFTTrainer(model=model, args=args, train_dataset=datasets.Dataset.from_list(rows),
                         processing_class=padding_only_tokenizer(), peft_config=lora)
    labels = trainer.data_collator([trainer.train_dataset[0]])["labels"][0].tolist()
    trained = [token for token, label in zip(rows[0]["input_ids"], labels) if label != -100]
    assert trained == [t for t, m in zip(rows[0]["input_ids"], rows[0]["completion_mask"]) if m]
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 2 and all(loss == loss for loss in losses)  # finite, not NaN
    moved = [p for name, p in trainer.model.named_parameters() if "lora_B" in name and p.abs().sum() > 0]
    assert moved, "no LoRA adapter moved"


def test_grpo_trainer_with_lora_samples_our_prompts_and_pays_our_reward(tmp_path):
    vocab_folder = os.environ.get("TIKTOKEN_ENCODINGS_BASE")
    if not vocab_folder or not os.path.isfile(f"{vocab_folder}/o200k_base.tiktoken"):
        pytest.skip("needs the o200k vocabulary file ($TIKTOKEN_ENCODINGS_BASE)")
    tokenizer = o200k_harmony_for_transformers(vocab_folder)
    rows = [grpo_row(ENCODING, p) for p in problems(2, seed=1)]
    assert tokenizer(rows[0]["prompt"], add_special_tokens=False).input_ids == ENCODING.encode(
        rows[0]["prompt"], allowed_special="all")  # the same ids the harmony rendering gave
    paid = []

    def harmony_reward(completions, answer, **columns):
        rewards = verifiable_reward(ENCODING, completions, answer, **columns)
        paid.append((list(completions), list(answer), rewards))
        return rewards

    args = GRPOConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=4, num_generations=4,
                      max_completion_length=8, learning_rate=1e-3, report_to=[], use_cpu=True, logging_steps=1,
                      save_strategy="no")
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], task_type="CAUSAL_LM")
    trainer = GRPOTrainer(model=tiny_random_gpt_oss(), reward_funcs=harmony_reward, args=args,
                          train_dataset=datasets.Dataset.from_list(rows), processing_class=tokenizer, peft_config=lora)
    trainer.train()
    completions, answers, rewards = paid[0]
    assert len(completions) == 4 and set(answers) <= {row["answer"] for row in rows}
    assert all(isinstance(text, str) for text in completions)  # decoded with the o200k_harmony vocabulary
    assert all(reward in (0.0, 0.1, 1.1) for reward in rewards)
    assert any("reward" in entry for entry in trainer.state.log_history)
