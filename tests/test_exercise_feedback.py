"""Every exercise: a typical wrong answer, written as a learner would, gets the hint that names the mistake.

Also: returned items are named, the failing input is shown in full, a ✓ never comes before a ✗,
calling the library's own function is refused, and an unwritten stub is a note, not an error.
"""
from __future__ import annotations

import json
import struct
from collections import Counter
from typing import Any, get_args, get_origin

import pytest
import torch

from gptoss_edu.exercises import (
    ExerciseError,
    agent,
    attention,
    checkpoints,
    experts,
    gpu,
    harmony,
    model,
    router,
    welcome,
)
from gptoss_edu.exercises import parallel as parallel_exercises
from gptoss_edu.exercises import reasoning as reasoning_exercises
from gptoss_edu.exercises import routing as routing_exercises
from gptoss_edu.exercises import tokenizer as tokenizer_exercises
from gptoss_edu.model import moe


# ---- typical wrong answers ----------------------------------------------------------------------
def attention_params_no_sinks(c):
    qkv = (c.num_attention_heads + 2 * c.num_key_value_heads) * c.head_dim
    return c.hidden_size * qkv + qkv + c.num_attention_heads * c.head_dim * c.hidden_size + c.hidden_size


def count_pairs_seen(ids):
    return {pair: 1 for pair in zip(ids, ids[1:])}


def merge_pair_no_skip(ids, pair, new_id):
    out = []
    for i, token in enumerate(ids):
        out.append(new_id if i + 1 < len(ids) and (token, ids[i + 1]) == pair else token)
    return out


def encode_chunk_leftmost(chunk, ranks):
    parts = [bytes([b]) for b in chunk]
    merged = True
    while merged:
        merged = False
        for i in range(len(parts) - 1):
            if parts[i] + parts[i + 1] in ranks:
                parts = parts[:i] + [parts[i] + parts[i + 1]] + parts[i + 2 :]
                merged = True
                break
    return [ranks[p] for p in parts]


def header_channel_first(role, channel, recipient, content_type):
    out = f"<|start|>{role}"
    if channel:
        out += f"<|channel|>{channel}"
    if recipient:
        out += f" to={recipient}"
    if content_type:
        out += f" {content_type}"
    return out + "<|message|>"


def property_question_mark_reversed(name, schema, required):
    types = {"string": "string", "integer": "number", "number": "number", "boolean": "boolean"}
    if "enum" in schema:
        ts = " | ".join(json.dumps(v) for v in schema["enum"])
    elif schema["type"] == "array":
        ts = types[schema["items"]["type"]] + "[]"
    else:
        ts = types[schema["type"]]
    line = f"{name}{'?' if required else ''}: {ts},"
    if "default" in schema:
        line += f" // default: {json.dumps(schema['default'])}"
    comment = f"// {schema['description']}\n" if "description" in schema else ""
    return comment + line + "\n"


def rms_norm_bf16(x, scale, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * scale.to(x.dtype)


def window_mask_one_too_many(num_tokens, window):
    q = torch.arange(num_tokens)[:, None]
    k = torch.arange(num_tokens)[None, :]
    return (k <= q) & ((q - k <= window) if window else True)


def sink_softmax_forgot_sink(scores, sinks):
    return torch.softmax(scores, dim=-1)


def route_softmax_first(router_logits, k):
    probs = torch.softmax(router_logits, dim=-1)
    weights, indices = probs.topk(k, dim=-1)
    return weights, indices


def swiglu_halves(x, alpha, limit):
    gate, linear = x.chunk(2, dim=-1)
    gate, linear = gate.clamp(max=limit), linear.clamp(-limit, limit)
    return gate * torch.sigmoid(alpha * gate) * (linear + 1)


FP4 = torch.tensor([0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6])


def decode_block_high_first(block, scale):
    codes = torch.stack([block >> 4, block & 0x0F], dim=-1).flatten().long()
    return FP4[codes] * 2.0 ** (int(scale) - 127)


def parse_header_torch_names(data):
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    torch_names = {"BF16": "bfloat16", "F32": "float32", "U8": "uint8", "F16": "float16", "I64": "int64"}
    return {k: (torch_names[v["dtype"]], tuple(v["shape"])) for k, v in header.items() if k != "__metadata__"}


def greedy_with_prompt(model_, prompt_ids, max_new_tokens):
    ids = list(prompt_ids)
    for _ in range(max_new_tokens):
        ids.append(int(model_(torch.tensor(ids))[-1].argmax()))
    return ids


def expert_counts(experts, num_experts):
    return torch.bincount(experts.flatten(), minlength=num_experts).double()


def co_occurrence_off_diagonal(experts, num_experts):
    counts = torch.zeros(num_experts, num_experts, dtype=torch.float64)
    for row in experts.tolist():
        for a in row:
            for b in row:
                if a != b:
                    counts[a, b] += 1
    return counts


def balance_loss_no_factor(router_logits, expert_indices):
    probs = torch.softmax(router_logits.float(), -1).mean(0)
    counts = torch.bincount(expert_indices.flatten(), minlength=router_logits.shape[-1]).float()
    return torch.dot(counts / counts.sum(), probs)


def merge_partials_no_rescale(max_a, sum_a, acc_a, max_b, sum_b, acc_b):
    return torch.maximum(max_a, max_b), sum_a + sum_b, acc_a + acc_b


def matches_type_isinstance(value, type_name):
    return isinstance(value, {"string": str, "integer": int, "number": (int, float), "boolean": bool,
                              "null": type(None), "array": list, "object": dict}[type_name])


def annotation_schema_ignores_none(annotation):
    from typing import Literal, Union

    if get_origin(annotation) in (Union, type(int | None)):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    if get_origin(annotation) is list:
        return {"type": "array", "items": annotation_schema_ignores_none(get_args(annotation)[0])}
    if get_origin(annotation) is Literal:
        return {"type": "string", "enum": list(get_args(annotation))}
    return {"type": {str: "string", int: "integer", float: "number", bool: "boolean"}[annotation]}


def parse_citations_end_zero(text):
    import re

    return [(int(c), int(s), int(e or 0)) for c, s, e in re.findall(r"【(\d+)†L(\d+)(?:-L(\d+))?】", text)]


def tool_message_no_channel(call, text):
    from gptoss_edu.harmony import Author, Message, Role

    return Message.from_author_and_content(Author.new(Role.TOOL, call.recipient), text).with_recipient("assistant")


def rank_loads_round_robin(expert_indices, num_experts, world_size):
    return torch.bincount(expert_indices.flatten() % world_size, minlength=world_size)


def advantages_over_the_batch(rewards):
    return (rewards - rewards.mean()) / (rewards.std(unbiased=False) + 1e-6)


CASES: list[tuple[str, Any, Any, str]] = [
    ("welcome", welcome.check_attention_parameters, attention_params_no_sinks, "sinks"),
    ("count_pairs", tokenizer_exercises.check_count_pairs, count_pairs_seen, "every count is 1"),
    ("merge_pair", tokenizer_exercises.check_merge_pair, merge_pair_no_skip, "moved on by one id instead of two"),
    ("encode_chunk", tokenizer_exercises.check_encode_chunk, encode_chunk_leftmost, "LOWEST RANK first"),
    ("render_header", harmony.check_render_header, header_channel_first, "recipient comes right after the role"),
    ("property", harmony.check_property_to_typescript, property_question_mark_reversed, "`?` is the wrong way round"),
    ("rms_norm", attention.check_rms_norm, rms_norm_bf16, "compute in float32"),
    ("window", attention.check_sliding_window_mask, window_mask_one_too_many, "one key too many"),
    ("sinks", attention.check_sink_softmax, sink_softmax_forgot_sink, "denominator"),
    ("route", router.check_route, route_softmax_first, "softmax over all"),
    ("swiglu", experts.check_swiglu, swiglu_halves, "interleaves"),
    ("decode_block", experts.check_decode_block, decode_block_high_first, "LOW nibble"),
    ("parse_header", checkpoints.check_parse_header, parse_header_torch_names, "file's own codes"),
    ("greedy", model.check_greedy_decode, greedy_with_prompt, "returned the prompt too"),
    ("expert_load", routing_exercises.check_expert_load, expert_counts, "these are counts"),
    ("co_occurrence", routing_exercises.check_co_occurrence, co_occurrence_off_diagonal, "diagonal is empty"),
    ("balance_loss", routing_exercises.check_load_balancing_loss, balance_loss_no_factor, "factor of E"),
    ("merge_partials", gpu.check_merge_partials, merge_partials_no_rescale, "rescale"),
    ("matches_type", agent.check_matches_type, matches_type_isinstance, "check for bool before int"),
    ("annotation", agent.check_annotation_schema, annotation_schema_ignores_none, "accept null"),
    ("citations", agent.check_parse_citations, parse_citations_end_zero, "its end is its start"),
    ("tool_message", agent.check_tool_message, tool_message_no_channel, "call's channel"),
    ("rank_loads", parallel_exercises.check_rank_loads, rank_loads_round_robin, "round-robin"),
    ("advantages", reasoning_exercises.check_group_advantages, advantages_over_the_batch, "ITS group"),
]


@pytest.mark.parametrize("checker, wrong, hint", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_typical_wrong_answer_gets_its_hint(checker, wrong, hint, capsys):
    with pytest.raises(ExerciseError) as caught:
        checker(wrong)
    message = str(caught.value)
    assert "Hint:" in message and hint in message, message
    assert "✓" not in capsys.readouterr().out, "a ✓ was printed before the ✗"


def test_returned_items_are_named_and_the_input_is_shown_in_full():
    with pytest.raises(ExerciseError) as caught:
        router.check_route(route_softmax_first)
    message = str(caught.value)
    assert "`weights`" in message and "[0]" not in message.split("What differs")[1].split(";")[0]
    assert "router_logits = tensor([[" in message and "k = " in message and "..." not in message
    assert "sum to" in message, "the hint quotes the learner's own number"


def test_a_solution_that_calls_the_library_is_refused():
    with pytest.raises(ExerciseError, match="calls the library's own answer"):
        router.check_route(lambda router_logits, k: moe.route(router_logits, k))


def test_an_unwritten_stub_is_a_note_not_an_error(capsys):
    def route(router_logits, k):
        raise NotImplementedError

    router.check_route(route)
    assert "route is not written yet" in capsys.readouterr().out


def test_fallback_runs_the_library_until_the_learner_writes_it(capsys):
    from gptoss_edu.exercises import falls_back_to

    @falls_back_to(moe.route)
    def route(router_logits, k):
        raise NotImplementedError

    logits = torch.randn(3, 8)
    for _ in range(2):
        weights, indices = route(logits, 2)
    assert torch.equal(weights, moe.route(logits, 2)[0])
    assert capsys.readouterr().out.count("not written yet") == 1, "the note is shown once"
    router.check_route(route)  # the checker looks through the fallback at the learner's stub
    assert "route is not written yet" in capsys.readouterr().out


def test_the_fixture_functions_really_are_wrong_in_the_way_they_claim():
    # two spot checks that the learner-style answers above are plausible code, not copies of the hints
    assert merge_pair_no_skip([3, 3, 3], (3, 3), 4) == [4, 4, 3]
    assert Counter(count_pairs_seen([1, 1, 1]).values()) == Counter({1: 1})


def test_library_sink_softmax_takes_masked_scores():
    """The fallback that notebook 03 uses after an unsolved exercise must accept causally masked (-inf) scores."""
    scores = torch.randn(2, 4, 4).masked_fill(~torch.ones(4, 4, dtype=torch.bool).tril(), float("-inf"))
    sinks = torch.tensor([0.5, -1.0])
    expected = torch.softmax(torch.cat([scores, sinks.reshape(2, 1, 1).expand(2, 4, 1)], dim=-1), dim=-1)[..., :-1]
    torch.testing.assert_close(attention.library_sink_softmax(scores, sinks), expected)
