"""Retrieval metrics from gold document ids: recall@k, MRR and nDCG@k (binary relevance)."""

from __future__ import annotations

import math


def retrieval_metrics(kb, items: list[dict], k: int = 5) -> dict[str, float]:
    recall = mrr = ndcg = 0.0
    n = 0
    for it in items:
        gold = set(it.get("doc_ids") or [])
        if not gold:
            continue
        n += 1
        docs: list[str] = []
        for h in kb.search(it["question"], k * 3):  # several chunks may come from one document
            if h.doc_id not in docs:
                docs.append(h.doc_id)
        docs = docs[:k]
        ranks = [i for i, d in enumerate(docs) if d in gold]
        recall += 1.0 if ranks else 0.0
        mrr += 1.0 / (ranks[0] + 1) if ranks else 0.0
        dcg = sum(1 / math.log2(r + 2) for r in ranks)
        ideal = sum(1 / math.log2(r + 2) for r in range(min(len(gold), k)))
        ndcg += dcg / ideal if ideal else 0.0
    n = max(n, 1)
    return {f"recall@{k}": recall / n, "mrr": mrr / n, f"ndcg@{k}": ndcg / n, "questions": n}
