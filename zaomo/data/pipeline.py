"""`run_pipeline`: read → normalise → safety (PII, sensitive words) → filters → dedup → decontaminate →
split, with every rejected record in quarantine.jsonl and the counts in report.json/html.

Accounting is exact: read = kept + quarantined + deduplicated. The per-document steps run per shard in
worker processes and resume per shard (`shards.py`); dedup runs afterwards in input order, so the kept
member of each cluster does not depend on timing or the number of workers. Records stream through; only
hashes, MinHash signatures and the eval n-gram index stay in memory.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..utils.env import package_versions
from ..utils.hashing import bucket
from ..utils.io import atomic_open
from ..workspace import Workspace
from .decontam import NgramIndex
from .dedup import Deduplicator
from .shards import default_workers, iter_outcomes, plan_shards, run_shards
from .text import han_ratio


@dataclass
class DataReport:
    read: int = 0  # records entering the pipeline: kept + quarantined + deduplicated
    documents: int = 0  # as the sources hold them: read − split_parts + split_documents
    split_documents: int = 0  # documents longer than filters.max_chars, split into parts …
    split_parts: int = 0  # … this many records in all
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
    shards: int = 0
    shards_cleaned: int = 0
    shards_reused: int = 0
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

    # 1. per document, per shard, in parallel and resumable
    shards = plan_shards([Path(p) if p.startswith("hf:") else ws.path(p) for p in cfg.inputs], cfg, ws.cfg.safety)
    work = out / ".shards"
    rep.shards = len(shards)
    rep.shards_cleaned, rep.shards_reused = run_shards(shards, cfg, ws.cfg.safety, ws.root, work,
                                                       cfg.workers or default_workers(), progress)

    # 2. in order, in one place: ids, dedup, decontamination, split
    dedup = Deduplicator(cfg.dedup, work)
    decon = NgramIndex.from_eval_dir(ws.eval_data_dir)  # with decontaminate off, overlaps are still reported
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

    with stack:
        parents: set[str] = set()
        for o in iter_outcomes(shards, work):
            rep.read += 1
            if o.get("split_from") is not None:
                rep.split_parts += 1
                parents.add(o["split_from"])
            if o.get("encoding"):
                rep.encodings[o["encoding"]] = rep.encodings.get(o["encoding"], 0) + 1
            rec = o["record"]
            if o["kind"] == "reject" and o["step"] == "read":
                reject("read", o["reason"], rec, o["source"])
                continue
            rid = rec["id"]
            seen_ids[rid] += 1
            if seen_ids[rid] > 1:  # ids must be unique for splits and clusters; keep the record, suffix the id
                rid = rec["id"] = f"{rid}~{seen_ids[rid]}"
            if o["kind"] == "reject":
                reject(o["step"], o["reason"], rec, o["source"], o["text"])
                continue
            for k, v in o["masked"].items():
                rep.masked[k] = rep.masked.get(k, 0) + v
            _place(o, rid, cfg, rep, dedup, decon, reject, handles, lengths_kept, langs)

    rep.split_documents = len(parents)
    rep.documents = rep.read - rep.split_parts + rep.split_documents
    rep.dropped = dict(dropped)
    rep.clusters = {k: v for k, v in dedup.clusters.items()}
    rep.seconds = round(time.perf_counter() - t0, 2)
    rep.paths = {s: str(out / f"{s}.jsonl") for s in ("train", "val", "test")}
    rep.paths["quarantine"] = str(out / "quarantine.jsonl")
    if cfg.export:
        from .export import export_splits

        rep.paths.update(export_splits(out, cfg.export, cfg.export_records))
    from .report import write_report

    summary = {k: v for k, v in rep.__dict__.items() if k not in ("paths",)}
    j, h = write_report(out, summary, samples, lengths_kept, lengths_dropped, dict(langs))
    rep.paths.update({"report_json": str(j), "report_html": str(h)})
    dedup.close()
    shutil.rmtree(work, ignore_errors=True)  # complete: nothing left to resume
    ws.registry.finish_run(run_id, summary={"read": rep.read, "kept": rep.kept, "quarantined": rep.quarantined,
                                            "deduplicated": rep.deduplicated}, path=str(out))
    return rep


def _place(o: dict, rid: str, cfg, rep: DataReport, dedup: Deduplicator, decon: NgramIndex, reject, handles,
           lengths_kept: list[int], langs: Counter) -> None:
    """A cleaned record's fate, in input order: duplicate, contaminated, or written to its split."""
    record, text = o["record"], o["text"]
    if dedup.check(rid, text, exact=o.get("exact"), sig=o.get("sig")):
        rep.deduplicated += 1
        return
    hits = decon.overlaps(text)
    if hits:
        rep.contaminated.append({"id": rid, "items": hits[:10]})
        if cfg.decontaminate:
            reject("decontaminate", f"overlaps eval items {', '.join(hits[:5])}", record, record.get("source", ""),
                   text)
            return
    split = _split(rid, cfg.split.val_ratio, cfg.split.test_ratio)
    handles[split].write(json.dumps(record, ensure_ascii=False) + "\n")
    setattr(rep, split, getattr(rep, split) + 1)
    rep.kept += 1
    lengths_kept.append(len(text))
    langs["zh" if han_ratio(text) > 0.3 else "other"] += 1
