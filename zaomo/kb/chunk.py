"""Chunking that respects Chinese and English sentence boundaries and Markdown structure (no sections inside
code fences; code and table lines kept as lines), bounded by tokens, with overlap, keeping the heading,
source and position of each chunk for citations."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

SENT = re.compile(r"(?<=[。！？；!?;])|(?<=\.)\s+|\n+")
HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t#]*$")  # CommonMark ATX: "#hashtag" is no heading
FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
TABLE_DELIM = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)+\|?\s*$")  # |---|:--:|
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")


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


@dataclass(frozen=True)
class Piece:
    """A unit of packing: a prose sentence (re-flowed) or one line of a code block or table (kept a line)."""

    text: str
    line: bool = False


def _sep(a: Piece, b: Piece) -> str:
    if a.line or b.line:
        return "\n"
    return "" if CJK.match(a.text[-1]) or CJK.match(b.text[0]) else " "


def _join(parts: list[Piece]) -> str:
    out = parts[0].text if parts else ""
    for a, b in zip(parts, parts[1:]):
        out += _sep(a, b) + b.text
    return out


def blocks(text: str) -> list[tuple[str, list[Piece]]]:
    """Markdown-aware split into (section heading, pieces): a heading starts a section only outside code
    fences (``` or ~~~, closed by the same fence character at least as long); fenced lines and table rows
    (`|…|`, or `a | b` rows around a `---|---` delimiter) stay whole lines; prose becomes sentences."""
    out: list[tuple[str, list[Piece]]] = [("", [])]
    lines = text.split("\n")
    fence = ""  # the opening fence while inside a code block
    in_table = False
    for i, line in enumerate(lines):
        pieces = out[-1][1]
        if fence:
            if line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                fence = ""
            if line.strip():
                pieces.append(Piece(line.rstrip(), True))
            continue
        if m := FENCE.match(line):
            fence = m.group(1)
            pieces.append(Piece(line.rstrip(), True))
            continue
        if m := HEADING.match(line):
            out.append(((m.group(2) or "").strip(), []))
            in_table = False
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        row = line.strip()
        in_table = bool(row) and (row.startswith("|") or TABLE_DELIM.match(row) is not None
                                  or ("|" in row and (in_table or TABLE_DELIM.match(nxt) is not None)))
        if in_table:
            pieces.append(Piece(row, True))
            continue
        pieces += [Piece(s) for s in sentences(line)]
    return [(t, ps) for t, ps in out if ps or t]


def chunk_document(doc_id: str, text: str, max_tokens: int, overlap: int,
                   count: Callable[[str], int] = char_len, page: int | None = None,
                   part: str | None = None) -> list[Chunk]:
    """Greedy packing of whole sentences (and whole lines of code blocks and tables, which keep their line
    breaks) under `max_tokens` (measured on the joined chunk text, so separators count); sections (markdown
    headings outside code) start new chunks and their heading is kept with every chunk under them; the last
    pieces of a chunk (up to `overlap`) open the next one when they fit. A piece longer than the budget is
    split. `part` names one record of a multi-record file (a JSONL line, a CSV row, a PDF page), so chunk ids
    — `doc_id#n`, or `doc_id:part#n` — stay unique per record and stable across rebuilds."""
    chunks: list[Chunk] = []
    prefix = f"{doc_id}:{part}" if part else doc_id
    cur: list[Piece] = []

    def flush(title: str) -> None:
        nonlocal cur
        if cur:
            chunks.append(Chunk(f"{prefix}#{len(chunks)}", doc_id, _join(cur), title, len(chunks), page))
            keep: list[Piece] = []
            for s in reversed(cur):  # overlap: carry the last pieces forward
                if count(_join([s, *keep])) > overlap:
                    break
                keep.insert(0, s)
            cur = keep

    def split_long(p: Piece) -> list[Piece]:
        """Parts of an over-long piece, each within the budget (binary search on the cut)."""
        s, out = p.text, []
        while count(s) > max_tokens:
            lo, hi = 1, len(s)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if count(s[:mid]) <= max_tokens else (lo, mid - 1)
            out.append(Piece(s[:lo], p.line))
            s = s[lo:]
        return out + ([Piece(s, p.line)] if s else [])

    for title, pieces in blocks(text):
        cur = []
        for piece in pieces:
            for s in split_long(piece):
                if cur and count(_join([*cur, s])) > max_tokens:
                    flush(title)
                    if cur and count(_join([*cur, s])) > max_tokens:
                        cur = []  # the overlap and this piece do not fit together
                cur.append(s)
        flush(title)
    return [c for c in chunks if c.text.strip()]
