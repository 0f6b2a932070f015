"""`import_graph`: files → triples (bad rows quarantined) → the workspace graph and its diff → entity documents
(only changed ones rewritten) → SFT pairs and held-out QA. The knowledge base is a separate stage: the
caller passes `ImportResult.upsert` / `.removed_docs` to `zaomo.kb.update_kb` (the CLI does)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ...utils.hashing import file_hash
from ...utils.io import append_jsonl, atomic_write_text, write_jsonl
from ...workspace import Workspace
from .documents import DOC_PREFIX, render_all
from .phrasing import Phrasing
from .questions import generate
from .read import BadRow, Triple, read_triples
from .store import Diff, Graph, diff_graphs, merge


@dataclass
class ImportResult:
    diff: Diff
    triples: int  # in the graph after the import
    entities: int
    upsert: dict[str, str] = field(default_factory=dict)  # document id → text, new or changed
    removed_docs: list[str] = field(default_factory=list)
    quarantined: list[BadRow] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # sft, heldout, facts, multi_hop, not_in_graph
    paths: dict[str, str] = field(default_factory=dict)


def kg_dir(ws: Workspace) -> Path:
    return ws.path(ws.cfg.kg.dir)


def load_graph(ws: Workspace) -> Graph:
    cfg = ws.cfg.kg
    return Graph.load(kg_dir(ws) / "graph.jsonl", name_predicates=cfg.name_predicates, multi_valued=cfg.multi_valued)


def _stored_docs(docs_dir: Path) -> dict[str, str]:
    if not docs_dir.is_dir():
        return {}
    return {DOC_PREFIX + f.name: f.read_text(encoding="utf-8") for f in docs_dir.glob("*.md")}


def import_graph(ws: Workspace, files: list[str | Path], on_file: Callable[[Path, int], None] | None = None,
                 ) -> ImportResult:
    """Import `files` (each replaces the triples an earlier import took from the same file). `on_file(path,
    n_triples)` reports progress."""
    cfg, root = ws.cfg.kg, kg_dir(ws)
    triples: list[Triple] = []
    bad: list[BadRow] = []
    sources: set[str] = set()
    for f in files:
        path = Path(f).resolve()
        n = 0
        for item in read_triples(path):
            if isinstance(item, BadRow):
                bad.append(item)
            else:
                triples.append(item)
                n += 1
        sources.add(str(path))
        if on_file:
            on_file(path, n)
    root.mkdir(parents=True, exist_ok=True)
    for b in bad:
        append_jsonl(root / "quarantine.jsonl", b.quarantine())

    old = load_graph(ws)
    new = merge(old, triples, sources)
    diff = diff_graphs(old, new)

    docs_dir = root / "docs"
    before, after = _stored_docs(docs_dir), render_all(new, Phrasing(cfg))
    upsert = {d: t for d, t in after.items() if before.get(d) != t}
    removed = sorted(before.keys() - after.keys())
    docs_dir.mkdir(parents=True, exist_ok=True)
    for d, text in upsert.items():
        atomic_write_text(docs_dir / d.removeprefix(DOC_PREFIX), text)
    for d in removed:
        (docs_dir / d.removeprefix(DOC_PREFIX)).unlink(missing_ok=True)
    new.save(root / "graph.jsonl")

    gen = generate(new, cfg)
    sft, qa = ws.path(cfg.sft_file), ws.path(cfg.qa_file)
    write_jsonl(sft, gen.sft)
    write_jsonl(qa, gen.heldout)
    append_jsonl(root / "imports.jsonl", {
        "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "files": {str(Path(f).resolve()): file_hash(f) for f in files}, **diff.counts,
        "documents_written": len(upsert), "documents_removed": len(removed), "quarantined": len(bad), **gen.counts})
    return ImportResult(diff, len(new.triples), len(new.entities()), upsert, removed, bad, gen.counts,
                        {"graph": str(root / "graph.jsonl"), "docs": str(docs_dir), "sft": str(sft), "qa": str(qa),
                         "quarantine": str(root / "quarantine.jsonl")})
