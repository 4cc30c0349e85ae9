"""The checkers of notebooks 03-06 accept the library's answer and reject the classic mistakes."""
from __future__ import annotations

import pytest
import torch

from gptoss_edu.exercises import ExerciseError
from gptoss_edu.exercises.attention import (
    check_rms_norm,
    check_sink_softmax,
    check_sliding_window_mask,
    library_sink_softmax,
    library_sliding_window_mask,
)
from gptoss_edu.exercises.experts import check_decode_block, check_swiglu, library_decode_block
from gptoss_edu.exercises.model import check_greedy_decode, library_greedy_decode
from gptoss_edu.exercises.router import check_route
from gptoss_edu.model.moe import route, swiglu
from gptoss_edu.model.mxfp4 import FP4_VALUES
from gptoss_edu.model.norm import rms_norm


def test_library_answers_pass(library_answers_allowed, capsys):
    check_rms_norm(rms_norm)
    check_sliding_window_mask(library_sliding_window_mask)
    check_sink_softmax(library_sink_softmax)
    check_route(route)
    check_swiglu(swiglu)
    check_decode_block(library_decode_block)
    check_greedy_decode(library_greedy_decode)
    assert capsys.readouterr().out.count("✓") == 7  # one per checker: rms_norm's float32 and bfloat16 checks share it


def test_sink_softmax_reference_is_softmax_with_an_extra_column():
    scores, sinks = torch.tensor([[[1.0, 2.0, 3.0]]]), torch.tensor([0.5])
    expected = torch.softmax(torch.tensor([1.0, 2.0, 3.0, 0.5]), -1)[:3]
    torch.testing.assert_close(library_sink_softmax(scores, sinks)[0, 0], expected)


def test_sliding_window_reference_sees_exactly_window_keys():
    mask = library_sliding_window_mask(6, 2)
    assert mask.sum(-1).tolist() == [1, 2, 2, 2, 2, 2] and mask[5, 4] and not mask[5, 3]


def _rms_norm_without_float32(x, scale, eps):
    return x * torch.rsqrt(torch.mean(x * x, dim=-1, keepdim=True) + eps) * scale.to(x.dtype)


def _window_off_by_one(num_tokens, window):
    q, k = torch.arange(num_tokens)[:, None], torch.arange(num_tokens)[None]
    return (k <= q) & ((q - k <= window) if window else True)


def _sinks_added_after_softmax(scores, sinks):
    return torch.softmax(scores, -1)


def _softmax_then_topk(logits, k):
    top = torch.topk(torch.softmax(logits, -1), k, dim=-1)
    return top.values, top.indices


def _swiglu_without_plus_one(x, alpha, limit):
    gate, linear = x[..., ::2].clamp(max=limit), x[..., 1::2].clamp(-limit, limit)
    return gate * torch.sigmoid(alpha * gate) * linear


def _high_nibble_first(block, scale):
    codes = torch.stack([block >> 4, block & 0x0F], -1).reshape(-1).long()
    return torch.tensor(FP4_VALUES)[codes] * 2.0 ** (int(scale) - 127)


def _decode_without_cache_positions(model, prompt_ids, max_new_tokens):
    # A classic bug: a fresh cache for every step, so each token sits at position 0.
    out, ids = [], torch.tensor(prompt_ids)
    for _ in range(max_new_tokens):
        out.append(int(model(ids, cache=model.new_cache())[-1].argmax()))
        ids = torch.tensor([out[-1]])
    return out


@pytest.mark.parametrize("checker, wrong", [
    (check_rms_norm, _rms_norm_without_float32),
    (check_sliding_window_mask, _window_off_by_one),
    (check_sink_softmax, _sinks_added_after_softmax),
    (check_route, _softmax_then_topk),
    (check_swiglu, _swiglu_without_plus_one),
    (check_decode_block, _high_nibble_first),
    (check_greedy_decode, _decode_without_cache_positions),
], ids=lambda f: f.__name__)
def test_classic_mistakes_are_rejected(checker, wrong):
    with pytest.raises(ExerciseError, match="differs from the library"):
        checker(wrong)
