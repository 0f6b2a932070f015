"""SFT pairs and held-out QA items from the graph, in Chinese and English.

Training pairs (chat contract): several phrasings per fact; two-edge questions (the object of one fact is
the subject of the next); and questions about what the graph does not hold — a predicate its kind of
entity has but it lacks, or an entity it does not contain — answered with a refusal to guess, so the model
learns to say so instead of inventing a value. Held-out items (QA contract) use phrasings no training pair
uses, with the entity documents as doc_ids and the fact's sentence as evidence.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from ...config.kg import KGConfig
from .documents import doc_ids, objects, statements
from .phrasing import JOIN, LANGS, Phrasing
from .store import Graph

# Names the refusal questions may ask about; any that the graph holds are skipped.
UNKNOWN = [("星云实验室", "Nebula Lab"), ("北极星项目", "Project Polaris"), ("蓝鲸咨询公司", "Blue Whale Consulting"),
           ("晨曦大厦", "Dawn Tower"), ("赵一鸣", "Zhao Yiming"), ("青松分部", "Green Pine Branch")]


@dataclass
class Generated:
    sft: list[dict] = field(default_factory=list)
    heldout: list[dict] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def _id(kind: str, text: str) -> str:
    return f"kg-{kind}-{hashlib.blake2b(text.encode(), digest_size=6).hexdigest()}"


def _chat(kind: str, question: str, answer: str, lang: str) -> dict:
    return {"id": _id(kind, question + "\n" + answer), "messages": [{"role": "user", "content": question},
                                                      {"role": "assistant", "content": answer}],
            "source": "kg", "lang": lang}


def generate(graph: Graph, cfg: KGConfig) -> Generated:
    phr, rng, out = Phrasing(cfg), random.Random(cfg.seed), Generated()
    ids = doc_ids(graph)
    facts = hops = 0
    for e in graph.entities():
        for lang in LANGS:
            name = graph.name(e, lang)
            for p, objs, sent in statements(graph, e, phr, lang):
                qs = phr.questions(name, p, lang)
                start = rng.randrange(len(qs))
                for i in range(min(cfg.phrasings, len(qs))):
                    out.sft.append(_chat("fact", qs[(start + i) % len(qs)], sent, lang))
                held = phr.heldout(name, p, lang)
                q = held[rng.randrange(len(held))]
                out.heldout.append({"id": _id("qa", q), "question": q, "answers": objs, "doc_ids": [ids[e]],
                                    "evidence": sent, "lang": lang, "kind": "fact", "predicate": p})
                facts += 1
    for a, p1, b, p2 in _two_edges(graph, rng, cfg.multi_hop):
        for lang in LANGS:
            end = objects(graph, b, p2, lang)
            if not end or not objects(graph, a, p1, lang):
                continue
            sa, sb = graph.name(a, lang), graph.name(b, lang)
            train, held, answer = phr.hop(sa, p1, sb, p2, JOIN[lang].join(end), lang)
            out.sft += [_chat("hop", q, answer, lang) for q in train]
            out.heldout += [{"id": _id("qa", q), "question": q, "answers": end, "doc_ids": [ids[a], ids[b]],
                             "lang": lang, "kind": "multi-hop", "predicate": f"{p1}/{p2}"} for q in held]
            hops += 1
    refusals = _not_in_graph(graph, rng, round(cfg.not_in_graph_share * facts / len(LANGS)))
    for s_names, p in refusals:
        for lang, s in zip(LANGS, s_names):
            qs = phr.questions(s, p, lang)
            out.sft.append(_chat("none", qs[rng.randrange(len(qs))], phr.refusal(s, p, lang), lang))
    out.sft = list({r["id"]: r for r in out.sft}.values())  # one pair once (entities may share a name)
    out.heldout = list({r["id"]: r for r in out.heldout}.values())
    out.counts = {"facts": facts, "multi_hop": hops, "not_in_graph": len(refusals) * len(LANGS),
                  "sft": len(out.sft), "heldout": len(out.heldout)}
    return out


def _two_edges(graph: Graph, rng: random.Random, most: int) -> list[tuple[str, str, str, str]]:
    """(a, p1, b, p2) where a -p1-> b is b's only object for that predicate and b is an entity with p2."""
    found = []
    for a in graph.entities():
        for t in graph.facts(a):
            if not graph.is_entity(t.object) or not graph.functional(a, t.predicate) or t.object == a:
                continue
            for p2 in sorted({u.predicate for u in graph.facts(t.object)}):
                back = {u.object for u in graph.facts(t.object) if u.predicate == p2} == {a}
                if graph.functional(t.object, p2) and not back:  # not back where it started
                    found.append((a, t.predicate, t.object, p2))
    found = sorted(set(found))
    rng.shuffle(found)
    return found[:most]


def _not_in_graph(graph: Graph, rng: random.Random, n: int) -> list[tuple[tuple[str, str], str]]:
    """n questions ((zh name, en name), predicate) the graph cannot answer: half about a predicate that
    entities sharing a predicate with this one have but it lacks, half about an entity it does not hold."""
    if n <= 0:
        return []
    preds = {e: {t.predicate for t in graph.facts(e)} for e in graph.entities()}
    together: dict[str, set[str]] = {}  # predicate → the predicates of entities that have it
    for ps in preds.values():
        for p in ps:
            together.setdefault(p, set()).update(ps)
    missing = sorted({(e, p) for e, ps in preds.items() for q in ps for p in together[q] - ps})
    rng.shuffle(missing)
    names = {n for e in graph.entities() for n in (graph.name(e, "zh"), graph.name(e, "en"))}
    unknown = [u for u in UNKNOWN if not set(u) & names]
    strangers = [(u, p) for u in unknown for p in graph.predicates()]
    rng.shuffle(strangers)
    picks = [((graph.name(e, "zh"), graph.name(e, "en")), p) for e, p in missing[: n - n // 2 if strangers else n]]
    return picks + strangers[: n - len(picks)]
