"""Perplexity on controlled models: a uniform model over 256 one-character tokens is exactly 8 bits per
character on short and long texts; the sliding window equals one pass over the whole text when it fits and
carries context across windows."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from zaomo.eval.perplexity import perplexity
from zaomo.eval.targets import LocalTarget


class CharTok:
    """One token per character (its code point), with character offsets like a fast tokenizer."""

    def __call__(self, text, add_special_tokens=False, return_offsets_mapping=False):
        out = {"input_ids": [ord(c) for c in text]}
        if return_offsets_mapping:
            out["offset_mapping"] = [(i, i + 1) for i in range(len(text))]
        return out

    def decode(self, ids):
        return "".join(map(chr, ids))


class Uniform(torch.nn.Module):
    def __init__(self, vocab=256, max_len=64):
        super().__init__()
        self.vocab, self.config = vocab, SimpleNamespace(max_position_embeddings=max_len)
        self.seen_lengths: list[int] = []

    @property
    def device(self):
        return torch.device("cpu")

    def forward(self, input_ids, **_):
        self.seen_lengths.append(input_ids.shape[1])
        return SimpleNamespace(logits=torch.zeros(*input_ids.shape, self.vocab))


class Bigram(torch.nn.Module):
    """Logits depend on the previous token only, and honour logits_to_keep like HF models."""

    def __init__(self, vocab=256):
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(vocab, vocab)

    def forward(self, input_ids, logits_to_keep=0, use_cache=False):
        logits = self.emb(input_ids)
        return SimpleNamespace(logits=logits[:, -logits_to_keep:] if logits_to_keep else logits)


def _target(model) -> LocalTarget:
    tgt = LocalTarget.__new__(LocalTarget)  # no model directory: the test's model and tokenizer
    tgt.model, tgt.tok, tgt.batch_size = model, CharTok(), 4
    return tgt


@pytest.mark.parametrize("texts", [["ab", "xyz", "hello"], ["The quick brown fox. " * 60]])
def test_uniform_model_is_exactly_8_bits_per_char_short_and_long(texts):
    m = _target(Uniform(max_len=64)).perplexity(texts)
    assert m["bits_per_char"] == pytest.approx(8.0) and m["bits_per_byte"] == pytest.approx(8.0)
    assert m["ppl"] == pytest.approx(256.0)
    assert m["tokens"] == sum(len(t) - 1 for t in texts)  # every token but the first of each text


def test_a_one_token_text_counts_nothing():
    m = _target(Uniform()).perplexity(["a", "ab"])
    assert (m["tokens"], m["chars"], m["bits_per_char"]) == (1, 1, pytest.approx(8.0))


def test_bits_per_byte_on_chinese():
    m = perplexity(Uniform(vocab=65536), CharTok(), ["研发部位于三楼"], max_length=64)
    # 6 scored characters of 3 UTF-8 bytes each, 16 bits per token
    assert m["bits_per_char"] == pytest.approx(16.0) and m["bits_per_byte"] == pytest.approx(16 / 3)
    assert (m["chars"], m["bytes"]) == (6, 18)


def test_sliding_window_equals_one_pass_and_carries_context():
    model, tok = Bigram(), CharTok()
    text = "zaomo evaluates perplexity with a sliding window."
    ids = torch.tensor([tok(text)["input_ids"]])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[0, :-1], -1)
    whole_nll = -float(logp.gather(1, ids[0, 1:, None]).sum())
    expected = whole_nll / math.log(2) / (len(text) - 1)
    assert perplexity(model, tok, [text], max_length=128)["bits_per_char"] == pytest.approx(expected)
    # a bigram model needs one token of context: windows of 8 moving by 3 must give the same number
    assert perplexity(model, tok, [text], max_length=8, stride=3)["bits_per_char"] == pytest.approx(expected)
    assert perplexity(model, tok, [text], max_length=2, stride=1)["bits_per_char"] == pytest.approx(expected)


def test_windows_overlap_and_stay_within_max_length():
    model = Uniform(max_len=16)
    perplexity(model, CharTok(), ["x" * 40], max_length=16, stride=8)
    assert model.seen_lengths == [16, 16, 16, 16] and sum(model.seen_lengths) > 40


def test_tiny_model_target_reports_bits_per_byte(tiny_model_dir):
    tgt = LocalTarget(tiny_model_dir, batch_size=4, device="cpu")
    m = tgt.perplexity(["研发部的负责人是王建国。" * 30], seq_len=32)
    assert m["bits_per_byte"] > 0 and m["bits_per_char"] > m["bits_per_byte"] and m["tokens"] > 32
