"""Splitting text into records instead of dropping it: a plain-text corpus file into its entries (separator
lines, blank-line paragraphs or lines), and any document longer than `filters.max_chars` into parts at paragraph,
then sentence boundaries — each part keeping its source and position — so only what cannot be split is ever
quarantined for length."""

from __future__ import annotations

import re
from collections.abc import Iterator

# A line that only separates entries: fortune's "%", Markdown/ASCII rules, form feeds.
SEPARATOR_LINE = r"^[ \t]*(?:%%?|-{3,}|\*{3,}|={3,}|_{3,}|~{3,}|#{3,}|＊{3,}|—{2,}|－{3,}|\f)[ \t]*$"
SENTENCE_END = re.compile(r"(?<=[。！？；!?;])|(?<=[.!?])(?=\s)")
AUTO_MIN_SEPARATORS = 2


def split_entries(text: str, mode: str = "auto", separator: str | None = None) -> list[tuple[int, str]]:
    """(line number, entry) for each entry of a plain-text file. `auto`: at separator lines when the file has
    at least two of them, else the whole file (long files are then split by size, see `split_long`)."""
    if mode == "file":
        return [(1, text)]
    if mode == "lines":
        return [(i, line) for i, line in enumerate(text.split("\n"), 1) if line.strip()]
    if mode == "paragraphs":
        return _split_at(text, re.compile(r"\n[ \t]*\n"))
    pattern = re.compile(separator or SEPARATOR_LINE, re.MULTILINE)
    if mode == "separator" or len(pattern.findall(text)) >= AUTO_MIN_SEPARATORS:
        return _split_at(text, pattern)
    return [(1, text)]


def _split_at(text: str, pattern: re.Pattern) -> list[tuple[int, str]]:
    out, start = [], 0
    for m in pattern.finditer(text):
        out.append((start, text[start:m.start()]))
        start = m.end()
    out.append((start, text[start:]))
    return [(text.count("\n", 0, s) + 1 + _leading_newlines(t), t.strip()) for s, t in out if t.strip()]


def _leading_newlines(t: str) -> int:
    return len(t) - len(t.lstrip("\n"))


def split_long(text: str, max_chars: int) -> list[tuple[int, str]]:
    """(character offset, part) with every part at most `max_chars` long: whole paragraphs packed together,
    a paragraph too long for one part cut at sentence ends, a sentence too long cut where it must."""
    if len(text) <= max_chars:
        return [(0, text)]
    parts: list[tuple[int, str]] = []
    cur_start, cur_end = 0, 0

    def flush(end: int) -> None:
        nonlocal cur_start
        if text[cur_start:end].strip():
            parts.append((cur_start, text[cur_start:end]))
        cur_start = end

    for _start, end in _units(text, max_chars):
        if end - cur_start > max_chars and cur_end > cur_start:
            flush(cur_end)
        cur_end = end
    flush(len(text))
    return [(o + len(p) - len(p.lstrip()), p.strip()) for o, p in parts]


def _units(text: str, max_chars: int) -> Iterator[tuple[int, int]]:
    """Spans no longer than `max_chars`, ending at paragraph ends where possible, else at sentence ends."""
    pos = 0
    for m in re.finditer(r"\n[ \t]*\n|\Z", text):
        end = m.end()
        if end == pos:
            continue
        if end - pos <= max_chars:
            yield pos, end
        else:
            yield from _sentences(text, pos, end, max_chars)
        pos = end


def _sentences(text: str, start: int, end: int, max_chars: int) -> Iterator[tuple[int, int]]:
    cuts = [start] + [start + m.start() for m in SENTENCE_END.finditer(text[start:end]) if m.start()] + [end]
    prev = start
    for c in sorted(set(cuts))[1:]:
        while c - prev > max_chars:  # one sentence longer than a part: cut it
            yield prev, prev + max_chars
            prev += max_chars
        yield prev, c
        prev = c
