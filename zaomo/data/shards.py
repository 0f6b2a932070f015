"""The per-document half of the pipeline, run per shard in worker processes: read → normalise → safety
(PII, sensitive words) → filters → exact hash and MinHash signature. Each shard's outcome is written to its
own file and marked done atomically, so an interrupted run resumes by skipping finished shards; the
order-dependent half (ids, dedup, decontamination, split) runs afterwards in the parent, in shard order, so
the result does not depend on the number of workers.

A shard is a run of consecutive input files (in the readers' sorted order) of about `data.shard_mb`. A JSONL file
larger than that is cut into byte ranges read from the first line that starts inside the range (records keep
their file line numbers, so ids do not depend on the cut), so one huge file still keeps every worker busy; other
formats are read whole by one worker.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config.data import DataConfig
from ..config.safety import SafetyConfig
from ..utils.hashing import text_hash
from ..utils.io import atomic_open, iter_jsonl
from .readers import Document, ReadOptions, ReadProblem, input_files, iter_documents, suffix_of


@dataclass(frozen=True)
class Shard:
    index: int
    files: tuple[tuple[str, str, int, int], ...]  # (path, root, start byte, end byte or -1 for the end), in order
    key: str  # hash of the files' paths, sizes, mtimes and the data/safety config


def _files(inputs: list[Path]) -> list[tuple[Path, Path]]:
    """(file, root it is named relative to) for every input file, in the readers' order."""
    return [(p, inp if inp.is_dir() else inp.parent) for inp in inputs for p in input_files(inp)]


def plan_shards(inputs: list[Path], cfg: DataConfig, safety: SafetyConfig) -> list[Shard]:
    conf = json.dumps([cfg.model_dump(mode="json"), safety.model_dump(mode="json")], sort_keys=True)
    shards: list[Shard] = []
    size = 0
    group: list[tuple[Path, Path, int, int]] = []

    def close() -> None:
        nonlocal group, size
        if group:
            h = hashlib.blake2b(conf.encode(), digest_size=10)
            for p, r, a, b in group:
                st = p.stat() if p.exists() else None
                h.update(f"{p}|{r}|{a}|{b}|{st and st.st_size}|{st and st.st_mtime_ns}".encode())
            shards.append(Shard(len(shards), tuple((str(p), str(r), a, b) for p, r, a, b in group), h.hexdigest()))
        group, size = [], 0

    limit = cfg.shard_mb * 2**20
    for p, r in _files(inputs):
        n = p.stat().st_size if p.exists() else 0
        if limit and n > limit and suffix_of(p) == ".jsonl":
            close()
            for a in range(0, n, limit):
                group.append((p, r, a, -1 if a + limit >= n else a + limit))
                close()
            continue
        group.append((p, r, 0, -1))
        size += n
        if size >= limit:
            close()
    close()
    return shards


# A chat example may be short ("翻译：hello" → "你好", "1+1=?" → "2"): it gets the filters that judge what a
# text contains, not the statistics (length, language, symbol and digit ratios) a short message cannot support.
SFT_FILTERS = ("garbled", "html", "ads", "repetition")


def screen_text(text: str, cfg: DataConfig, guard) -> tuple[str, list, tuple[str, str] | None]:
    """The safety policy on one text (a document or one message): (text with PII and mask-action words masked,
    the PII findings masked, (step, reason) when the text must be quarantined)."""
    from ..safety.pii import MASKS, mask_spans

    g = guard.check(text, where="data")
    pii = [f for f in g.findings if f.kind == "pii"]
    if cfg.sensitive and not g.allowed:
        return text, [], ("safety", g.reason)
    if pii and cfg.pii == "drop":
        return text, [], ("pii", ", ".join(f.category for f in pii))
    words = [f for f in g.findings if f.kind == "word" and guard.word_action(f.category, "data") == "mask"]
    masked_pii = pii if cfg.pii == "mask" else []
    spans = (words if cfg.sensitive else []) + masked_pii
    return (mask_spans(text, spans, MASKS) if spans else text), masked_pii, None


def clean_document(doc, cfg: DataConfig, guard, filters, dedup) -> dict[str, Any]:
    """One document's outcome: {"kind": "keep", ...} with its record, exact hash and MinHash signature, or
    {"kind": "reject", "step", "reason", ...}. Pure: no state shared between documents. Chat (SFT) records go
    through the same policy as text, message by message; quality filters judge the text as written (before
    masking, so the ads filter sees the ad words the safety policy masks), and what is kept is the masked text."""
    from .formats import chat_text, to_messages
    from .normalize import normalize_text

    base = {"id": doc.id, "source": doc.source, "meta": doc.meta}
    enc = doc.meta.get("encoding")
    masked: dict[str, int] = {}

    def reject(step: str, reason: str, record: dict, text: str = "") -> dict[str, Any]:
        return {"kind": "reject", "step": step, "reason": reason, "record": record, "source": doc.source,
                "text": text, "encoding": enc}

    if cfg.kind == "sft":
        try:
            rec = to_messages(doc.record or {"messages": [{"role": "user", "content": doc.text}]})
        except ValueError as e:
            return reject("format", str(e), {**base, "record": doc.record})
        written = []
        for i, m in enumerate(rec["messages"]):
            m["content"] = normalize_text(m["content"], cfg.normalize)
            written.append(m["content"])
            m["content"], found, rejected = screen_text(m["content"], cfg, guard)
            if rejected:
                return reject(rejected[0], f"message {i} ({m['role']}): {rejected[1]}",
                              {**base, "messages": rec["messages"]}, m["content"])
            for f in found:
                masked[f.category] = masked.get(f.category, 0) + 1
        record: dict[str, Any] = {"id": doc.id, "messages": rec["messages"], "source": doc.source}
        text, as_written = chat_text(record), "\n".join(written)
    else:
        as_written = normalize_text(doc.text, cfg.normalize)
        text, found, rejected = screen_text(as_written, cfg, guard)
        record = {**base, "text": text}
        if rejected:
            return reject(rejected[0], rejected[1], {**base, "text": as_written}, as_written)
        for f in found:
            masked[f.category] = masked.get(f.category, 0) + 1
    for name, fn in filters:
        reason = fn(as_written)
        if reason:
            return reject(name, reason, record, text)
    return {"kind": "keep", "record": record, "text": text, "encoding": enc, "masked": masked,
            "exact": text_hash(text) if cfg.dedup.exact else None, "sig": dedup.signature(text)}


def split_document(doc: Document, cfg: DataConfig) -> list[Document]:
    """A pretraining document longer than `filters.max_chars` as parts cut at paragraph/sentence boundaries
    (a little under the limit, so normalisation cannot push a part over it), each with its parent and offset."""
    limit = cfg.filters.max_chars
    if cfg.kind != "pretrain" or not cfg.split_long or len(doc.text) <= limit:
        return [doc]
    from .splitting import split_long

    parts = split_long(doc.text, max(1, int(limit * 0.98)))
    return [Document(f"{doc.id}#part{k}", text, doc.source,
                     {**doc.meta, "parent": doc.id, "part": k, "parts": len(parts), "offset": off})
            for k, (off, text) in enumerate(parts, 1)]


def shard_paths(work: Path, shard: Shard) -> tuple[Path, Path]:
    return work / f"{shard.index:05d}-{shard.key}.jsonl", work / f"{shard.index:05d}-{shard.key}.done"


def clean_shard(args: tuple[Shard, dict, dict, str, str]) -> int:
    """Worker entry point: clean one shard into its outcome file, then mark it done. Returns documents read."""
    from ..safety import Guard
    from .dedup import Deduplicator
    from .filters import make_filters

    shard, data_cfg, safety_cfg, ws_root, work = args
    cfg, scfg = DataConfig(**data_cfg), SafetyConfig(**safety_cfg)
    guard, filters, dedup = Guard(scfg, Path(ws_root)), make_filters(cfg.filters), Deduplicator(cfg.dedup)
    if cfg.kind == "sft":
        filters = [(name, fn) for name, fn in filters if name in SFT_FILTERS]
    out, done = shard_paths(Path(work), shard)
    opts = ReadOptions.from_config(cfg)
    n = 0
    with atomic_open(out, "w") as f:
        for path, root, start, end in shard.files:
            for doc in iter_documents(path, root, opts, byte_range=(start, end) if (start, end) != (0, -1) else None):
                if isinstance(doc, ReadProblem):
                    n += 1
                    o = {"kind": "reject", "step": "read", "reason": doc.reason, "source": doc.source,
                         "record": {"source": doc.source, "line": doc.line, "raw": doc.raw}, "text": ""}
                    f.write(json.dumps(o, ensure_ascii=False) + "\n")
                    continue
                parts = split_document(doc, cfg)
                for part in parts:
                    n += 1
                    o = clean_document(part, cfg, guard, filters, dedup)
                    if len(parts) > 1:
                        o["split_from"] = doc.id
                    f.write(json.dumps(o, ensure_ascii=False) + "\n")
    done.write_text(str(n), encoding="utf-8")  # after the outcome file is in place: done means complete
    return n


def run_shards(shards: list[Shard], data_cfg: DataConfig, safety_cfg: SafetyConfig, ws_root: Path, work: Path,
               workers: int, progress: bool = True) -> tuple[int, int]:
    """Clean every shard not already done; (shards cleaned now, shards reused from an earlier run)."""
    work.mkdir(parents=True, exist_ok=True)
    todo = [s for s in shards if not shard_paths(work, s)[1].exists()]
    args = [(s, data_cfg.model_dump(mode="json"), safety_cfg.model_dump(mode="json"), str(ws_root), str(work))
            for s in todo]
    if data_cfg.engine == "ray" and args:
        _run_on_ray(args, data_cfg.ray_address)
        return len(todo), len(shards) - len(todo)
    from rich.progress import Progress

    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("cleaning shards", total=len(todo))
        if workers <= 1 or len(todo) <= 1:
            for a in args:
                clean_shard(a)
                bar.advance(task)
        else:
            import multiprocessing as mp

            # spawn: the parent may hold torch/OpenMP threads, which fork does not copy safely; one BLAS/OpenMP
            # thread per worker, since the workers already fill the cores (numpy's MinHash would oversubscribe)
            with _one_thread_each(), mp.get_context("spawn").Pool(min(workers, len(todo))) as pool:
                for _ in pool.imap_unordered(clean_shard, args):
                    bar.advance(task)
    return len(todo), len(shards) - len(todo)


THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


@contextmanager
def _one_thread_each() -> Iterator[None]:
    """Worker processes started inside inherit one-thread settings for their numeric libraries."""
    before = {k: os.environ.get(k) for k in THREAD_VARS}
    os.environ.update(dict.fromkeys(THREAD_VARS, "1"))
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def iter_outcomes(shards: list[Shard], work: Path):
    for s in shards:
        yield from iter_jsonl(shard_paths(work, s)[0])


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def _run_on_ray(args: list[tuple], address: str | None) -> None:
    """The same shard function as Ray Data tasks: one row per shard, `map` runs `clean_shard` on the cluster.
    Shard outcome files go to the workspace folder, which the Ray workers must see (a shared filesystem on
    a cluster; the local disk in local mode). Ray Data, not datatrove: it schedules across machines with
    retries and back-pressure and already sits in many teams' stacks; datatrove's own steps would duplicate
    zaomo's cleaning rules instead of running them."""
    from ..utils.env import optional_import

    ray = optional_import("ray", "scale", "data.engine=ray")
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        import ray.data

        ds = ray.data.from_items([{"i": i} for i in range(len(args))], override_num_blocks=len(args))
        done = ds.map(lambda row: {"read": clean_shard(args[row["i"]])}).take_all()
        if len(done) != len(args):
            raise RuntimeError(f"Ray finished {len(done)} of {len(args)} shards")
    finally:
        if started:
            ray.shutdown()
