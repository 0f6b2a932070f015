"""Question–answer pairs written by any OpenAI-compatible model from held-out passages, for domains where cloze
questions are not enough. The model must copy its answer from the passage: a pair whose answer is not found
there (as whole units: zaomo.utils.answer_text) is rejected and counted, never kept unchecked, so every item is
as checkable as a cloze question; the passage is the item's gold citation and the sentence holding the answer
its evidence."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from ..utils.answer_text import contains_answer
from .cloze import lang_of, split_sentences
from .judge import parse_json_verdict

PROMPTS = {
    "zh": "阅读下面的段落，提出一个只凭这段话就能回答的问题，并从段落中原样摘出简短的答案（人名、地名、数字、日期或术语）。"
          '只回复 JSON：{{"question": "…", "answer": "…"}}\n\n段落：\n{passage}',
    "en": "Read the passage and write one question it answers, with a short answer copied verbatim from the passage "
          '(a name, place, number, date or term). Reply with JSON only: {{"question": "…", "answer": "…"}}\n\n'
          "Passage:\n{passage}",
}
MAX_PASSAGE_CHARS = 1500


def question_prompt(passage: str) -> str:
    return PROMPTS[lang_of(passage)].format(passage=passage)


def parse_pair(reply: str, passage: str) -> tuple[dict | None, str]:
    """(question/answer/evidence, "") or (None, why it was rejected)."""
    v = parse_json_verdict(reply)
    if not v:
        return None, "no JSON object in the reply"
    q, a = str(v.get("question") or "").strip(), str(v.get("answer") or "").strip()
    if not q or not a:
        return None, "question or answer missing"
    if contains_answer(q, a):
        return None, "the question gives its own answer away"
    evidence = next((s for s in split_sentences(passage) if contains_answer(s, a)), None)
    if evidence is None:
        return None, "answer not found in the passage"
    return {"question": q, "answer": a, "evidence": evidence}, ""


def written_items(records: Iterable[dict], endpoint, limit: int) -> tuple[list[dict], dict[str, int]]:
    """One pair per held-out record (its text, cut to MAX_PASSAGE_CHARS) from `endpoint` (an EndpointTarget:
    temperature 0); returns the items and the rejects counted by reason."""
    passages = [r for r in records if (r.get("text") or "").strip()][:limit]
    texts = [r["text"][:MAX_PASSAGE_CHARS] for r in passages]
    replies = endpoint.generate([[{"role": "user", "content": question_prompt(t)}] for t in texts], 256)
    items, rejected = [], Counter()
    for rec, text, reply in zip(passages, texts, replies):
        pair, why = parse_pair(reply, text)
        if pair is None:
            rejected[why] += 1
            continue
        items.append({"id": f"written-{len(items) + 1}", "question": pair["question"], "answers": [pair["answer"]],
                      "doc_ids": [rec.get("source") or str(rec.get("id"))], "evidence": pair["evidence"],
                      "passage": text, "kind": "written", "lang": lang_of(text), "record_id": str(rec.get("id")),
                      "origin": "generator"})
    return items, dict(rejected)
