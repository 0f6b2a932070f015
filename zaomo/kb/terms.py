"""BM25 terms for Chinese and English, the same for documents and queries.

Chinese runs go through jieba's search mode, which emits a word and its dictionary sub-words ("分机号" →
"分机", "分机号"), so a query for the shorter word still finds the longer one. Other words are lower-cased,
English stop words dropped and Snowball-stemmed ("running" ~ "runs" ~ "run"). Identifiers that only mean
something whole — version strings, model and standard names, C++ — stay one term: "v1.2.3" must not match a
passage that merely contains "v1", "2" and "3".
"""

from __future__ import annotations

import re

HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# one word: letters/digits (not Han), joined by ' - . _ / +, optionally ending in ++ or # (C++, C#)
TOKEN_RE = re.compile(rf"[{HAN}]+|(?:[^\W_{HAN}]|_)+(?:['’.\-/+](?:[^\W_{HAN}]|_)+)*(?:\+\+|#)?")
SPLIT_RE = re.compile(r"[.\-/]")
HAN_RE = re.compile(rf"[{HAN}]")


def _identifier(tok: str) -> bool:
    """Kept whole: joined parts holding a digit (v1.2.3, gpt-4o, ISO-9001, 2024-05-01), snake_case names,
    and C++/C#-style names; plain hyphenated words (well-known) are split instead."""
    if tok.endswith(("++", "#")) or "_" in tok or "+" in tok:
        return True
    return bool(SPLIT_RE.search(tok)) and any(c.isdigit() for c in tok)


class SearchTerms:
    """text → BM25 terms. One per knowledge base (a Snowball stemmer is not shared between threads)."""

    def __init__(self, language: str = "english"):
        import Stemmer
        from bm25s.stopwords import STOPWORDS_EN

        self.stemmer = Stemmer.Stemmer(language)
        self.stopwords = frozenset(STOPWORDS_EN)

    def __call__(self, text: str) -> list[str]:
        import jieba

        out: list[str] = []
        for m in TOKEN_RE.finditer(text.replace("’", "'")):
            tok = m.group()
            if HAN_RE.match(tok):
                out += [w for w in jieba.lcut_for_search(tok) if w.strip()]
            elif _identifier(tok := tok.lower().removesuffix("'s")):
                out.append(tok)
            else:  # apostrophes go (don't → dont), hyphens and dots split
                out += [self.stemmer.stemWord(w) for w in SPLIT_RE.split(tok.replace("'", ""))
                        if w and w not in self.stopwords]
        return out
