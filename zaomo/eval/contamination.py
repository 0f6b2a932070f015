"""Scores on clean and contaminated subsets: an evaluation item is contaminated when its question (or a long
option) shares a 13-gram (characters for Chinese, words otherwise) with the training data of the model being
evaluated. Reported beside the overall score, so a high number that comes from memorised items shows."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..data.decontam import NgramIndex, eval_texts
from ..utils.io import iter_jsonl


def _record_text(rec: dict) -> str:
    if isinstance(rec.get("text"), str):
        return rec["text"]
    msgs = rec.get("messages") or []
    parts = [m.get("content", "") for m in msgs if isinstance(m, dict)]
    parts += [str(rec.get(k, "")) for k in ("prompt", "chosen", "rejected", "instruction", "input", "output")]
    return "\n".join(p for p in parts if p)


def contaminated_ids(items: dict[str, list[dict]], train_files: Iterable[Path]) -> set[tuple[str, str]]:
    """(task, item id) of every item that overlaps the training files."""
    idx = NgramIndex()
    for task, rows in items.items():
        for it in rows:
            for t in eval_texts(it):
                idx.add(f"{task}\t{it.get('id')}", t)
    hit: set[tuple[str, str]] = set()
    for f in train_files:
        for rec in iter_jsonl(f, on_error="yield"):
            if isinstance(rec, dict):
                for key in idx.overlaps(_record_text(rec)):
                    task, item_id = key.split("\t", 1)
                    hit.add((task, item_id))
    return hit


def split_scores(rows: list[dict], flagged: set[str], key: str = "correct") -> dict[str, float]:
    clean = [r[key] for r in rows if str(r.get("id")) not in flagged]
    dirty = [r[key] for r in rows if str(r.get("id")) in flagged]
    out = {"n_contaminated": float(len(dirty)), "n_clean": float(len(clean))}
    if clean:
        out["accuracy_clean"] = sum(clean) / len(clean)
    if dirty:
        out["accuracy_contaminated"] = sum(dirty) / len(dirty)
    return out
