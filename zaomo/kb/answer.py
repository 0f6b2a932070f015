"""Answers with citations: the model answers from numbered passages; each sentence is checked against the
passages (numbers, negation and names must agree, little new content, reasonable overlap: see `grounding`),
each [n] against the passage it points to, and unsupported answers are replaced by quoted evidence."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .chunk import sentences
from .grounding import CITE, grounded
from .prompt import build_rag_messages

CITE_AFTER_STOP = re.compile(r"([。！？.!?])\s*((?:\[\d+\])+)")  # "…3楼。[1]" cites the sentence before it


@dataclass
class Answer:
    text: str
    citations: list[dict] = field(default_factory=list)
    hits: list = field(default_factory=list)
    supported: list[bool] = field(default_factory=list)
    found: bool = True


def _bigrams(s: str) -> set[str]:
    s = re.sub(r"\W+", "", s.lower())
    return {s[i:i + 2] for i in range(len(s) - 1)}


def support(text: str, passage: str) -> bool:
    """Every sentence of `text` is supported by a sentence of `passage`: a changed number ("十五天" → "十天"),
    an inserted "不"/"not" or a changed name is not supported, a faithful paraphrase is."""
    return grounded(text, [passage])


def best_sentence(question: str, hits: list) -> tuple[int, str]:
    """(passage number, sentence) among the retrieved passages that best matches the question."""
    q = _bigrams(question)
    best = (0, -1.0, "")
    for n, h in enumerate(hits, 1):
        for s in sentences(h.text if hasattr(h, "text") else str(h)):
            score = len(q & _bigrams(s)) / (1 + 0.01 * len(s))
            if score > best[1]:
                best = (n, score, s)
    return best[0], best[2]


def ground(question: str, text: str, hits: list) -> tuple[str, bool]:
    """Keep a generated answer the passages support; otherwise quote the passage sentence that best matches
    the question, with its citation. Returns (answer, was_generated_answer_kept)."""
    if not hits:
        return text, True
    if grounded(text, [h.text if hasattr(h, "text") else str(h) for h in hits]):
        return text, True
    n, sent = best_sentence(question, hits)
    if not sent:
        return text, True
    return f"{sent}[{n}]", False


def answer(kb, generate: Callable[[list[dict]], str], question: str, k: int = 3, tokenizer=None,
           budget_tokens: int = 512, none_message: str | None = None, quote_unsupported: bool = True) -> Answer:
    hits = kb.search(question, k)
    if not hits:
        msg = none_message or ("知识库中没有相关内容。" if re.search(r"[\u4e00-\u9fff]", question)
                               else "The knowledge base has nothing on this.")
        return Answer(msg, found=False)
    text = generate(build_rag_messages(question, hits, tokenizer, budget_tokens))
    if quote_unsupported:
        text, _ = ground(question, text, hits)
    cited = [int(m) for m in CITE.findall(text)]
    if not cited:  # attribute to the passage the answer overlaps most
        overlaps = [len(_bigrams(text) & _bigrams(h.text)) for h in hits]
        if max(overlaps, default=0) > 0:
            cited = [overlaps.index(max(overlaps)) + 1]
    cites, ok = [], []
    for n in dict.fromkeys(cited):
        if 1 <= n <= len(hits):
            h = hits[n - 1]
            cites.append({"n": n, "source": h.source, "chunk_id": h.chunk_id, "title": h.title, "text": h.text})
            citing = [s for s in sentences(CITE_AFTER_STOP.sub(r"\2\1", text)) if f"[{n}]" in s]
            ok.append(support(" ".join(citing) if citing else text, h.text))
    return Answer(text, cites, hits, ok)
