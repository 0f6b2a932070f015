"""`run_pipeline`: read → normalise → safety (PII, sensitive words) → filters → dedup → decontaminate →
split, with every rejected record in quarantine.jsonl and the counts in report.json/html.

Accounting is exact: read = kept + quarantined + deduplicated. Dedup runs in input order, so the kept
member of each cluster does not depend on timing. Records stream through; only hashes, MinHash
signatures and the eval n-gram index stay in memory.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..safety import Guard
from ..utils.env import package_versions
from ..utils.hashing import bucket
from ..utils.io import atomic_open
from ..workspace import Workspace
from .decontam import NgramIndex
from .dedup import Deduplicator
from .filters import make_filters
from .formats import chat_text, to_messages
from .normalize import normalize_text
from .readers import Document, ReadProblem, iter_documents
from .text import han_ratio


@dataclass
class DataReport:
    read: int = 0
    kept: int = 0
    quarantined: int = 0
    deduplicated: int = 0
    train: int = 0
    val: int = 0
    test: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    masked: dict[str, int] = field(default_factory=dict)
    encodings: dict[str, int] = field(default_factory=dict)
    clusters: dict[str, list[str]] = field(default_factory=dict)
    contaminated: list[dict[str, Any]] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    run_id: str = ""


def _split(rid: str, val: float, test: float) -> str:
    b = bucket(rid) / 10_000
    return "test" if b < test else "val" if b < test + val else "train"


def run_pipeline(ws: Workspace, progress: bool = True) -> DataReport:
    cfg = ws.cfg.data
    t0 = time.perf_counter()
    out = ws.clean_dir
    out.mkdir(parents=True, exist_ok=True)
    run_id = ws.new_run_id("data")
    ws.registry.start_run(run_id, "data", stage=cfg.kind, seed=ws.cfg.project.seed,
                          config=ws.cfg.model_dump(mode="json"), versions=package_versions())
    rep = DataReport(run_id=run_id)
    guard = Guard(ws.cfg.safety, ws.root)
    filters = make_filters(cfg.filters)
    dedup = Deduplicator(cfg.dedup)
    decon = NgramIndex.from_eval_dir(ws.eval_data_dir) if cfg.decontaminate else NgramIndex()
    samples: dict[str, list[dict]] = {}
    lengths_kept: list[int] = []
    lengths_dropped: list[int] = []
    langs: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    seen_ids: Counter[str] = Counter()

    stack = contextlib.ExitStack()  # every output is written atomically and closed however the run ends
    handles = {s: stack.enter_context(atomic_open(out / f"{s}.jsonl", "w")) for s in ("train", "val", "test")}
    quarantine = stack.enter_context(atomic_open(out / "quarantine.jsonl", "w"))

    def reject(step: str, reason: str, record: dict, source: str, text: str = "") -> None:
        rep.quarantined += 1
        dropped[step] += 1
        quarantine.write(json.dumps({**record, "step": step, "reason": reason}, ensure_ascii=False) + "\n")
        lst = samples.setdefault(step, [])
        if len(lst) < 5:
            lst.append({"source": source, "reason": reason, "text": text or json.dumps(record, ensure_ascii=False)})
        if text:
            lengths_dropped.append(len(text))

    inputs = [ws.path(p) for p in cfg.inputs]
    with stack:
        from rich.progress import Progress

        with Progress(disable=not progress, transient=True) as bar:
            task = bar.add_task("cleaning", total=None)
            for inp in inputs:
                for doc in iter_documents(inp, inp if inp.is_dir() else inp.parent):
                    bar.advance(task)
                    rep.read += 1
                    if isinstance(doc, ReadProblem):
                        reject("read", doc.reason, {"source": doc.source, "line": doc.line, "raw": doc.raw},
                               doc.source)
                        continue
                    _process(doc, ws, rep, guard, filters, dedup, decon, reject, handles, lengths_kept, langs,
                             seen_ids)

    rep.dropped = dict(dropped)
    rep.clusters = {k: v for k, v in dedup.clusters.items()}
    rep.seconds = round(time.perf_counter() - t0, 2)
    rep.paths = {s: str(out / f"{s}.jsonl") for s in ("train", "val", "test")}
    rep.paths["quarantine"] = str(out / "quarantine.jsonl")
    from .report import write_report

    summary = {k: v for k, v in rep.__dict__.items() if k not in ("paths",)}
    j, h = write_report(out, summary, samples, lengths_kept, lengths_dropped, dict(langs))
    rep.paths.update({"report_json": str(j), "report_html": str(h)})
    ws.registry.finish_run(run_id, summary={"read": rep.read, "kept": rep.kept, "quarantined": rep.quarantined,
                                            "deduplicated": rep.deduplicated}, path=str(out))
    return rep


def _process(doc: Document, ws: Workspace, rep: DataReport, guard: Guard, filters, dedup: Deduplicator,
             decon: NgramIndex, reject, handles, lengths_kept: list[int], langs: Counter, seen_ids: Counter) -> None:
    cfg = ws.cfg.data
    enc = doc.meta.get("encoding")
    if enc:
        rep.encodings[enc] = rep.encodings.get(enc, 0) + 1
    rid = doc.id
    seen_ids[rid] += 1
    if seen_ids[rid] > 1:  # ids must be unique for splits and clusters; keep the record, suffix the id
        rid = f"{rid}~{seen_ids[rid]}"
    base = {"id": rid, "source": doc.source, "meta": doc.meta}

    if cfg.kind == "sft":
        try:
            rec = to_messages(doc.record or {"messages": [{"role": "user", "content": doc.text}]})
        except ValueError as e:
            reject("format", str(e), {**base, "record": doc.record}, doc.source)
            return
        for m in rec["messages"]:
            m["content"] = normalize_text(m["content"], cfg.normalize)
            g = guard.check(m["content"], where="data")
            if not g.allowed and cfg.sensitive:
                reject("safety", g.reason, {**base, "messages": rec["messages"]}, doc.source, m["content"])
                return
            if g.action == "mask" and cfg.pii == "mask":
                m["content"] = g.text
        record: dict[str, Any] = {"id": rid, "messages": rec["messages"], "source": doc.source}
        text = chat_text(record)
    else:
        text = normalize_text(doc.text, cfg.normalize)
        record = {**base, "text": text}
        g = guard.check(text, where="data")
        pii = [f for f in g.findings if f.kind == "pii"]
        if cfg.sensitive and not g.allowed:
            reject("safety", g.reason, record, doc.source, text)
            return
        if pii and cfg.pii == "drop":
            reject("pii", ", ".join(f.category for f in pii), record, doc.source, text)
            return
        if g.action == "mask" and cfg.pii == "mask":
            for f in pii:
                rep.masked[f.category] = rep.masked.get(f.category, 0) + 1
            text = g.text
            record["text"] = text

    if cfg.kind != "sft":
        for name, fn in filters:
            reason = fn(text)
            if reason:
                reject(name, reason, record, doc.source, text)
                return
    dup = dedup.check(rid, text)
    if dup:
        rep.deduplicated += 1
        return
    hits = decon.overlaps(text)
    if hits:
        rep.contaminated.append({"id": rid, "items": hits[:10]})
        if cfg.decontaminate:
            reject("decontaminate", f"overlaps eval items {', '.join(hits[:5])}", record, doc.source, text)
            return
    split = _split(rid, cfg.split.val_ratio, cfg.split.test_ratio)
    handles[split].write(json.dumps(record, ensure_ascii=False) + "\n")
    setattr(rep, split, getattr(rep, split) + 1)
    rep.kept += 1
    lengths_kept.append(len(text))
    langs["zh" if han_ratio(text) > 0.3 else "other"] += 1

