"""Notebook 12's checkers: typical wrong attention and experts cores get their hint; the library is refused.

The wrong answers are written as a learner would write them, from scratch, not by calling the library.
"""
from __future__ import annotations

import pytest
import torch

from gptoss_edu.exercises import ExerciseError, capstone
from gptoss_edu.model.attention import attention_with_sinks
from gptoss_edu.model.moe import grouped_experts


def attention(q, k, v, sinks, sm_scale, q_positions, k_positions, sliding_window, *, use_sinks=True, use_scale=True,
              interleave_heads=True):
    """A learner's attention core, with switches for the typical mistakes."""
    batch, num_queries, num_kv, group, head_dim = q.shape
    heads = num_kv * group
    q = q.float().reshape(batch, num_queries, heads, head_dim)
    spread = (lambda t: t.repeat_interleave(group, dim=2)) if interleave_heads else (lambda t: t.repeat(1, 1, group, 1))
    k, v = spread(k.float()), spread(v.float())  # (B, S, heads, D)
    scores = torch.einsum("bthd,bshd->bhts", q, k) * (sm_scale if use_scale else 1.0)
    visible = (k_positions[None, :] >= 0) & (k_positions[None, :] <= q_positions[:, None])
    if sliding_window:
        visible &= q_positions[:, None] - k_positions[None, :] < sliding_window
    scores = scores.masked_fill(~visible, float("-inf"))
    if use_sinks:
        column = sinks.float().reshape(1, heads, 1, 1).expand(batch, heads, num_queries, 1)
        weights = torch.cat([scores, column], dim=-1).softmax(-1)[..., :-1]
    else:
        weights = scores.softmax(-1)
    out = torch.einsum("bhts,bshd->bthd", weights, v)
    return out.reshape(batch, num_queries, heads * head_dim).to(q.dtype)


def experts(x, expert_indices, expert_weights, mlp1, mlp1_bias, mlp2, mlp2_bias, alpha, limit, *, halves=False,
            weighted=True):
    """A learner's experts core: a loop over tokens and their chosen experts."""
    out = torch.zeros_like(x)
    for n in range(x.shape[0]):
        for slot, e in enumerate(expert_indices[n].tolist()):
            h = mlp1[e] @ x[n] + mlp1_bias[e]
            gate, linear = h.chunk(2) if halves else (h[0::2], h[1::2])
            gate, linear = gate.clamp(max=limit), linear.clamp(-limit, limit)
            y = mlp2[e] @ (gate * torch.sigmoid(alpha * gate) * (linear + 1)) + mlp2_bias[e]
            out[n] += (expert_weights[n, slot] if weighted else 1.0) * y
    return out


def test_right_answers_pass(capsys):
    capstone.check_attention_core(attention)
    capstone.check_experts_core(experts)
    assert capsys.readouterr().out.count("✓") == 2


@pytest.mark.parametrize("wrong, hint", [
    (lambda *a: attention(*a, use_sinks=False), "sink logit"),
    (lambda *a: attention(*a, use_scale=False), "sm_scale"),
    (lambda *a: attention(*a, interleave_heads=False), "h % KV is wrong"),
], ids=["no sink", "no scale", "heads cycle"])
def test_typical_wrong_attention_gets_its_hint(wrong, hint, capsys):
    with pytest.raises(ExerciseError) as caught:
        capstone.check_attention_core(wrong)
    message = str(caught.value)
    assert "Hint:" in message and hint in message, message
    assert "q = tensor(" in message and "sliding_window = " in message, "the failing input is shown"
    assert "✓" not in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (lambda *a: experts(*a, halves=True), "interleaves"),
    (lambda *a: experts(*a, weighted=False), "without their router weights"),
], ids=["halves", "unweighted"])
def test_typical_wrong_experts_gets_its_hint(wrong, hint, capsys):
    with pytest.raises(ExerciseError) as caught:
        capstone.check_experts_core(wrong)
    message = str(caught.value)
    assert "Hint:" in message and hint in message, message
    assert "✓" not in capsys.readouterr().out


@pytest.mark.parametrize("checker, library", [
    (capstone.check_attention_core, attention_with_sinks),
    (capstone.check_experts_core, grouped_experts),
], ids=["attention", "experts"])
def test_calling_the_library_is_refused(checker, library):
    with pytest.raises(ExerciseError, match="calls the library's own answer"):
        checker(lambda *args: library(*args))


def test_an_unwritten_stub_is_a_note(capsys):
    def my_attention_core(q, k, v, sinks, sm_scale, q_positions, k_positions, sliding_window):
        raise NotImplementedError

    def my_experts_core(x, expert_indices, expert_weights, mlp1, mlp1_bias, mlp2, mlp2_bias, alpha, limit):
        raise NotImplementedError

    capstone.check_attention_core(my_attention_core)
    capstone.check_experts_core(my_experts_core)
    out = capsys.readouterr().out
    assert "my_attention_core is not written yet" in out and "my_experts_core is not written yet" in out
