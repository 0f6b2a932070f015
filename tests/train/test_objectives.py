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


def test_dpo_loss_matches_trl(tmp_path):
    """Our sigmoid DPO loss on TRL's own batch (its tokenisation and completion mask) equals TRL's."""
    pytest.importorskip("trl")
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    from zaomo.config.model import ModelConfig
    from zaomo.model.build import build_model
    from zaomo.model.tokenizer import train_bpe

    texts = ["你好，世界。Hello world.", "The quick brown fox.", "模型训练需要数据。"] * 20
    tok = train_bpe(iter(texts), 300, tmp_path / "tok", min_frequency=1, model_max_length=128)
    policy = build_model(ModelConfig(preset="tiny", seq_len=128), tok, seed=0)
    ref = build_model(ModelConfig(preset="tiny", seq_len=128), tok, seed=1)
    pairs = [{"prompt": "你好", "chosen": "世界。", "rejected": "fox."},
             {"prompt": "The quick", "chosen": " brown fox.", "rejected": " 数据。"}]
    args = DPOConfig(output_dir=str(tmp_path / "out"), per_device_train_batch_size=2, beta=0.3, report_to=[],
                     use_cpu=True)
    trainer = DPOTrainer(model=policy, ref_model=ref, args=args, train_dataset=Dataset.from_list(pairs),
                         processing_class=tok)
    batch = next(iter(trainer.get_train_dataloader()))
    trl_loss = float(trainer.compute_loss(trainer.model, batch))

    labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100)

    def logps(m):  # rows: [chosen..., rejected...]
        with torch.no_grad():
            out = m(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False)
        return token_logps(out.logits, labels).chunk(2)

    (pc, pr), (rc, rr) = logps(policy), logps(ref)
    ours, _ = dpo_loss(pc, pr, rc, rr, 0.3)
    assert abs(trl_loss - math.log(2)) > 1e-3  # the two models differ, so the check is not trivially log 2
    assert ours.item() == pytest.approx(trl_loss, abs=1e-5)
