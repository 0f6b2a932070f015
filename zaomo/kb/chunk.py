"""Chunking that respects Chinese and English sentence boundaries, bounded by tokens, with overlap,
keeping the heading, source and position of each chunk for citations."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

SENT = re.compile(r"(?<=[。！？；!?;])|(?<=\.)\s+|\n+")


@dataclass
class Chunk:
    chunk_id: str
    doc_id: str
    text: str
    title: str
    position: int
    page: int | None = None

    @property
    def indexed(self) -> str:
        """What retrieval sees: the heading with the text, so a question naming the section finds it."""
        return f"{self.title} {self.text}"


def sentences(text: str) -> list[str]:
    return [s.strip() for s in SENT.split(text) if s and s.strip()]


def char_len(s: str) -> int:
    return len(s)


def _join(parts: list[str]) -> str:
    return "".join(parts) if re.search(r"[\u4e00-\u9fff]", "".join(parts)) else " ".join(parts)


def chunk_document(doc_id: str, text: str, max_tokens: int, overlap: int,
                   count: Callable[[str], int] = char_len, page: int | None = None) -> list[Chunk]:
    """Greedy packing of whole sentences under `max_tokens` (measured on the joined chunk text, so
    separators count); sections (markdown headings) start new chunks and their heading is kept with every
    chunk under them; the last sentences of a chunk (up to `overlap`) open the next one when they fit.
    A sentence longer than the budget is split."""
    chunks: list[Chunk] = []
    title = ""
    cur: list[str] = []

    def flush() -> None:
        nonlocal cur
        if cur:
            chunks.append(Chunk(f"{doc_id}#{len(chunks)}", doc_id, _join(cur), title, len(chunks), page))
            keep: list[str] = []
            for s in reversed(cur):  # overlap: carry the last sentences forward
                if count(_join([s, *keep])) > overlap:
                    break
                keep.insert(0, s)
            cur = keep

    def split_long(s: str) -> list[str]:
        """Pieces of an over-long sentence, each within the budget (binary search on the cut)."""
        out = []
        while count(s) > max_tokens:
            lo, hi = 1, len(s)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if count(s[:mid]) <= max_tokens else (lo, mid - 1)
            out.append(s[:lo])
            s = s[lo:]
        return out + ([s] if s else [])

    for line in text.split("\n"):
        if line.lstrip().startswith("#"):
            flush()
            cur = []
            title = line.lstrip("# ").strip()
            continue
        for sent in sentences(line):
            for s in split_long(sent):
                if cur and count(_join([*cur, s])) > max_tokens:
                    flush()
                    if cur and count(_join([*cur, s])) > max_tokens:
                        cur = []  # the overlap and this sentence do not fit together
                cur.append(s)
    flush()
    return [c for c in chunks if c.text.strip()]
