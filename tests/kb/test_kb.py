"""Knowledge base: chunking, retrieval on the demo handbook, add/remove/reload, citations."""

from __future__ import annotations

import threading

from typer.testing import CliRunner

from zaomo.cli.main import app
from zaomo.demo import write_demo
from zaomo.kb import KnowledgeBase, build_kb
from zaomo.kb.answer import answer, support
from zaomo.kb.chunk import chunk_document
from zaomo.kb.evaluate import retrieval_metrics
from zaomo.kb.prompt import build_rag_messages
from zaomo.utils.io import read_jsonl
from zaomo.workspace import Workspace


def _ws(tmp_path):
    ws = Workspace.open(Workspace.init(tmp_path).root, overrides=["kb.sources=[data/raw/handbook]"])
    write_demo(ws.root)
    return ws


def test_chunks_respect_sentences_headings_and_budget():
    text = "# 部门\n" + "研发部的负责人是王建国。研发部位于总部大楼3楼！研发部有45名员工？" * 5 + "\n# Other\nOne. Two! Three?"
    chunks = chunk_document("d.md", text, max_tokens=40, overlap=10)
    assert all(len(c.text) <= 40 for c in chunks)
    assert all(c.text.endswith(("。", "！", "？", "!", "?", ".")) for c in chunks)
    assert chunks[0].title == "部门" and chunks[-1].title == "Other"
    long = chunk_document("x", "无标点的超长句子" * 50, max_tokens=30, overlap=0)
    assert all(len(c.text) <= 30 for c in long) and "".join(c.text for c in long) == "无标点的超长句子" * 50


def test_recall_at_5_on_the_demo_handbook(tmp_path):
    ws = _ws(tmp_path)
    kb = build_kb(ws)
    m = retrieval_metrics(kb, read_jsonl(ws.root / "data/eval/qa_heldout.jsonl"), k=5)
    assert m["recall@5"] >= 0.9 and m["mrr"] > 0.8


def test_add_remove_reload_and_concurrent_readers(tmp_path):
    ws = _ws(tmp_path)
    kb = build_kb(ws)
    n_docs = len(kb.documents())
    extra = tmp_path / "new"
    extra.mkdir()
    (extra / "canteen.md").write_text("# 食堂\n员工食堂位于总部大楼负一楼，每天中午十一点半开放。", encoding="utf-8")
    errors: list[Exception] = []

    def reader():
        try:
            for _ in range(50):
                kb.search("研发部的负责人是谁", 2)
        except Exception as e:  # noqa: BLE001 — collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    kb.add([extra])
    for t in threads:
        t.join()
    assert not errors
    again = KnowledgeBase.load(kb.path)
    assert len(again.documents()) == n_docs + 1
    assert again.search("食堂几点开放", 1)[0].doc_id == "canteen.md"
    again.add([extra])  # the same document twice: replaced, not duplicated
    assert sum(c.doc_id == "canteen.md" for c in again.chunks) == 1
    again.remove("canteen.md")
    assert "canteen.md" not in KnowledgeBase.load(kb.path).documents()


def test_prompt_respects_budget_and_citations_are_checked(tmp_path):
    ws = _ws(tmp_path)
    kb = build_kb(ws)
    hits = kb.search("研发部的分机号是多少？", 3)
    msgs = build_rag_messages("研发部的分机号是多少？", hits, budget_tokens=120)
    assert len(msgs[0]["content"]) <= 120 and msgs[0]["content"].count("[") >= 1
    fact = hits[0].text.split("。")[2] + "。"  # the extension sentence of the best passage
    good = answer(kb, lambda m: fact + "[1]", "研发部的分机号是多少？", k=3)
    assert good.citations[0]["n"] == 1 and good.supported == [True]
    bad = answer(kb, lambda m: "天气很好，适合出去玩。[2]", "研发部的分机号是多少？", k=3, quote_unsupported=False)
    assert bad.supported == [False]
    assert not support("完全无关的句子", hits[0].text)
    # a changed number is not supported; with grounding the passage sentence is quoted instead
    wrong = fact.replace(fact.rstrip("。")[-4:], "0000")
    assert not support(wrong, hits[0].text)
    grounded = answer(kb, lambda m: wrong, "研发部的分机号是多少？", k=3)
    assert grounded.text == fact + "[1]" and grounded.supported == [True]


def test_relevance_floor_says_nothing_found(tmp_path):
    ws = Workspace.open(Workspace.init(tmp_path).root, overrides=["kb.sources=[data/raw/handbook]", "kb.min_score=5"])
    write_demo(ws.root)
    kb = build_kb(ws)
    a = answer(kb, lambda m: "x", "量子色动力学的渐近自由", k=3)
    assert not a.found and "没有" in a.text


def test_cli_build_query_and_bad_input(tmp_path):
    _ws(tmp_path)
    r = CliRunner().invoke(app, ["kb", "build", "-w", str(tmp_path), "--set", "kb.sources=[data/raw/handbook]"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["kb", "query", "研发部在几楼", "-w", str(tmp_path)])
    assert "departments.md" in r.output
    r = CliRunner().invoke(app, ["kb", "remove", "nope.md", "-w", str(tmp_path)])
    assert r.exit_code == 2 and "not in the knowledge base" in r.output
    r = CliRunner().invoke(app, ["kb", "query", "x", "-w", str(tmp_path), "--name", "missing"])
    assert r.exit_code == 2 and "zaomo kb build" in r.output
