"""The calculator variant: the agent loop sees exactly the rendering the student was trained on."""
from __future__ import annotations

import pytest
import torch
from model_helpers import single_thread  # noqa: F401  (autouse fixture)

from gptoss_edu.agent import AgentLoop, RecordedCompletions
from gptoss_edu.harmony import HarmonyEncodingName, Role, load_harmony_encoding
from gptoss_edu.model.transformer import Transformer
from gptoss_edu.reasoning.masks import render_for_training, special_id
from gptoss_edu.reasoning.sft import student_config
from gptoss_edu.reasoning.tasks import calculate, problems, prompt_conversation, teacher_conversation
from gptoss_edu.reasoning.tools import calculator_tools, tool_use
from gptoss_edu.reasoning.vocab import build_vocab
from gptoss_edu.training.pretrain import init_weights

ENCODING = load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)


def test_calculator_adds_and_refuses_anything_else():
    assert calculate("7+3+9") == "19"
    assert calculate(" 12 ") == "12"
    for bad in ("2*3", "__import__('os')", "1++2", ""):
        with pytest.raises(ValueError, match="only adds"):
            calculate(bad)


def test_agent_loop_prompts_equal_the_training_rendering():
    """Replaying the teacher's turns through the loop reproduces the trained token stream, prompt by prompt."""
    problem = problems(1, seed=3, with_tool=True)[0]
    ids, _ = render_for_training(ENCODING, teacher_conversation(problem))
    first_prompt = ENCODING.render_conversation_for_completion(prompt_conversation(problem), Role.ASSISTANT)
    call_end = ids.index(special_id(ENCODING, "call")) + 1
    assistant_start = ENCODING.encode("<|start|>assistant", allowed_special="all")
    final_start = max(i for i in range(len(ids)) if ids[i:i + 2] == assistant_start) + 2
    recorded = RecordedCompletions([ENCODING.decode(ids[len(first_prompt):call_end]),
                                    ENCODING.decode(ids[final_start:])], ENCODING)
    result = AgentLoop(recorded, [calculator_tools()], encoding=ENCODING).run(prompt_conversation(problem))
    assert recorded.prompts == [ids[:len(first_prompt)], ids[:final_start]]
    assert result.final == str(problem.answer) and result.stop_reason == "final answer"


def test_an_untrained_student_fails_cleanly():
    vocab = build_vocab(ENCODING)
    config = student_config(len(vocab)).replace(num_hidden_layers=1, num_experts=4, experts_per_token=2,
                                                hidden_size=32, intermediate_size=32, head_dim=16)
    torch.manual_seed(0)
    model = Transformer(config, experts="dequantized")
    init_weights(model, 0)
    model.eval()
    outcome = tool_use(model, vocab, ENCODING, problems(1, seed=4, with_tool=True)[0])
    assert not outcome.correct and outcome.stop_reason
