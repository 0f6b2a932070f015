"""ORPO, SimPO, KTO, the reward model's loss and GRPO's advantages and loss on fixed numbers: against TRL's own
loss functions where TRL has one that can be called on tensors (ORPO, SimPO), else against values computed by
hand from the papers' formulas."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from zaomo.train.objectives import (
    group_advantages,
    grpo_loss,
    kto_loss,
    orpo_loss,
    reward_model_loss,
    simpo_loss,
)

PC = torch.tensor([-0.8, -1.6, -0.3, -2.2])  # mean token log-probs of chosen answers
PR = torch.tensor([-1.1, -0.9, -1.9, -2.0])  # ... and of rejected ones


def _sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_orpo_matches_trl():
    trl_orpo = pytest.importorskip("trl.experimental.orpo.orpo_trainer")
    fake = SimpleNamespace(beta=0.25, accelerator=SimpleNamespace(device="cpu"))
    losses, *_ = trl_orpo.ORPOTrainer.odds_ratio_loss(fake, PC, PR)
    nll = torch.tensor(1.7)
    trl_total = nll - losses.mean()  # TRL: loss = policy_nll_loss - losses.mean()
    ours, info = orpo_loss(PC, PR, nll, lam=0.25)
    assert ours.item() == pytest.approx(trl_total.item(), abs=1e-6)
    assert info["reward_acc"] == 0.5
    # by hand for the first pair: log odds = log(p/(1-p)) difference
    pc, pr = math.exp(-0.8), math.exp(-1.1)
    lo = math.log(pc / (1 - pc)) - math.log(pr / (1 - pr))
    assert lo > 0 and math.log(_sig(lo)) == pytest.approx(
        float(torch.nn.functional.logsigmoid(torch.tensor(lo))), abs=1e-6)


def test_simpo_matches_trl():
    trl_cpo = pytest.importorskip("trl.experimental.cpo.cpo_trainer")
    fake = SimpleNamespace(beta=2.0, simpo_gamma=0.5, label_smoothing=0.0, alpha=0.0, loss_type="simpo",
                           accelerator=SimpleNamespace(device="cpu"))
    losses, *_ = trl_cpo.CPOTrainer.cpo_loss(fake, PC, PR)
    ours, info = simpo_loss(PC, PR, beta=2.0, gamma=0.5)
    assert ours.item() == pytest.approx(losses.mean().item(), abs=1e-6)
    by_hand = sum(-math.log(_sig(2.0 * (c - r) - 0.5)) for c, r in zip(PC.tolist(), PR.tolist())) / 4
    assert ours.item() == pytest.approx(by_hand, abs=1e-6)
    assert info["reward_acc"] == 0.5


def test_kto_by_hand():
    policy = torch.tensor([-10.0, -12.0, -8.0])
    ref = torch.tensor([-11.0, -11.5, -9.0])
    desirable = torch.tensor([True, False, False])
    kl = torch.tensor(0.3)
    beta, wg, wb = 0.5, 1.0, 1.5
    loss, info = kto_loss(policy, ref, desirable, kl, beta, wg, wb)
    r = [1.0, -0.5, 1.0]
    expected = ((1 - _sig(beta * (r[0] - 0.3))) * wg + (1 - _sig(beta * (0.3 - r[1]))) * wb
                + (1 - _sig(beta * (0.3 - r[2]))) * wb) / 3
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert info["kl"] == pytest.approx(0.3)
    # a negative KL estimate is clamped to 0, and it carries no gradient
    kl_neg = torch.tensor(-2.0, requires_grad=True)
    p = policy.clone().requires_grad_(True)
    loss2, info2 = kto_loss(p, ref, desirable, kl_neg, beta)
    loss2.backward()
    assert info2["kl"] == 0.0 and kl_neg.grad is None and p.grad is not None


def test_reward_model_loss_is_bradley_terry():
    rc, rr = torch.tensor([2.0, 0.0]), torch.tensor([1.0, 1.0])
    loss, info = reward_model_loss(rc, rr)
    assert loss.item() == pytest.approx((-math.log(_sig(1.0)) - math.log(_sig(-1.0))) / 2, abs=1e-6)
    assert info["reward_acc"] == 0.5


def test_group_advantages_standardise_within_each_prompt():
    rewards = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0])
    adv = group_advantages(rewards, group=4)
    sd = torch.tensor([1.0, 0.0, 0.0, 0.0]).std().item()
    assert adv[0].item() == pytest.approx(0.75 / (sd + 1e-4), rel=1e-5)
    assert adv[1].item() == pytest.approx(-0.25 / (sd + 1e-4), rel=1e-5)
    assert torch.all(adv[4:] == 0)  # all equal: nothing to learn from that group


def test_grpo_loss_gradient_is_advantage_weighted_logprob():
    logps = torch.tensor([[-1.0, -2.0], [-0.5, -0.7]], requires_grad=True)
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    adv = torch.tensor([2.0, -1.0])
    loss, info = grpo_loss(logps, logps.detach(), None, mask, adv, beta=0.0)
    assert loss.item() == pytest.approx(-(2.0) + 1.0)  # ratio 1: −A per completion, summed
    loss.backward()
    # d/dlogp of −mean_t(ρ·A): −A/n on each unmasked token, nothing on the masked one
    assert logps.grad.tolist() == [[-1.0, -1.0], [1.0, 0.0]]
    ref = logps.detach() - 0.1
    loss_kl, info_kl = grpo_loss(logps, logps.detach(), ref, mask, adv, beta=0.5)
    k3 = math.exp(-0.1) + 0.1 - 1
    assert info_kl["kl"] == pytest.approx(k3, rel=1e-5)
    assert loss_kl.item() == pytest.approx(-(2.0) + 1.0 + 0.5 * k3 * 2, rel=1e-5)


def test_one_pass_over_both_sides_equals_two(tiny_model_dir):
    """Chosen and rejected stacked into one forward pass (padded to a common length) give the log-probs that
    two separate passes give."""
    from zaomo.model.load import load_model
    from zaomo.train.data import collate, encode_chat
    from zaomo.train.objectives import pair_logps, sequence_logps

    model, tok = load_model(tiny_model_dir, device="cpu", dtype="fp32")
    pairs = []
    for q, c, r in [("你好", "世界，很长很长的一个回答。", "不"), ("Hi", "yes", "no, a much longer rejected answer here")]:
        ex = {}
        for side, a in (("chosen", c), ("rejected", r)):
            e = encode_chat(tok, [{"role": "user", "content": q}, {"role": "assistant", "content": a}], 128, True)
            ex[f"{side}_input_ids"], ex[f"{side}_labels"] = e["input_ids"], e["labels"]
        pairs.append(ex)
    b = collate(pairs, tok.pad_token_id)
    with torch.no_grad():
        pc, pr, nc, nr = pair_logps(model, b)
        assert torch.allclose(pc, sequence_logps(model, b, "chosen"), atol=1e-4)
        assert torch.allclose(pr, sequence_logps(model, b, "rejected"), atol=1e-4)
    assert nc.tolist() == (b["chosen_labels"][:, 1:] != -100).sum(-1).tolist()
