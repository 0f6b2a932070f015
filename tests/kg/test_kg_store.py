"""The diff's rules: one object → another is a change; several objects per subject add and remove; a
predicate in kg.multi_valued never changes; names and tagged literals are per language."""

from __future__ import annotations

from zaomo.config import load_config
from zaomo.data.kg import Graph, Triple, diff_graphs
from zaomo.data.kg.documents import render
from zaomo.data.kg.phrasing import Phrasing
from zaomo.data.kg.store import merge


def _g(*triples, multi=()):
    return Graph([Triple(*t) for t in triples], name_predicates=("name",), multi_valued=multi)


def test_functional_change_versus_multi_valued_add_remove():
    old = _g(("x", "price", "1"), ("x", "tag", "a"), ("x", "tag", "b"), ("x", "name", "X", "en"))
    new = _g(("x", "price", "2"), ("x", "tag", "a"), ("x", "tag", "c"), ("x", "name", "Ex", "en"))
    d = diff_graphs(old, new)
    assert [(o.object, n.object) for o, n in d.changed] == [("X", "Ex"), ("1", "2")]
    assert [t.object for t in d.added] == ["c"] and [t.object for t in d.removed] == ["b"]
    assert new.functional("x", "price") and not new.functional("x", "tag")
    listed = diff_graphs(_g(("x", "owner", "a"), multi=("owner",)), _g(("x", "owner", "b"), multi=("owner",)))
    assert not listed.changed and len(listed.added) == len(listed.removed) == 1


def test_merge_replaces_only_the_imported_files_triples():
    old = Graph([Triple("x", "price", "1", source="a.csv"), Triple("y", "price", "5", source="b.csv")])
    new = merge(old, [Triple("x", "price", "2", source="a.csv")], {"a.csv"})
    assert sorted((t.subject, t.object) for t in new.triples) == [("x", "2"), ("y", "5")]


def test_names_and_tagged_literals_per_language():
    g = _g(("d", "name", "研发部", "zh"), ("d", "name", "R&D", "en"), ("p", "name", "Ann"), ("p", "works_in", "d"),
           ("p", "title", "工程师", "zh"), ("p", "title", "engineer", "en"), ("p", "launch_year", "2020"))
    text = render(g, "p", Phrasing(load_config(None).kg))
    zh, en = text.split("\n\n")[1:]
    assert "Ann的所在部门是研发部。" in zh and "engineer" not in zh and "2020" in zh  # common predicates' labels
    assert "The department of Ann is R&D." in en and "工程师" not in en and "The launch year of Ann is 2020." in en
