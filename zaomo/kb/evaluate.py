"""Retrieval metrics: recall@k, MRR and nDCG@k (binary relevance). The gold is an item's `evidence` sentence
when it has one (a retrieved chunk is relevant when it holds that sentence: right for files of many short
records, where one document id names them all), else its `doc_ids` (ranked by document)."""

from __future__ import annotations

import math
import re
import unicodedata


def _plain(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def holds(passage: str, sentence: str) -> bool:
    """The passage contains the sentence, up to Unicode width forms and whitespace (cleaned data is NFKC,
    an index of the raw files may not be; chunks re-flow lines)."""
    return _plain(sentence) in _plain(passage)


def _ranked(kb, item: dict, k: int) -> tuple[list[bool], int]:
    """Relevance of the top-k results, and how many relevant results there are at most."""
    if item.get("evidence"):
        return [holds(h.text, str(item["evidence"])) for h in kb.search(item["question"], k)], 1
    gold = set(item.get("doc_ids") or [])
    docs: list[str] = []
    for h in kb.search(item["question"], k * 3):  # several chunks may come from one document
        if h.doc_id not in docs:
            docs.append(h.doc_id)
    return [d in gold for d in docs[:k]], len(gold)


def retrieval_metrics(kb, items: list[dict], k: int = 5) -> dict[str, float]:
    recall = mrr = ndcg = 0.0
    n = 0
    for it in items:
        if not (it.get("doc_ids") or it.get("evidence")):
            continue
        n += 1
        rel, n_gold = _ranked(kb, it, k)
        ranks = [i for i, r in enumerate(rel) if r]
        recall += 1.0 if ranks else 0.0
        mrr += 1.0 / (ranks[0] + 1) if ranks else 0.0
        if it.get("evidence"):  # overlapping chunks may repeat the sentence: one gold, counted once
            ranks = ranks[:1]
        dcg = sum(1 / math.log2(r + 2) for r in ranks)
        ideal = sum(1 / math.log2(r + 2) for r in range(min(n_gold, k)))
        ndcg += dcg / ideal if ideal else 0.0
    n = max(n, 1)
    return {f"recall@{k}": recall / n, "mrr": mrr / n, f"ndcg@{k}": ndcg / n, "questions": n}
