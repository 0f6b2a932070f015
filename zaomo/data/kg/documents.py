"""One bilingual document per entity for the knowledge base: a heading with its names, then one sentence per
predicate in Chinese and in English (objects that are entities appear by their name in that language).
Documents are pure functions of the graph, so an update re-indexes exactly the documents whose text
changed — an entity's own facts, or the name of an entity it mentions."""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict

from .phrasing import LANGS, Phrasing
from .store import Graph

DOC_PREFIX = "kg/"


def doc_ids(graph: Graph) -> dict[str, str]:
    """Entity → document id `kg/<slug>.md`: the id's readable ASCII, else a hash; unique within the graph."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for e in graph.entities():
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", e).strip("-.").lower()[:60]
        if not slug or slug in taken:
            slug = (slug + "-" if slug else "e-") + hashlib.blake2b(e.encode(), digest_size=4).hexdigest()
        taken.add(slug)
        out[e] = f"{DOC_PREFIX}{slug}.md"
    return out


def objects(graph: Graph, entity: str, predicate: str, lang: str) -> list[str]:
    """The objects of (entity, predicate) as read in `lang`: entities by name; literals tagged with another
    language left out."""
    out = []
    for t in graph.facts(entity):
        if t.predicate != predicate or (t.lang and t.lang != lang):
            continue
        out.append(graph.name(t.object, lang) if graph.is_entity(t.object) else t.object)
    return sorted(dict.fromkeys(out))


def statements(graph: Graph, entity: str, phr: Phrasing, lang: str) -> list[tuple[str, list[str], str]]:
    """(predicate, objects, sentence) for each predicate of the entity, in `lang`."""
    preds: dict[str, None] = defaultdict(lambda: None)
    for t in graph.facts(entity):
        preds[t.predicate]
    out = []
    name = graph.name(entity, lang)
    for p in preds:
        if objs := objects(graph, entity, p, lang):
            out.append((p, objs, phr.statement(name, p, objs, lang)))
    return out


def render(graph: Graph, entity: str, phr: Phrasing) -> str:
    names = list(dict.fromkeys(graph.name(entity, lang) for lang in LANGS))
    parts = [f"# {' / '.join(names)}"]
    for lang in LANGS:
        sents = [s for _, _, s in statements(graph, entity, phr, lang)]
        if sents:
            parts.append(("" if lang == "zh" else " ").join(sents))
    return "\n\n".join(parts) + "\n"


def render_all(graph: Graph, phr: Phrasing) -> dict[str, str]:
    """Document id → text for every entity with a fact besides its names."""
    ids = doc_ids(graph)
    return {ids[e]: render(graph, e, phr) for e in graph.entities() if graph.facts(e)}
