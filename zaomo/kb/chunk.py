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


def sentences(text: str) -> list[str]:
    return [s.strip() for s in SENT.split(text) if s and s.strip()]


def char_len(s: str) -> int:
    return len(s)


def chunk_document(doc_id: str, text: str, max_tokens: int, overlap: int,
                   count: Callable[[str], int] = char_len, page: int | None = None) -> list[Chunk]:
    """Greedy packing of whole sentences under `max_tokens`; sections (markdown headings) start new chunks
    and their heading is kept with every chunk under them. A sentence longer than the budget is split."""
    chunks: list[Chunk] = []
    title = ""
    cur: list[str] = []
    cur_len = 0

    def flush() -> None:
        nonlocal cur, cur_len
        if cur:
            body = " ".join(cur) if not re.search(r"[\u4e00-\u9fff]", "".join(cur)) else "".join(cur)
            chunks.append(Chunk(f"{doc_id}#{len(chunks)}", doc_id, body, title, len(chunks), page))
            keep: list[str] = []
            kept = 0
            for s in reversed(cur):  # overlap: carry the last sentences forward
                if kept + count(s) > overlap:
                    break
                keep.insert(0, s)
                kept += count(s)
            cur, cur_len = keep, kept

    for line in text.split("\n"):
        if line.lstrip().startswith("#"):
            flush()
            cur, cur_len = [], 0
            title = line.lstrip("# ").strip()
            continue
        for s in sentences(line):
            n = count(s)
            while n > max_tokens:  # a sentence longer than a chunk: split it by characters
                cut = max(1, int(len(s) * max_tokens / n))
                flush()
                cur, cur_len = [s[:cut]], count(s[:cut])
                flush()
                s = s[cut:]
                n = count(s)
            if cur_len + n > max_tokens:
                flush()
            cur.append(s)
            cur_len += n
    flush()
    return [c for c in chunks if c.text.strip()]
