"""The loss the loop trains on equals the plain cross-entropy (value and gradients) when the LM head runs only
at labelled positions and the float cross-entropy is chunked; packed SFT rows give every example the loss it
has alone (attention does not cross examples)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from zaomo.train.data import IGNORE, collate, pack_examples
from zaomo.train.objectives import causal_lm_loss


@pytest.fixture(scope="module")
def model():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                        num_attention_heads=4, num_key_value_heads=2, vocab_size=97,
                                        max_position_embeddings=128))


def _examples(n: int, seed: int = 0) -> list[dict]:
    """Chat-like examples: a prompt (no labels) then an answer (labels), lengths 5 to 40."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        p, a = int(rng.integers(3, 25)), int(rng.integers(1, 15))
        ids = rng.integers(1, 97, p + a)
        out.append({"input_ids": ids.astype(np.int64),
                    "labels": np.concatenate([np.full(p, IGNORE), ids[p:]]).astype(np.int64)})
    return out


def _plain(model, b) -> torch.Tensor:
    logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), b["labels"][:, 1:].reshape(-1),
                           ignore_index=IGNORE, reduction="sum")


@pytest.mark.parametrize("chunk", [3, 2048])
def test_selected_chunked_loss_equals_plain_cross_entropy_value_and_gradients(model, chunk):
    b = collate(_examples(6), pad_id=0)
    model.zero_grad()
    ref = _plain(model, b)
    ref.backward()
    want = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    got, n = causal_lm_loss(model, b, reduction="sum", select=True, chunk=chunk)
    got.backward()
    assert n == int((b["labels"][:, 1:] != IGNORE).sum())
    assert got.item() == pytest.approx(ref.item(), rel=1e-5)
    for name, p in model.named_parameters():
        assert torch.allclose(p.grad, want[name], atol=1e-6, rtol=1e-4), name
    mean, _ = causal_lm_loss(model, b, reduction="mean", select=False, chunk=chunk)
    assert mean.item() == pytest.approx(ref.item() / n, rel=1e-5)


def test_packed_rows_give_each_example_its_own_loss(model):
    exs = _examples(12, seed=1)
    packed = pack_examples(exs, seq_len=64)
    assert len(packed) < len(exs)  # several examples per row
    assert sum(len(r["input_ids"]) for r in packed) == sum(len(e["input_ids"]) for e in exs)
    with torch.no_grad():
        alone = sum(_plain(model, collate([e], 0)).item() for e in exs)
        # first tokens of examples carry no label when packed: the same is true alone (a label shifts away)
        together, n = causal_lm_loss(model, collate(packed, 0, multiple=64), reduction="sum", select=True)
    assert n == sum(int((e["labels"][1:] != IGNORE).sum()) for e in exs)
    assert together.item() == pytest.approx(alone, rel=1e-5)


def test_padding_to_a_multiple_keeps_the_loss(model):
    b1, b64 = collate(_examples(3), 0), collate(_examples(3), 0, multiple=64)
    assert b64["input_ids"].shape[1] == 64
    with torch.no_grad():
        assert causal_lm_loss(model, b64, "sum")[0].item() == pytest.approx(causal_lm_loss(model, b1, "sum")[0].item(),
                                                                          rel=1e-5)
