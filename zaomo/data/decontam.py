"""Decontamination: an n-gram index of the workspace's evaluation items — 13-grams of characters for
Chinese and of words for other text (as in GPT-3's contamination study), or the whole item when it is
shorter; a training record sharing any of them with an item overlaps it. Every item sharing an n-gram is
reported (one n-gram may occur in many items), and a short item counts only as whole units (words or
characters), never as a substring of a longer word. JSONL items and C-Eval/MMLU-style CSV files (with a
header naming `question`, or MMLU's header-less question,A,B,C,D,answer rows) are indexed."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path

from ..utils.io import iter_jsonl
from .text import han_ratio

N = 13
CHOICE_COLUMNS = ("A", "B", "C", "D", "E", "F")


def _units(text: str) -> list[str]:
    if han_ratio(text) > 0.3:
        return [c for c in text if c.isalnum()]
    return re.findall(r"\w+", text.lower())


def _grams(units: list[str], n: int) -> set[str]:
    return {" ".join(units[i:i + n]) for i in range(len(units) - n + 1)}


def eval_texts(item: dict) -> list[str]:
    """What of an item must not be trained on: its question or prompt, long options, and its `evidence` (the
    source sentence a question was made from: training on it gives the answer away)."""
    out = [str(item.get(k)) for k in ("question", "prompt", "evidence") if isinstance(item.get(k), str)]
    out += [c for c in item.get("choices", []) if isinstance(c, str) and len(c) >= N]
    return out


def iter_csv_items(path: Path) -> Iterator[dict]:
    """Items of a benchmark CSV: C-Eval (id,question,A,B,C,D,answer,…) or MMLU (no header:
    question,A,B,C,D,answer)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    header = [h.strip() for h in rows[0]]
    if "question" in [h.lower() for h in header]:
        col = {h.lower(): i for i, h in enumerate(header)}
        choices = [col[c.lower()] for c in CHOICE_COLUMNS if c.lower() in col]
        for n, row in enumerate(rows[1:], 1):
            if len(row) == len(header):
                yield {"id": row[col["id"]] if "id" in col else str(n), "question": row[col["question"]],
                       "choices": [row[i] for i in choices]}
    else:
        for n, row in enumerate(rows):
            if len(row) >= 6:
                yield {"id": str(n), "question": row[0], "choices": row[1:-1]}


class NgramIndex:
    def __init__(self, n: int = N):
        self.n = n
        self.grams: dict[str, set[str]] = {}
        self.short_sizes: set[int] = set()  # unit counts of items shorter than n

    def add(self, item_id: str, text: str) -> None:
        u = _units(text)
        if not u:
            return
        if len(u) < self.n:
            grams = {" ".join(u)}
            self.short_sizes.add(len(u))
        else:
            grams = _grams(u, self.n)
        for g in grams:
            self.grams.setdefault(g, set()).add(item_id)

    @classmethod
    def from_eval_dir(cls, folder: Path, n: int = N) -> NgramIndex:
        idx = cls(n)
        if not folder.is_dir():
            return idx
        for f in sorted(folder.glob("*.jsonl")) + sorted(folder.glob("*.csv")):
            items = iter_jsonl(f, on_error="yield") if f.suffix == ".jsonl" else iter_csv_items(f)
            for item in items:
                if isinstance(item, dict):
                    for t in eval_texts(item):
                        idx.add(f"{f.name}:{item.get('id')}", t)
        return idx

    def overlaps(self, text: str) -> list[str]:
        """Ids of every item sharing an n-gram with `text` (a short item: appearing whole, on unit
        boundaries)."""
        if not self.grams:
            return []
        u = _units(text)
        hits: set[str] = set()
        for size in {self.n, *self.short_sizes}:
            for g in _grams(u, size):
                hits.update(self.grams.get(g, ()))
        return sorted(hits)


def overlapping_lines(path: Path, index: NgramIndex) -> dict[int, list[str]]:
    """Line number → ids of the items each record of a JSONL file overlaps (records overlapping none left out)."""
    from .formats import chat_text

    out: dict[int, list[str]] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            rec = json.loads(line)
            text = rec["text"] if isinstance(rec.get("text"), str) else chat_text(rec) if rec.get("messages") else ""
            if hits := index.overlaps(text):
                out[n] = hits
    return out


def remove_lines(path: Path, reasons: dict[int, str], quarantine: Path, step: str = "decontaminate") -> int:
    """Move the records on `reasons`' lines from the JSONL file to the quarantine file with the step and the
    reason (the file is rewritten atomically); returns how many moved."""
    from ..utils.io import atomic_open

    if not reasons:
        return 0
    moved = 0
    with open(path, encoding="utf-8") as src, atomic_open(path, "w") as dst, open(quarantine, "a",
                                                                                   encoding="utf-8") as q:
        for n, line in enumerate(src, 1):
            if n in reasons:
                q.write(json.dumps({**json.loads(line), "step": step, "reason": reasons[n]}, ensure_ascii=False)
                        + "\n")
                moved += 1
            else:
                dst.write(line)
    return moved
