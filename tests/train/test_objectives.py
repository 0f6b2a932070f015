"""The DPO loss and sequence log-probabilities against hand-computed values."""

import math

import pytest
import torch

from zaomo.train.objectives import dpo_loss, token_logps


def test_dpo_loss_hand_computed():
    pc, pr = torch.tensor([-1.0, -2.0]), torch.tensor([-3.0, -1.0])
    rc, rr = torch.tensor([-1.5, -2.0]), torch.tensor([-2.5, -1.5])
    beta = 0.5
    # margins: ((pc-rc)-(pr-rr)) = (0.5-(-0.5), 0-0.5) = (1.0, -0.5); loss = mean(-log σ(β·m))
    expected = (-math.log(1 / (1 + math.exp(-0.5))) - math.log(1 / (1 + math.exp(0.25)))) / 2
    loss, info = dpo_loss(pc, pr, rc, rr, beta)
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert info["reward_acc"] == 0.5


def test_token_logps_counts_only_labelled_tokens():
    logits = torch.zeros(1, 4, 5)  # uniform: log p = -log 5 per token
    labels = torch.tensor([[-100, 2, -100, 3]])  # shifted: positions 1 and 3 are scored
    assert token_logps(logits, labels).item() == pytest.approx(-2 * math.log(5))
