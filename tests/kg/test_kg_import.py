"""KG import: the same small graph from CSV and from Turtle gives the same entity documents; SFT pairs (several
phrasings, two-edge and not-in-graph questions in zh and en) and held-out QA phrased unlike them; bad rows
reach the quarantine with file and line; the missing optional dependency names its install command."""

from __future__ import annotations

import json
import sys

import pytest
from org_graph import LABELS, kg_ws_fixture, write_csv, write_ttl  # noqa: F401 (kg_ws_fixture: the kg_ws fixture)

from zaomo.data.kg.importer import import_graph
from zaomo.data.kg.questions import UNKNOWN
from zaomo.data.kg.read import read_triples
from zaomo.utils.io import read_jsonl
from zaomo.workspace import Workspace


def _docs(ws: Workspace) -> dict[str, str]:
    return {f.name: f.read_text(encoding="utf-8") for f in (ws.root / "kg" / "docs").glob("*.md")}


def test_csv_and_turtle_give_documents_pairs_and_heldout_qa(kg_ws, tmp_path):
    res = import_graph(kg_ws, [write_csv(tmp_path / "org.csv")])
    assert res.entities == 28 and res.diff.counts == {"added": 129, "changed": 0, "removed": 0}
    docs = _docs(kg_ws)
    assert len(docs) == 28 and res.upsert.keys() == {f"kg/{n}" for n in docs}
    # a fact appears, in both languages, in its entity's document; entity objects by their name
    assert "星河路由器的价格是¥1299。" in docs["galaxy.md"] and "The price of Galaxy Router is ¥1299." in docs["galaxy.md"]
    assert "李强的所在部门是研发部。" in docs["p02.md"] and "The department of Li Qiang is R&D Department." in docs["p02.md"]
    assert "北京总部的城市是北京。" in docs["bj.md"] and "Beijing" in docs["bj.md"] and "Beijing" not in docs["bj.md"].split("\n\n")[1]

    # the same graph in Turtle (rdfs:label@zh/@en, IRIs) renders the same documents
    other = Workspace.open(Workspace.init(tmp_path / "ws2").root, overrides=[LABELS])
    import_graph(other, [write_ttl(tmp_path / "org.ttl")])
    assert _docs(other) == docs

    sft = read_jsonl(res.paths["sft"])
    assert all([m["role"] for m in r["messages"]] == ["user", "assistant"] for r in sft)
    assert len({r["id"] for r in sft}) == len(sft)
    asked = {r["messages"][0]["content"] for r in sft}
    # several phrasings per fact and language
    for answer in ("星河路由器的价格是¥1299。", "The price of Galaxy Router is ¥1299."):
        assert len({r["messages"][0]["content"] for r in sft if r["messages"][1]["content"] == answer}) >= 3
    hops = [r for r in sft if r["id"].startswith("kg-hop")]
    assert {r["lang"] for r in hops} == {"zh", "en"}
    assert any(r["messages"][1]["content"] == "The department of Li Qiang is R&D Department, and the manager of "
               "R&D Department is Wang Fang." for r in hops)
    assert any(r["messages"][1]["content"] == "李强的所在部门是研发部，研发部的负责人是王芳。" for r in hops)
    refusals = [r for r in sft if r["id"].startswith("kg-none")]
    zh_ref = [r for r in refusals if r["messages"][1]["content"].startswith("知识图谱中没有")]
    en_ref = [r for r in refusals if r["messages"][1]["content"].startswith("The knowledge graph has no record of")]
    assert zh_ref and en_ref and len(zh_ref) + len(en_ref) == len(refusals)
    facts = {r["messages"][0]["content"] for r in sft if r["id"].startswith("kg-fact")}
    assert not {r["messages"][0]["content"] for r in refusals} & facts  # never a question the graph answers
    assert any(en in r["messages"][0]["content"] for r in en_ref for _, en in UNKNOWN)
    # and a predicate its kind of entity has but it lacks (the test graph has no launch year for Zenith Lamp)
    gaps = {"天顶台灯的发布年份", "launch year of Zenith Lamp", "孙浩的职位", "job title of Sun Hao"}
    assert any(g in r["messages"][0]["content"] for r in refusals for g in gaps)

    qa = read_jsonl(res.paths["qa"])
    assert {q["kind"] for q in qa} == {"fact", "multi-hop"} and {q["lang"] for q in qa} == {"zh", "en"}
    assert not {q["question"] for q in qa} & asked  # held-out phrasings are never trained on
    for q in qa:
        assert all(d.removeprefix("kg/") in docs for d in q["doc_ids"])
        if q["kind"] == "fact":
            assert q["evidence"] in docs[q["doc_ids"][0].removeprefix("kg/")]
            assert all(a in q["evidence"] for a in q["answers"])
    price = next(q for q in qa if q["doc_ids"] == ["kg/galaxy.md"] and "¥1299" in q["answers"] and q["lang"] == "en")
    assert "Galaxy Router" in price["question"]


def test_bad_rows_are_quarantined_with_file_and_line(kg_ws, tmp_path):
    csv_f = tmp_path / "bad.csv"
    csv_f.write_text("主体,关系,客体,语言\nrd,name,研发部,zh\nrd,manager\nrd,located_in,,\nrd,name,R&D,en\n",
                     encoding="utf-8")
    jl = tmp_path / "more.jsonl"
    jl.write_text('{"subject": "p1", "predicate": "name", "object": "Ann"}\n{oops\n'
                  '{"s": "p1", "p": "works_in", "o": "rd"}\n["a", "b", "c"]\n', encoding="utf-8")
    nt = tmp_path / "x.nt"
    nt.write_text('<http://e.org/a> <http://e.org/price> "5" .\nthis is not a triple\n'
                  '<http://e.org/a> <http://www.w3.org/2000/01/rdf-schema#label> "Apple"@en-GB .\n', encoding="utf-8")
    res = import_graph(kg_ws, [csv_f, jl, nt])
    assert res.triples == 6 and res.diff.counts["added"] == 6
    q = read_jsonl(kg_ws.root / "kg" / "quarantine.jsonl")
    where = {(r["source"].rsplit("/", 1)[-1], r["line"]) for r in q}
    assert where == {("bad.csv", 3), ("bad.csv", 4), ("more.jsonl", 2), ("more.jsonl", 4), ("x.nt", 2)}
    assert all(r["step"] == "kg.read" and r["reason"] and r["raw"] for r in q)
    assert next(r for r in q if r["line"] == 4 and r["source"].endswith(".csv"))["reason"] == "empty object"
    label = [t for t in read_triples(nt) if getattr(t, "predicate", "") == "label"]
    assert label[0].lang == "en" and label[0].subject == "a" and label[0].object == "Apple"
    assert "p1" in {t.subject for t in read_triples(jl) if hasattr(t, "subject")}
    with pytest.raises(ValueError, match="unknown triple format"):
        import_graph(kg_ws, [tmp_path / "bad.csv", _touch(tmp_path / "g.xlsx")])


def _touch(p):
    p.write_text("x")
    return p


def test_missing_rdflib_names_the_extra(kg_ws, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "rdflib", None)
    with pytest.raises(ImportError, match=r"pip install 'zaomo\[kg\]'"):
        import_graph(kg_ws, [write_ttl(tmp_path / "org.ttl")])


def test_history_records_each_import(kg_ws, tmp_path):
    f = write_csv(tmp_path / "org.csv")
    import_graph(kg_ws, [f])
    again = import_graph(kg_ws, [f])  # unchanged: nothing to re-render
    assert again.diff.counts == {"added": 0, "changed": 0, "removed": 0} and not again.upsert
    hist = [json.loads(x) for x in (kg_ws.root / "kg" / "imports.jsonl").read_text().splitlines()]
    assert [h["added"] for h in hist] == [129, 0] and all(str(f.resolve()) in h["files"] for h in hist)


def test_rdf_terms_read_as_readable_stable_names(tmp_path):
    ttl = tmp_path / "b.ttl"
    ttl.write_text('@prefix ex: <http://e.org/> .\n@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n'
                   '_:x ex:price "5"^^<http://www.w3.org/2001/XMLSchema#decimal> .\nex:a ex:knows _:x .\n'
                   'ex:a skos:prefLabel "甲"@zh-CN .\n<http://other.org/a> ex:age 3 .\n', encoding="utf-8")
    first, second = list(read_triples(ttl)), list(read_triples(ttl))
    assert first == second  # a blank node's id does not change between parses
    by = {(t.predicate, t.object): t for t in first}
    assert by[("prefLabel", "甲")].lang == "zh" and by[("prefLabel", "甲")].subject == "http://e.org/a"
    assert by[("price", "5")].subject == by[("knows", by[("price", "5")].subject)].object
    assert by[("age", "3")].subject == "http://other.org/a"  # two IRIs named "a": both keep their full IRI
