"""Knowledge base: index build and query latency against raw bm25s / raw FAISS doing the same work, and
recall@5 on the Chinese handbook QA against bm25s with its default tokenisation.

    python benchmarks/bench_kb.py [--sizes 10000,100000] [--queries 200]

BM25: zaomo = KnowledgeBase.add_text for every chunk + index (search terms, BM25, saved to disk);
raw = the same search terms (zaomo.kb.terms) + bm25s.BM25().index (in memory). Query: zaomo.search vs
the same terms + bm25s.retrieve, top 5. Dense: zaomo's FaissStore vs a raw faiss.IndexFlatIP (or HNSW, as zaomo
picks by size) on the same random unit vectors (dim 384), top 5.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import numpy as np

ZH = ("研发部 市场部 财务部 食堂 报销 年假 加班 密码 会议室 总部大楼 负责人 分机 员工 培训 绩效 合同 打卡 出差 "
      "审批 流程 系统 安全 数据 模型 客户 产品 项目 计划 预算 采购").split()
EN = ("the office opens at nine every employee must change the password expense reports need approval "
      "meeting rooms are booked online training budget project customer product security data model").split()


def chunk_text(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return "。".join("".join(rng.choices(ZH, k=rng.randint(4, 10))) for _ in range(3)) + "。"
    return ". ".join(" ".join(rng.choices(EN, k=rng.randint(6, 14))) for _ in range(3)) + "."


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def bench_bm25(n: int, n_queries: int) -> None:
    import bm25s

    from zaomo.kb import KnowledgeBase
    from zaomo.kb.terms import SearchTerms

    rng = random.Random(n)
    texts = [chunk_text(rng) for _ in range(n)]
    queries = [chunk_text(rng)[:30] for _ in range(n_queries)]
    root = Path(tempfile.mkdtemp(prefix="zaomo-kbbench-"))

    t0 = time.perf_counter()
    kb = KnowledgeBase(root / "kb", chunk_tokens=400, overlap_tokens=0)
    for i, t in enumerate(texts):
        kb.add_text(f"d{i}", t)
    kb._reindex()
    kb.save()
    ours_build = time.perf_counter() - t0

    segment = SearchTerms()
    t0 = time.perf_counter()
    raw = bm25s.BM25()
    raw.index([segment(f" {t}") or ["∅"] for t in texts], show_progress=False)
    raw_build = time.perf_counter() - t0

    ours_q, raw_q = [], []
    for q in queries:
        t0 = time.perf_counter()
        kb.search(q, 5)
        ours_q.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        raw.retrieve([segment(q)], k=5, show_progress=False)
        raw_q.append(time.perf_counter() - t0)
    print(f"BM25 {n:>7,} chunks | build zaomo {ours_build:6.2f} s (chunk+segment+index+save), raw bm25s "
          f"{raw_build:6.2f} s (segment+index), ratio {ours_build / raw_build:.2f}x | query p50/p95 zaomo "
          f"{pct(ours_q, .5) * 1e3:.2f}/{pct(ours_q, .95) * 1e3:.2f} ms, raw {pct(raw_q, .5) * 1e3:.2f}/"
          f"{pct(raw_q, .95) * 1e3:.2f} ms, p50 overhead {pct(ours_q, .5) / pct(raw_q, .5) - 1:+.0%}")


def bench_dense(n: int, n_queries: int, dim: int = 384) -> None:
    import faiss

    from zaomo.kb.dense import FaissStore

    rng = np.random.default_rng(n)
    vecs = rng.standard_normal((n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    qs = vecs[rng.integers(0, n, n_queries)] + 0.05 * rng.standard_normal((n_queries, dim)).astype(np.float32)
    ids = [f"c{i}" for i in range(n)]
    root = Path(tempfile.mkdtemp(prefix="zaomo-kbdense-"))

    t0 = time.perf_counter()
    store = FaissStore(root / "dense")
    store.upsert(ids, vecs)
    store.save()
    store.search(qs[0], 5)  # the index is built at the first search after a change
    ours_build = time.perf_counter() - t0
    kind = store.index_type()

    t0 = time.perf_counter()
    if kind == "flat":
        raw = faiss.IndexFlatIP(dim)
    else:
        raw = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        raw.hnsw.efSearch = 64
    raw.add(vecs)
    raw_build = time.perf_counter() - t0

    ours_q, raw_q, agree = [], [], 0
    for q in qs:
        t0 = time.perf_counter()
        a = store.search(q, 5)
        ours_q.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        _, b = raw.search(q.reshape(1, -1), 5)
        raw_q.append(time.perf_counter() - t0)
        agree += [x for x, _ in a] == [ids[i] for i in b[0]]
    print(f"FAISS {n:>7,} vectors ({kind}) | build zaomo {ours_build:6.2f} s (incl. save, first search), raw {raw_build:6.2f} s | "
          f"query p50/p95 zaomo {pct(ours_q, .5) * 1e3:.3f}/{pct(ours_q, .95) * 1e3:.3f} ms, raw "
          f"{pct(raw_q, .5) * 1e3:.3f}/{pct(raw_q, .95) * 1e3:.3f} ms, p50 overhead "
          f"{pct(ours_q, .5) / pct(raw_q, .5) - 1:+.0%} | same top-5 {agree}/{len(qs)}")


def bench_recall() -> None:
    import bm25s

    from zaomo.demo import write_demo
    from zaomo.kb import build_kb
    from zaomo.kb.evaluate import retrieval_metrics
    from zaomo.utils.io import read_jsonl
    from zaomo.workspace import Workspace

    root = Path(tempfile.mkdtemp(prefix="zaomo-kbrecall-"))
    ws = Workspace.open(Workspace.init(root).root, overrides=["kb.sources=[data/raw/handbook]"])
    write_demo(ws.root)
    qa = read_jsonl(ws.root / "data/eval/qa_heldout.jsonl")
    kb = build_kb(ws)
    ours = retrieval_metrics(kb, qa, k=5)
    raw = bm25s.BM25()
    raw.index(bm25s.tokenize([c.indexed for c in kb.chunks], show_progress=False), show_progress=False)
    hits = 0
    for item in qa:
        docs, _ = raw.retrieve(bm25s.tokenize([item["question"]], show_progress=False), k=5, show_progress=False)
        got = {kb.chunks[int(i)].doc_id for i in docs[0]}
        hits += bool(got & set(item.get("doc_ids") or []))
    print(f"recall@5 on {len(qa)} held-out Chinese/English handbook questions: zaomo BM25 (search terms) "
          f"{ours['recall@5']:.3f}, raw bm25s default tokenisation {hits / len(qa):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--queries", type=int, default=200)
    a = ap.parse_args()
    bench_recall()
    for n in (int(x) for x in a.sizes.split(",")):
        bench_bm25(n, a.queries)
        bench_dense(n, a.queries)


if __name__ == "__main__":
    main()
