"""The graph kept in the workspace (kg/graph.jsonl, one triple a line, written atomically) and the diff of an
import against it.

An import replaces the triples that came from the same files and keeps those of other files, so several
sources can feed one graph. Diff: a triple is *changed* when its subject and predicate (and language) had
exactly one object before and have exactly one, different, object now — a functional predicate such as a
price or a department; otherwise new objects are *added* and vanished ones *removed* (multi-valued
predicates, listed in kg.multi_valued or seen with several objects for one subject).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ...utils.io import iter_jsonl, write_jsonl
from .read import Triple


@dataclass
class Diff:
    added: list[Triple] = field(default_factory=list)
    changed: list[tuple[Triple, Triple]] = field(default_factory=list)  # (old, new)
    removed: list[Triple] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {"added": len(self.added), "changed": len(self.changed), "removed": len(self.removed)}

    def subjects(self) -> set[str]:
        return ({t.subject for t in self.added} | {t.subject for t in self.removed}
                | {n.subject for _, n in self.changed})


class Graph:
    """Triples (deduplicated by subject, predicate, object, language) with the lookups the generators need."""

    def __init__(self, triples: Iterable[Triple] = (), name_predicates: Iterable[str] = ("name",),
                 multi_valued: Iterable[str] = ()):
        self.name_predicates = set(name_predicates)
        self.multi_valued = set(multi_valued)
        seen: dict[tuple, Triple] = {}
        for t in triples:
            seen.setdefault(t.key, t)
        self.triples = list(seen.values())
        self.by_subject: dict[str, list[Triple]] = defaultdict(list)
        for t in self.triples:
            self.by_subject[t.subject].append(t)

    @classmethod
    def load(cls, path: Path, **kw) -> Graph:
        return cls((Triple(**r) for r in iter_jsonl(path)) if path.exists() else (), **kw)

    def save(self, path: Path) -> None:
        write_jsonl(path, (t.to_json() for t in sorted(self.triples, key=lambda t: (t.subject, t.predicate,
                                                                                     t.object, t.lang or ""))))

    def entities(self) -> list[str]:
        return sorted(self.by_subject)

    def is_entity(self, ref: str) -> bool:
        return ref in self.by_subject

    def name(self, entity: str, lang: str) -> str:
        """The entity's name in `lang`: a name tagged with it, else an untagged one, else any, else its id."""
        names = [t for t in self.by_subject.get(entity, ()) if t.predicate in self.name_predicates]
        for want in (lang, None):
            if got := sorted(t.object for t in names if t.lang == want):
                return got[0]
        return sorted(t.object for t in names)[0] if names else entity

    def facts(self, entity: str) -> list[Triple]:
        """The entity's triples other than its names, in a stable order."""
        return sorted((t for t in self.by_subject.get(entity, ()) if t.predicate not in self.name_predicates),
                      key=lambda t: (t.predicate, t.lang or "", t.object))

    def functional(self, subject: str, predicate: str) -> bool:
        if predicate in self.multi_valued:
            return False
        objs = {(t.object, t.lang) for t in self.by_subject.get(subject, ()) if t.predicate == predicate}
        return len({lang for _, lang in objs}) == len(objs)  # one object per language at most

    def predicates(self) -> list[str]:
        return sorted({t.predicate for t in self.triples if t.predicate not in self.name_predicates})


def merge(old: Graph, new: Iterable[Triple], sources: set[str]) -> Graph:
    """The old graph without the triples of `sources`, plus the new ones."""
    kept = [t for t in old.triples if t.source not in sources]
    return Graph([*kept, *new], old.name_predicates, old.multi_valued)


def diff_graphs(old: Graph, new: Graph) -> Diff:
    """Added, changed and removed triples (see the module docstring for what counts as changed)."""
    def groups(g: Graph) -> dict[tuple, dict[str, Triple]]:
        out: dict[tuple, dict[str, Triple]] = defaultdict(dict)
        for t in g.triples:
            out[(t.subject, t.predicate, t.lang)][t.object] = t
        return out

    a, b = groups(old), groups(new)
    d = Diff()
    for key in sorted(a.keys() | b.keys(), key=lambda k: (k[0], k[1], k[2] or "")):
        was, now = a.get(key, {}), b.get(key, {})
        if was.keys() == now.keys():
            continue
        single = len(was) == 1 and len(now) == 1 and key[1] not in new.multi_valued
        if single:
            d.changed.append((next(iter(was.values())), next(iter(now.values()))))
            continue
        d.added += [now[o] for o in sorted(now.keys() - was.keys())]
        d.removed += [was[o] for o in sorted(was.keys() - now.keys())]
    return d
