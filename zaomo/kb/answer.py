"""Answers with citations: the model answers from numbered passages; each [n] is checked against the
passage it points to (character bigram overlap, Chinese-aware), and unsupported citations are reported."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .prompt import build_rag_messages

CITE = re.compile(r"\[(\d+)\]")


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


def support(sentence: str, passage: str, threshold: float = 0.3) -> bool:
    a = _bigrams(CITE.sub("", sentence))
    return bool(a) and len(a & _bigrams(passage)) / len(a) >= threshold


def answer(kb, generate: Callable[[list[dict]], str], question: str, k: int = 3, tokenizer=None,
           budget_tokens: int = 512, none_message: str | None = None) -> Answer:
    hits = kb.search(question, k)
    if not hits:
        msg = none_message or ("知识库中没有相关内容。" if re.search(r"[\u4e00-\u9fff]", question)
                               else "The knowledge base has nothing on this.")
        return Answer(msg, found=False)
    text = generate(build_rag_messages(question, hits, tokenizer, budget_tokens))
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
            ok.append(support(text, h.text))
    return Answer(text, cites, hits, ok)
