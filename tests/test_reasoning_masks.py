"""The SFT loss mask and the compact vocabulary, checked against openai-harmony's rendering."""
from __future__ import annotations

import pytest

from gptoss_edu.harmony import HarmonyEncodingName, load_harmony_encoding
from gptoss_edu.reasoning.masks import assistant_mask, render_for_training
from gptoss_edu.reasoning.tasks import EFFORTS, Problem, problems, teacher_conversation
from gptoss_edu.reasoning.vocab import build_vocab

oh = pytest.importorskip("openai_harmony")

OURS = load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)
THEIRS = oh.load_harmony_encoding(oh.HarmonyEncodingName.HARMONY_GPT_OSS)
CASES = [problems(1, seed=10 + i, effort=effort)[0] for i, effort in enumerate(EFFORTS)]
CASES += [problems(1, seed=20, with_tool=True)[0], Problem((9, 9, 9, 9, 9, 9), "high")]


def their_conversation(problem: Problem):
    """The same conversation built with openai-harmony's own classes."""
    return teacher_conversation(problem, oh)


def expected_from_their_messages(problem: Problem) -> tuple[list[int], list[bool]]:
    """Ids and mask built message by message with openai-harmony's ``render``: an independent construction."""
    conversation = their_conversation(problem)
    messages = conversation.messages
    return_token = THEIRS.encode("<|return|>", allowed_special="all")[0]
    options = oh.RenderOptions(conversation_has_function_tools=problem.with_tool)
    ids, mask = [], []
    for index, message in enumerate(messages):
        tokens = THEIRS.render(message, render_options=options)
        if index == len(messages) - 1:
            tokens = tokens[:-1] + [return_token]  # a finished answer ends with <|return|> in training
        is_assistant = message.author.role == oh.Role.ASSISTANT
        follows_assistant = index > 0 and messages[index - 1].author.role == oh.Role.ASSISTANT
        prompt_part = 0 if follows_assistant else 2  # <|start|>assistant comes from the completion prompt
        ids += tokens
        mask += [is_assistant and position >= prompt_part for position in range(len(tokens))]
    return ids, mask


@pytest.mark.parametrize("problem", CASES, ids=lambda p: f"{p.effort}-tool{p.with_tool}")
def test_mask_matches_openai_harmony_token_by_token(problem):
    ids, mask = render_for_training(OURS, teacher_conversation(problem))
    their_ids = THEIRS.render_conversation_for_training(their_conversation(problem),
                                                        oh.RenderConversationConfig(auto_drop_analysis=False))
    expected_ids, expected_mask = expected_from_their_messages(problem)
    assert ids == their_ids == expected_ids
    for position, (got, want) in enumerate(zip(mask, expected_mask)):
        assert got == want, f"token {position} {OURS.decode([ids[position]])!r}: mask {got}, expected {want}"
    assert assistant_mask(THEIRS, their_ids) == mask  # the same parser works on their encoding object


def test_mask_covers_exactly_the_teacher_text():
    problem = CASES[1]
    ids, mask = render_for_training(OURS, teacher_conversation(problem))
    trained = OURS.decode([t for t, m in zip(ids, mask) if m])
    assert trained.startswith("<|channel|>analysis<|message|>") and trained.endswith(f"{problem.answer}<|return|>")
    assert "Reasoning" not in trained and problem.question not in trained


def test_analysis_is_kept_in_training_rendering():
    ids, _ = render_for_training(OURS, teacher_conversation(CASES[2]))
    assert "<|channel|>analysis" in OURS.decode(ids)


def test_mask_rejects_a_stream_that_is_not_whole_messages():
    ids, _ = render_for_training(OURS, teacher_conversation(CASES[0]))
    with pytest.raises(ValueError, match="token 0"):
        assistant_mask(OURS, ids[1:])
    with pytest.raises(ValueError, match="no end token"):
        assistant_mask(OURS, ids[:-1])


def test_compact_vocabulary_round_trips_and_names_unknown_tokens():
    vocab = build_vocab(OURS)
    ids, _ = render_for_training(OURS, teacher_conversation(CASES[3]))
    assert vocab.to_o200k(vocab.to_compact(ids)) == ids
    outside = OURS.encode(" zebra")
    with pytest.raises(KeyError, match="position 1"):
        vocab.to_compact([ids[0]] + outside, OURS)
    with pytest.raises(IndexError, match="position 0"):
        vocab.to_o200k([len(vocab)])


def test_trl_rows_are_the_training_rendering_and_the_reward_checks_them():
    from gptoss_edu.reasoning.recipe import grpo_row, sft_row, verifiable_reward

    problem = CASES[1]
    row = sft_row(OURS, problem)
    ids, mask = render_for_training(OURS, teacher_conversation(problem))
    assert OURS.encode(row["prompt"] + row["completion"], allowed_special="all") == ids
    assert THEIRS.encode(row["completion"], allowed_special="all") == [t for t, m in zip(ids, mask) if m]
    assert grpo_row(OURS, problem) == {"prompt": row["prompt"], "answer": problem.answer}
    wrong = row["completion"].replace(f">{problem.answer}<|return|>", f">{problem.answer + 1}<|return|>")
    assert verifiable_reward(OURS, [row["completion"], wrong, "<|channel|>final"], [problem.answer] * 3) == [1.1, 0.1, 0.0]
