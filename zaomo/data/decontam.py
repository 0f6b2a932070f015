"""Decontamination: an n-gram index of the workspace's evaluation items — 13-grams of characters for
Chinese and of words for other text (as in GPT-3's contamination study), or the whole item when it is
shorter; a training record sharing any of them with an item overlaps it."""

from __future__ import annotations

import re
from pathlib import Path

from ..utils.io import iter_jsonl
from .text import han_ratio

N = 13


def _units(text: str) -> list[str]:
    if han_ratio(text) > 0.3:
        return [c for c in text if c.isalnum()]
    return re.findall(r"\w+", text.lower())


def _grams(text: str, n: int = N, whole: bool = False) -> set[str]:
    u = _units(text)
    if whole and len(u) < n:
        return {" ".join(u)} if u else set()
    return {" ".join(u[i:i + n]) for i in range(len(u) - n + 1)}


def eval_texts(item: dict) -> list[str]:
    out = [str(item.get(k)) for k in ("question", "prompt") if isinstance(item.get(k), str)]
    out += [c for c in item.get("choices", []) if isinstance(c, str) and len(c) >= N]
    return out


class NgramIndex:
    def __init__(self, n: int = N):
        self.n = n
        self.grams: dict[str, str] = {}
        self.short: set[str] = set()

    def add(self, item_id: str, text: str) -> None:
        for g in _grams(text, self.n, whole=True):
            self.grams.setdefault(g, item_id)
            if len(g.split()) < self.n:
                self.short.add(g)

    @classmethod
    def from_eval_dir(cls, folder: Path, n: int = N) -> NgramIndex:
        idx = cls(n)
        for f in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
            for item in iter_jsonl(f, on_error="yield"):
                if isinstance(item, dict):
                    for t in eval_texts(item):
                        idx.add(f"{f.name}:{item.get('id')}", t)
        return idx

    def overlaps(self, text: str) -> list[str]:
        if not self.grams:
            return []
        hits = {self.grams[g] for g in _grams(text, self.n) if g in self.grams}
        if self.short:  # items shorter than n count when they appear whole
            joined = " ".join(_units(text))
            hits |= {self.grams[g] for g in self.short if g in joined}
        return sorted(hits)
