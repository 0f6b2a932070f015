"""Language-aware text utilities: Chinese detection and segmentation (jieba) for stats, BM25, metrics."""

from __future__ import annotations

import re

WORD_RE = re.compile(r"[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*")


def han_ratio(text: str) -> float:
    if not text:
        return 0.0
    han = sum(1 for c in text if "\u4e00" <= c <= "\u9fff")
    letters = sum(1 for c in text if c.isalnum())
    return han / max(letters, 1)


def segment(text: str) -> list[str]:
    """Words: jieba for Chinese runs, lowercase alphanumeric words for the rest; punctuation dropped."""
    import jieba

    out: list[str] = []
    for tok in jieba.lcut(text):
        tok = tok.strip()
        if not tok:
            continue
        if any("\u4e00" <= c <= "\u9fff" for c in tok):
            out.append(tok)
        else:
            out += [w.lower() for w in WORD_RE.findall(tok)]
    return out

