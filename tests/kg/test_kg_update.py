"""Updates flow: a changed graph re-indexes only the documents of entities whose triples changed (BM25 terms
and FAISS vectors of untouched chunks are kept, not recomputed), and retrieval then returns the new value."""

from __future__ import annotations

import pytest
import torch
from org_graph import LABELS, kg_ws_fixture, rows, write_csv  # noqa: F401 (kg_ws_fixture: the kg_ws fixture)
from typer.testing import CliRunner

from zaomo.cli.main import app
from zaomo.data.kg.importer import import_graph
from zaomo.kb import KnowledgeBase, build_kb, update_kb
from zaomo.kb.dense import FaissStore
from zaomo.model.tokenizer import train_bpe
from zaomo.workspace import Workspace


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    """A 2-layer BERT (hidden 32) made in the test, saved as a standard HF encoder folder."""
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    root = tmp_path_factory.mktemp("enc")
    bpe = train_bpe(iter([o for _, _, o, _ in rows()] * 10), 400, root / "tokbpe", min_frequency=1)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe.backend_tokenizer, pad_token="<|endoftext|>")
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                 intermediate_size=64, max_position_embeddings=512, pad_token_id=tok.pad_token_id))
    model.save_pretrained(root / "encoder")
    tok.save_pretrained(root / "encoder")
    return root / "encoder"


def _changed_rows():
    out = []
    for s, p, o, lang in rows():
        if s == "zenith":
            continue  # a product leaves the graph
        if (s, p) == ("galaxy", "price"):
            o = "¥1399"  # a new price
        if (s, p) == ("p03", "works_in"):
            o = "sales"  # Zhang Wei moves to Sales
        out.append((s, p, o, lang))
    return out + [("p13", "name", "钱多多", "zh"), ("p13", "name", "Qian Duoduo", "en"), ("p13", "works_in", "ops", "")]


def _top_doc(kb: KnowledgeBase, question: str, doc_id: str):
    return next((h for h in kb.search(question, 5) if h.doc_id == doc_id), None)


def test_changed_triples_update_the_kb_without_a_rebuild(tmp_path, encoder_dir):
    ws = Workspace.open(Workspace.init(tmp_path / "ws").root, overrides=[
        LABELS, "kb.sources=[]", "kb.retriever=hybrid", f"kb.embedding={encoder_dir}"])
    f = write_csv(tmp_path / "org.csv")
    first = import_graph(ws, [f])
    done = update_kb(ws, first.upsert, first.removed_docs)
    assert done["chunks"] == done["tokenized"] == done["embedded"] == done["chunks_added"] >= 28
    kb = KnowledgeBase.load(ws.kb_dir())
    hit = _top_doc(kb, "星河路由器的价格是多少？", "kg/galaxy.md")
    assert hit and "¥1299" in hit.text
    touched = {"kg/galaxy.md", "kg/p03.md", "kg/zenith.md"}
    kept_before = {c.chunk_id: c.text for c in kb.chunks if c.doc_id not in touched}
    vec_before = set(FaissStore(ws.kb_dir() / "dense").ids)

    write_csv(f, _changed_rows())
    res = import_graph(ws, [f])
    assert res.diff.counts == {"added": 3, "changed": 2, "removed": 4}
    assert {(o.object, n.object) for o, n in res.diff.changed} == {("¥1299", "¥1399"), ("rd", "sales")}
    assert set(res.upsert) == {"kg/galaxy.md", "kg/p03.md", "kg/p13.md"} and res.removed_docs == ["kg/zenith.md"]
    assert not (ws.root / "kg" / "docs" / "zenith.md").exists()

    done = update_kb(ws, res.upsert, res.removed_docs)
    n_new = sum(c.doc_id in res.upsert for c in KnowledgeBase.load(ws.kb_dir()).chunks)
    # only the changed documents' chunks were segmented and embedded; the other entities' were kept
    assert done["tokenized"] == done["embedded"] == done["chunks_added"] == n_new < done["chunks"] / 5
    kb = KnowledgeBase.load(ws.kb_dir())
    assert {c.chunk_id: c.text for c in kb.chunks if c.doc_id not in touched | {"kg/p13.md"}} == kept_before
    vec_after = set(FaissStore(ws.kb_dir() / "dense").ids)
    assert len(vec_before - vec_after) == sum(1 for c in vec_before if c.split("#")[0] in touched)
    assert len(vec_after - vec_before) == n_new
    # retrieval now answers with the new values; the old ones are gone
    hit = _top_doc(kb, "星河路由器的价格是多少？", "kg/galaxy.md")
    assert hit and "¥1399" in hit.text and not any("¥1299" in c.text for c in kb.chunks)
    hit = _top_doc(kb, "What is the department of Zhang Wei?", "kg/p03.md")
    assert hit and "Sales Department" in hit.text and "张伟的所在部门是销售部。" in hit.text
    assert "kg/zenith.md" not in kb.documents() and "kg/p13.md" in kb.documents()
    # a full `kb build` keeps the graph's documents
    assert {"kg/galaxy.md", "kg/p13.md"} <= set(build_kb(ws).documents())


def test_cli_import_show_and_stats(kg_ws, tmp_path):
    f = write_csv(tmp_path / "org.csv")
    runner, w = CliRunner(), ["-w", str(kg_ws.root), "--set", LABELS, "--set", "kb.sources=[]"]
    r = runner.invoke(app, ["kg", "import", str(f), *w], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "added 129, changed 0, removed 0" in r.output and "28 written" in r.output
    assert "held-out QA:" in r.output and "SFT pairs:" in r.output
    write_csv(f, [(s, p, "¥1399" if (s, p) == ("galaxy", "price") else o, lang) for s, p, o, lang in rows()])
    r = runner.invoke(app, ["kg", "import", str(f), *w], env={"COLUMNS": "200"})
    assert r.exit_code == 0 and "added 0, changed 1, removed 0" in r.output and "1 written" in r.output
    assert KnowledgeBase.load(kg_ws.kb_dir()).search("星河路由器的价格", 1)[0].doc_id == "kg/galaxy.md"
    r = runner.invoke(app, ["kg", "show", "Galaxy Router", *w])
    assert r.exit_code == 0 and "The price of Galaxy Router is ¥1399." in r.output
    r = runner.invoke(app, ["kg", "stats", *w], env={"COLUMNS": "200"})
    assert r.exit_code == 0 and "28 entities, 129 triples" in r.output
    r = runner.invoke(app, ["kg", "show", "nobody", *w])
    assert r.exit_code == 2 and "no entity" in r.output
