"""The committed students: their vocabulary, their records, and what they can do (greedy, deterministic)."""
from __future__ import annotations

import pytest
from model_helpers import single_thread  # noqa: F401  (autouse fixture)

from gptoss_edu.harmony import HarmonyEncodingName, load_harmony_encoding
from gptoss_edu.reasoning import student
from gptoss_edu.reasoning.rollout import complete
from gptoss_edu.reasoning.tasks import EFFORTS, problems
from gptoss_edu.reasoning.tools import tool_use
from gptoss_edu.reasoning.vocab import build_vocab

ENCODING = load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)


def test_committed_vocabulary_is_the_one_the_code_builds():
    assert student.load_vocab().o200k_ids == build_vocab(ENCODING).o200k_ids


def test_record_holds_every_measurement_the_notebook_shows():
    record = student.load_record()
    sft = record["sft"]
    for stage in ("before_sft", "after_sft"):
        assert set(EFFORTS) <= set(sft[stage]) and "tool" in sft[stage]
    assert set(EFFORTS) <= set(record["rl"]["after_rl"])
    assert record["rl"]["rl"]["history"] and record["generous"]["generous_rl"]["example"]["completion"]
    assert sft["sft"]["seconds"] > 0 and sft["threads"] == 1


def test_unknown_stage_is_named():
    with pytest.raises(ValueError, match="stage"):
        student.checkpoint_dir("dpo")


@pytest.mark.parametrize("stage", student.STAGES)
def test_student_follows_the_effort_line_in_well_formed_harmony(stage):
    model, vocab = student.load_student(stage)
    lengths = {}
    for effort in EFFORTS:
        rollouts = [complete(model, ENCODING, vocab, p) for p in problems(3, seed=11, effort=effort)]
        assert all(r.well_formed for r in rollouts), [r.completion for r in rollouts if not r.well_formed]
        lengths[effort] = sum(len(r.completion) for r in rollouts)
    assert lengths["low"] < lengths["medium"] < lengths["high"]


def test_rl_student_calls_the_calculator():
    model, vocab = student.load_student("rl")
    outcomes = [tool_use(model, vocab, ENCODING, p) for p in problems(3, seed=12, with_tool=True)]
    assert all(o.called for o in outcomes) and sum(o.correct for o in outcomes) >= 2, outcomes
