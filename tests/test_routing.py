"""capture_routing records what the router chose, per layer and token, across prefill and decode."""
from __future__ import annotations

import pytest
import torch
from model_helpers import TEST_CONFIG, build_model, single_thread  # noqa: F401  (autouse fixture)

from gptoss_edu.model import moe
from gptoss_edu.model.generation import generate
from gptoss_edu.model.routing import capture_routing

L, E, K = TEST_CONFIG.num_hidden_layers, TEST_CONFIG.num_experts, TEST_CONFIG.experts_per_token


@pytest.fixture(scope="module")
def model():
    return build_model(seed=5)


def test_record_matches_recomputed_routing(model):
    ids = torch.randint(0, TEST_CONFIG.vocab_size, (20,), generator=torch.Generator().manual_seed(0))
    inputs = []
    hooks = [block.mlp.register_forward_hook(lambda m, args, out: inputs.append(args[0][0])) for block in model.block]
    with capture_routing(model) as routing, torch.no_grad():
        model(ids)
    for hook in hooks:
        hook.remove()
    assert routing.num_layers == L and routing.num_tokens == 20
    assert routing.router_logits.shape == (L, 20, E)
    assert routing.experts.shape == routing.weights.shape == (L, 20, K)
    for layer, x in enumerate(inputs):
        mlp = model.block[layer].mlp
        with torch.no_grad():
            logits = mlp.gate(mlp.norm(x))
        weights, experts = moe.route(logits, K)
        assert torch.equal(routing.experts[layer], experts)
        torch.testing.assert_close(routing.weights[layer], weights)
        torch.testing.assert_close(routing.router_logits[layer], logits)
    torch.testing.assert_close(routing.weights.sum(-1), torch.ones(L, 20))
    assert routing.expert_counts().sum(-1).tolist() == [20 * K] * L


def test_generation_appends_one_token_per_step_and_stops_recording_after(model):
    prompt = list(range(10))
    with capture_routing(model) as routing:
        new = list(generate(model, prompt, max_new_tokens=5, stop_tokens=()))
    # the last sampled token is never fed back, so the model saw the prompt and 4 new tokens
    assert routing.num_tokens == len(prompt) + len(new) - 1
    assert all(block.mlp.routing_observer is None for block in model.block)
    with torch.no_grad():
        model(torch.tensor(prompt))
    assert routing.num_tokens == len(prompt) + len(new) - 1


def test_batched_rows_are_recorded_row_after_row(model):
    ids = torch.randint(0, TEST_CONFIG.vocab_size, (2, 6), generator=torch.Generator().manual_seed(1))
    with capture_routing(model) as together, torch.no_grad():
        model(ids)
    with capture_routing(model) as second_row, torch.no_grad():
        model(ids[1])
    assert torch.equal(together.experts[:, 6:], second_row.experts)


def test_empty_record_and_nested_capture_are_explained(model):
    with capture_routing(model) as routing:
        with pytest.raises(ValueError, match="no routing recorded yet"):
            routing.experts  # noqa: B018
        with pytest.raises(RuntimeError, match="already active"), capture_routing(model):
            pass
