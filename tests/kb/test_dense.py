"""Token-bounded chunks, dense retrieval with a tiny encoder the test builds, hybrid RRF, a reranker, and
the Milvus Lite store — all on real files."""

from __future__ import annotations

import pytest
import torch

from zaomo.kb import KnowledgeBase, build_kb
from zaomo.kb.chunk import chunk_document
from zaomo.kb.dense import FaissStore, rrf
from zaomo.model.tokenizer import train_bpe
from zaomo.workspace import Workspace

DOCS = {
    "canteen.md": "# 食堂\n员工食堂位于总部大楼负一楼。每天中午十一点半开放。",
    "gym.md": "# Gym\nThe gym is on the fifth floor. It opens at seven in the morning.",
    "it.md": "# IT\n密码每九十天必须更换一次。忘记密码请拨打分机 8001。",
}


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    """A 2-layer BERT (hidden 32) with a BPE tokenizer, saved as a standard HF encoder folder."""
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    root = tmp_path_factory.mktemp("enc")
    bpe = train_bpe(iter(list(DOCS.values()) * 20), 300, root / "tokbpe", min_frequency=1)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe.backend_tokenizer, pad_token="<|endoftext|>")
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                 intermediate_size=64, max_position_embeddings=128,
                                 pad_token_id=tok.pad_token_id))
    model.save_pretrained(root / "encoder")
    tok.save_pretrained(root / "encoder")
    return root / "encoder"


@pytest.fixture(scope="module")
def reranker_dir(encoder_dir, tmp_path_factory):
    """A tiny random cross-encoder (one label): the test scores the pairs with it directly and checks
    that the knowledge base orders its hits by those scores."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    root = tmp_path_factory.mktemp("rerank")
    tok = AutoTokenizer.from_pretrained(encoder_dir)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128, num_labels=1, pad_token_id=tok.pad_token_id)
    torch.manual_seed(1)
    model = BertForSequenceClassification(cfg)
    model.save_pretrained(root / "reranker")
    tok.save_pretrained(root / "reranker")
    return root / "reranker"


def _kb(tmp_path, **kw) -> KnowledgeBase:
    kb = KnowledgeBase(tmp_path / "kb", 60, 0, **kw)
    for d, t in DOCS.items():
        kb.add_text(d, t)
    kb._reindex()
    kb.save()
    return kb


def test_chunks_are_bounded_by_the_model_tokenizer(tmp_path):
    text = "研发部的负责人是王建国。研发部位于总部大楼3楼！The lab opens at nine. " * 10
    train_bpe(iter([text] * 5), 400, tmp_path / "tok", min_frequency=1)
    count = KnowledgeBase._counter(str(tmp_path / "tok"))
    chunks = chunk_document("d", text, max_tokens=24, overlap=6, count=count)
    sizes = [count(c.text) for c in chunks]
    assert max(sizes) <= 24 and len(chunks) > 3
    assert all(c.text.endswith(("。", "！", ".")) for c in chunks)
    assert count("研发部位于总部大楼3楼！") < len("研发部位于总部大楼3楼！")  # tokens, not characters
    one = chunk_document("x", "无标点" * 200, max_tokens=16, overlap=0, count=count)  # one over-long sentence
    assert all(count(c.text) <= 16 for c in one) and "".join(c.text for c in one) == "无标点" * 200


def test_build_kb_counts_chunks_in_workspace_tokens(tmp_path):
    from zaomo.demo import write_demo

    ws = Workspace.open(Workspace.init(tmp_path).root, overrides=["kb.sources=[data/raw/handbook]",
                                                                   "kb.chunk_tokens=40"])
    write_demo(ws.root)
    chars = build_kb(ws)
    assert chars.tokenizer is None and max(len(c.text) for c in chars.chunks) <= 40
    train_bpe(iter([c.text for c in chars.chunks] * 3), 500, ws.tokenizer_dir, min_frequency=1)
    toks = build_kb(ws)
    assert toks.tokenizer == str(ws.tokenizer_dir)
    assert max(toks._count(c.text) for c in toks.chunks) <= 40
    assert max(len(c.text) for c in toks.chunks) > 40  # a token holds more than one character
    assert KnowledgeBase.load(toks.path).tokenizer == str(ws.tokenizer_dir)


def test_dense_retrieval_persists_reloads_and_follows_updates(tmp_path, encoder_dir):
    kb = _kb(tmp_path, retriever="dense", embedding=str(encoder_dir))
    for c in kb.chunks:  # a query equal to a chunk's indexed text is its own nearest neighbour
        assert kb.search(c.indexed, 1)[0].chunk_id == c.chunk_id
    store = FaissStore(tmp_path / "kb" / "dense")
    assert len(store.ids) == len(kb.chunks) and store.index_type() == "flat"
    again = KnowledgeBase.load(tmp_path / "kb")
    assert again.retriever == "dense"
    c = kb.chunks[0]
    assert again.search(c.indexed, 1)[0].chunk_id == c.chunk_id
    again.add_text("gym.md", "# Gym\nThe gym moved to the roof.")  # update: old vectors replaced
    again._reindex()
    ids = FaissStore(tmp_path / "kb" / "dense").ids
    assert len(ids) == len(again.chunks) and sum(i.startswith("gym.md#") for i in ids) == 1
    again.remove("it.md")
    assert not any(i.startswith("it.md#") for i in FaissStore(tmp_path / "kb" / "dense").ids)
    with pytest.raises(ValueError, match="kb.embedding"):
        KnowledgeBase(tmp_path / "x", retriever="dense")


def test_rrf_matches_hand_computed_scores():
    fused = rrf([["a", "b", "c"], ["c", "a"]], k=60)
    want = {"a": 1 / 61 + 1 / 62, "b": 1 / 62, "c": 1 / 63 + 1 / 61}
    assert [d for d, _ in fused] == ["a", "c", "b"]
    assert dict(fused) == pytest.approx(want)


def test_hybrid_fuses_bm25_and_dense_by_rank(tmp_path, encoder_dir):
    kb = _kb(tmp_path, retriever="hybrid", embedding=str(encoder_dir))
    q = "食堂几点开放"
    bm = [str(i) for i, _ in kb._bm25(q, 20) if _ > 0]
    dn = [str(i) for i, _ in kb._dense_search(q, 20)]
    want = [kb.chunks[int(i)].chunk_id for i, _ in rrf([bm, dn])][:3]
    assert [h.chunk_id for h in kb.search(q, 3)] == want
    assert kb.search(q, 1)[0].doc_id == "canteen.md"


def test_reranker_reorders_by_cross_encoder_score(tmp_path, encoder_dir, reranker_dir):
    from zaomo.kb.dense import Reranker

    kb = _kb(tmp_path, reranker=str(reranker_dir))
    q = "食堂 gym 密码"
    rer = Reranker(str(reranker_dir))
    texts = {c.chunk_id: c.indexed for c in kb.chunks}
    scores = dict(zip(texts, rer.scores(q, list(texts.values()))))
    hits = kb.search(q, 3)
    assert [h.chunk_id for h in hits] == sorted(scores, key=lambda i: -scores[i])[:3]
    assert [h.score for h in hits] == pytest.approx(sorted(scores.values(), reverse=True)[:3], abs=1e-5)


def test_milvus_lite_store_behind_the_same_interface(tmp_path, encoder_dir):
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    kb = _kb(tmp_path, retriever="dense", embedding=str(encoder_dir), store="milvus")
    assert (tmp_path / "kb" / "milvus.db").exists()
    for c in kb.chunks:
        assert kb.search(c.indexed, 1)[0].chunk_id == c.chunk_id
    faiss_kb = _kb(tmp_path / "f", retriever="dense", embedding=str(encoder_dir))
    q = "The gym opens at seven"
    assert [h.chunk_id for h in kb.search(q, 3)] == [h.chunk_id for h in faiss_kb.search(q, 3)]
    kb.remove("gym.md")
    assert all(h.doc_id != "gym.md" for h in KnowledgeBase.load(tmp_path / "kb").search(q, 3))
