"""GRPO pieces on small tensors with known answers, and an RL step on a toy policy that raises the reward."""
from __future__ import annotations

import pytest
import torch
from model_helpers import single_thread  # noqa: F401  (autouse fixture)

from gptoss_edu.reasoning.grpo import (
    GENEROUS,
    RewardWeights,
    clipped_surrogate,
    group_advantages,
    kl_to_reference,
    reward,
    sequence_mean,
)
from gptoss_edu.reasoning.rollout import Rollout
from gptoss_edu.reasoning.tasks import Problem


def test_advantages_sum_to_zero_per_group_and_have_unit_spread():
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.2, 0.4, 0.9, 0.1]])
    advantages = group_advantages(rewards)
    torch.testing.assert_close(advantages.sum(dim=1), torch.zeros(2), atol=1e-6, rtol=0)
    torch.testing.assert_close(advantages[0], torch.tensor([1.0, -1.0, -1.0, 1.0]), atol=1e-5, rtol=0)
    torch.testing.assert_close(advantages.std(dim=1, unbiased=False), torch.ones(2), atol=1e-5, rtol=0)


def test_a_group_with_equal_rewards_teaches_nothing():
    assert torch.equal(group_advantages(torch.full((1, 5), 0.7)), torch.zeros(1, 5))


def test_advantages_reject_groups_of_one():
    with pytest.raises(ValueError, match="group"):
        group_advantages(torch.ones(3, 1))


def test_clipped_objective_equals_unclipped_at_ratio_one():
    logp = torch.log(torch.tensor([[0.5, 0.25, 0.1], [0.9, 0.3, 0.2]]))
    mask = torch.tensor([[True, True, True], [True, True, False]])
    advantages = torch.tensor([1.5, -0.5])
    unclipped = sequence_mean(torch.exp(logp - logp) * advantages[:, None], mask)
    torch.testing.assert_close(clipped_surrogate(logp, logp, advantages, mask), unclipped)
    assert clipped_surrogate(logp, logp, advantages, mask).item() == pytest.approx((1.5 - 0.5) / 2)


def test_clipping_caps_the_gain_of_a_moved_token():
    old = torch.log(torch.tensor([[0.5]]))
    mask = torch.ones(1, 1, dtype=torch.bool)
    doubled = torch.log(torch.tensor([[1.0]]))  # ratio 2 with a positive advantage: capped at 1 + eps
    assert clipped_surrogate(doubled, old, torch.tensor([1.0]), mask, clip_eps=0.2).item() == pytest.approx(1.2)
    # with a negative advantage the pessimistic (unclipped) term is kept: -2
    assert clipped_surrogate(doubled, old, torch.tensor([-1.0]), mask, clip_eps=0.2).item() == pytest.approx(-2.0)


def test_kl_is_zero_for_identical_policies_and_positive_otherwise():
    logp = torch.log(torch.tensor([[0.5, 0.2], [0.7, 0.1]]))
    mask = torch.ones(2, 2, dtype=torch.bool)
    assert kl_to_reference(logp, logp, mask).item() == 0.0
    assert kl_to_reference(logp, logp - 0.3, mask).item() > 0


def test_kl_estimator_is_unbiased_on_a_categorical():
    """Averaged over samples from the policy, exp(r) - r - 1 estimates KL(policy || reference)."""
    policy = torch.tensor([0.7, 0.2, 0.1])
    ref = torch.tensor([0.4, 0.4, 0.2])
    exact = (policy * (policy / ref).log()).sum()
    logp, ref_logp = policy.log()[None], ref.log()[None]
    weighted = (torch.exp(ref_logp - logp) - (ref_logp - logp) - 1) * policy  # expectation over tokens
    torch.testing.assert_close(weighted.sum(), exact)


def _rollout(analysis: str, final: str, well_formed: bool = True) -> Rollout:
    from gptoss_edu.harmony import Message, Role

    messages = (Message.from_role_and_content(Role.ASSISTANT, analysis).with_channel("analysis"),
                Message.from_role_and_content(Role.ASSISTANT, final).with_channel("final"))
    return Rollout(Problem((2, 3, 4)), (), (), messages, well_formed)


def test_reward_pays_for_the_right_answer_and_the_generous_one_for_lines():
    right = _rollout("2+3=5\n5+4=9", "9")
    padded = _rollout("2+3=5\n5+4=9\n1+1=2\n1+1=2\n1+1=2\n1+1=2\n1+1=2\n1+1=2\n1+1=2\n1+1=2\n1+1=2\n1+1=2", "8")
    assert reward(right) == pytest.approx(1.1)
    assert reward(padded) == pytest.approx(0.1)
    assert reward(padded, GENEROUS) > reward(right, GENEROUS)  # the hack: wrong but long wins
    assert reward(_rollout("2+3=5", "9", well_formed=False), RewardWeights()) == 0.0


def test_policy_gradient_step_on_a_toy_policy_raises_reward():
    """A categorical policy over 6 'answers' (answer 4 is right), trained with the same pieces as ``rl_step``."""
    torch.manual_seed(0)
    logits = torch.zeros(6, requires_grad=True)
    reference = torch.log_softmax(torch.zeros(6), dim=0).detach()
    optimizer = torch.optim.Adam([logits], lr=0.1)
    generator = torch.Generator().manual_seed(0)

    def expected_reward() -> float:
        return torch.softmax(logits, dim=0)[4].item()

    before = expected_reward()
    for _ in range(20):
        probs = torch.softmax(logits.detach(), dim=0)
        samples = torch.multinomial(probs.expand(4, 6), 8, replacement=True, generator=generator)  # (P=4, G=8)
        rewards = (samples == 4).float()
        advantages = group_advantages(rewards).reshape(-1)
        old_logp = probs.log()[samples.reshape(-1)][:, None]  # (N, 1): one token per "completion"
        mask = torch.ones_like(old_logp, dtype=torch.bool)
        for _ in range(2):
            logp = torch.log_softmax(logits, dim=0)[samples.reshape(-1)][:, None]
            loss = -(clipped_surrogate(logp, old_logp, advantages, mask)
                     - 0.01 * kl_to_reference(logp, reference[samples.reshape(-1)][:, None], mask))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    after = expected_reward()
    assert before == pytest.approx(1 / 6)
    assert after > 0.5, f"the right answer's probability went from {before:.3f} to {after:.3f}"


def test_summary_counts_a_malformed_analysis_that_holds_special_token_text():
    from gptoss_edu.harmony import HarmonyEncodingName, load_harmony_encoding
    from gptoss_edu.reasoning.rollout import summarize

    encoding = load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)
    table = summarize([_rollout("2+3=5<|message|>", "9", well_formed=False), _rollout("2+3=5\n5+4=9", "9")], encoding)
    assert table["all"]["n"] == 2 and table["all"]["accuracy"] == 0.5 and table["all"]["analysis_tokens"] > 0
