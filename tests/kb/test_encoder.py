"""Encoders pooled and prefixed as their own sentence-transformers config says — local folders and hub ids
(from an offline Hugging Face cache the test writes) — for the knowledge base and /v1/embeddings alike."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
import torch

from zaomo.kb import KnowledgeBase
from zaomo.kb.dense import Encoder
from zaomo.model.embed import BGE_EN, BGE_ZH, encoder_spec, known_prefixes, pool

WORDS = ["hello", "world", "query", "passage", "search", ":", "the", "gym", "opens"]
TEXT = "hello world the gym opens"


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    """A 2-layer BERT (hidden 32) with a word vocabulary, saved as a plain HF encoder (no pooling config)."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    root = tmp_path_factory.mktemp("bert")
    (root / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    tok = BertTokenizerFast(vocab_file=str(root / "vocab.txt"), model_max_length=64)
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                 intermediate_size=64, max_position_embeddings=64))
    model.save_pretrained(root / "plain")
    tok.save_pretrained(root / "plain")
    return root / "plain"


def st_dir(src, dst, pooling: str | None, prompts: dict | None = None):
    """A copy of the encoder with sentence-transformers files: modules.json, 1_Pooling/config.json, prompts."""
    shutil.copytree(src, dst)
    if pooling:
        (dst / "modules.json").write_text(json.dumps([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]))
        (dst / "1_Pooling").mkdir()
        modes = {k: k == f"pooling_mode_{pooling}" for k in (
            "pooling_mode_cls_token", "pooling_mode_mean_tokens", "pooling_mode_max_tokens",
            "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_lasttoken")}
        (dst / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 32, **modes}))
    if prompts is not None:
        (dst / "config_sentence_transformers.json").write_text(json.dumps({"prompts": prompts}))
    return dst


def by_hand(model_dir, text: str, mode: str) -> np.ndarray:
    """The hidden states of one unpadded input, pooled by hand."""
    from transformers import AutoModel, AutoTokenizer

    tok, model = AutoTokenizer.from_pretrained(model_dir), AutoModel.from_pretrained(model_dir).eval()
    with torch.no_grad():
        h = model(**tok(text, return_tensors="pt")).last_hidden_state[0]
    v = h[0] if mode == "cls" else h.mean(0)
    return (v / v.norm()).numpy()


def test_cls_pooling_from_the_pooling_config(bert_dir, tmp_path):
    d = st_dir(bert_dir, tmp_path / "cls", "cls_token")
    got = Encoder(str(d)).encode([TEXT, "hello"])
    assert got[0] == pytest.approx(by_hand(d, TEXT, "cls"), abs=1e-5)
    assert got[1] == pytest.approx(by_hand(d, "hello", "cls"), abs=1e-5)  # padded in the batch: same vector
    assert not np.allclose(got[0], by_hand(d, TEXT, "mean"), atol=1e-3)


def test_mean_pooling_from_the_pooling_config_and_without_one(bert_dir, tmp_path, caplog):
    d = st_dir(bert_dir, tmp_path / "mean", "mean_tokens")
    assert Encoder(str(d)).encode([TEXT])[0] == pytest.approx(by_hand(d, TEXT, "mean"), abs=1e-5)
    with caplog.at_level(logging.INFO, logger="zaomo.model"):
        plain = Encoder(str(bert_dir)).encode([TEXT])[0]
    assert plain == pytest.approx(by_hand(bert_dir, TEXT, "mean"), abs=1e-5)
    assert "no sentence-transformers pooling config" in caplog.text and "mean pooling" in caplog.text


def test_prompts_prefix_queries_and_passages(bert_dir, tmp_path):
    d = st_dir(bert_dir, tmp_path / "p", "cls_token", {"query": "query : ", "document": "passage : "})
    enc = Encoder(str(d))
    assert (enc.prefix["query"], enc.prefix["passage"]) == ("query : ", "passage : ")
    assert enc.encode(["the gym"], "query")[0] == pytest.approx(by_hand(d, "query : the gym", "cls"), abs=1e-5)
    assert enc.encode(["the gym"])[0] == pytest.approx(by_hand(d, "passage : the gym", "cls"), abs=1e-5)
    bare = Encoder(str(d), query_prefix="", passage_prefix="")  # kb.query_prefix / kb.passage_prefix override
    assert bare.encode(["the gym"], "query")[0] == pytest.approx(by_hand(d, "the gym", "cls"), abs=1e-5)


def test_known_prefixes_by_model_name(bert_dir, tmp_path):
    assert known_prefixes("BAAI/bge-small-zh-v1.5") == (BGE_ZH, "")
    assert known_prefixes("BAAI/bge-large-en-v1.5") == (BGE_EN, "")
    assert known_prefixes("intfloat/multilingual-e5-small") == ("query: ", "passage: ")
    assert known_prefixes("intfloat/e5-base-v2") == ("query: ", "passage: ")
    assert known_prefixes("BAAI/bge-m3") is None and known_prefixes("intfloat/e5-mistral-7b-instruct") is None
    d = st_dir(bert_dir, tmp_path / "bge-small-en-v1.5", "cls_token")  # a local folder named like the model
    assert (encoder_spec(d).query_prefix, encoder_spec(d).passage_prefix) == (BGE_EN, "")
    d = st_dir(bert_dir, tmp_path / "e5" / "e5-small-v2", "mean_tokens", {"query": "q: "})  # its own prompts win
    assert (encoder_spec(d).query_prefix, encoder_spec(d).passage_prefix) == ("q: ", "")


def test_hub_id_reads_pooling_from_the_offline_cache(bert_dir, tmp_path, monkeypatch):
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    repo = cache / "models--org--tiny-cls"
    st_dir(bert_dir, repo / "snapshots" / ("a" * 40), "cls_token", {"query": "query : "})
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    for k, v in {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    spec = encoder_spec("org/tiny-cls")
    assert (spec.pooling, spec.query_prefix) == ("cls", "query : ")
    enc = Encoder("org/tiny-cls")
    assert enc.encode([TEXT])[0] == pytest.approx(by_hand(bert_dir, TEXT, "cls"), abs=1e-5)
    assert encoder_spec("org/not-cached").pooling == "mean"  # nothing cached, offline: no config


def test_pooling_modes_on_explicit_tensors():
    h = torch.tensor([[[1.0, 0], [3, 2], [9, 9]], [[9, 9], [2, 4], [4, 0]]])
    right = torch.tensor([[1, 1, 0], [1, 1, 1]])
    left = torch.tensor([[0, 1, 1], [0, 1, 1]])
    assert pool(h, right, "cls").tolist() == [[1, 0], [9, 9]]
    assert pool(h, right, "mean").flatten().tolist() == pytest.approx([2, 1, 5, 13 / 3])
    assert pool(h, right, "max").tolist() == [[3, 2], [9, 9]]
    assert pool(h, right, "lasttoken").tolist() == [[3, 2], [4, 0]]
    assert pool(h, left, "lasttoken").tolist() == [[9, 9], [4, 0]]
    assert pool(h, left, "mean_sqrt_len").flatten().tolist() == pytest.approx([12 / 2**0.5, 11 / 2**0.5,
                                                                               6 / 2**0.5, 4 / 2**0.5])


def test_kb_encodes_queries_and_passages_with_their_prefixes(bert_dir, tmp_path):
    d = st_dir(bert_dir, tmp_path / "kbenc", "cls_token", {"query": "query : ", "passage": "passage : "})
    kb = KnowledgeBase(tmp_path / "kb", 60, 0, retriever="dense", embedding=str(d), query_prefix="search : ")
    kb.add_text("gym.md", "the gym opens")
    kb.add_text("hello.md", "hello world")
    kb._reindex()
    kb.save()
    enc, store = kb._dense()
    assert enc.prefix == {"query": "search : ", "passage": "passage : "}
    gym = store.vecs[[i for i, k in enumerate(store.ids) if k.startswith("gym.md#")][0]]
    assert gym == pytest.approx(by_hand(d, "passage : " + kb.chunks[0].indexed, "cls"), abs=1e-5)
    hit = kb.search("the gym", 1)[0]
    assert hit.score == pytest.approx(float(by_hand(d, "search : the gym", "cls") @ gym), abs=1e-5)
    assert KnowledgeBase.load(kb.path)._dense()[0].prefix["query"] == "search : "


def test_serve_embedder_pools_as_configured(bert_dir, tmp_path):
    from zaomo.serve.embeddings import Embedder

    d = st_dir(bert_dir, tmp_path / "serve", "cls_token", {"query": "query : "})
    vecs, _ = Embedder(d, device="cpu").embed([TEXT])
    assert vecs[0] == pytest.approx(by_hand(d, TEXT, "cls").tolist(), abs=1e-5)  # as given: no prefix
