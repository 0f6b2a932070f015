"""LLM-as-a-judge against any OpenAI-compatible endpoint: single-answer grading (1–10 against a rubric) and
pairwise comparison run in both orders (a verdict that flips with the order is a tie). Judges must answer
JSON; a reply without a usable JSON verdict is counted as unparsable and reported, never dropped."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

GRADE_PROMPT = (
    "You are grading an assistant's answer. Rubric: correctness first, then completeness, then clarity; "
    "answers in Chinese are graded as strictly as English.\n\nQuestion:\n{question}\n\n"
    "{reference}Answer:\n{answer}\n\n"
    'Reply with JSON only: {{"score": <integer 1-10>, "reason": "<one sentence>"}}')
PAIR_PROMPT = (
    "Compare two assistants' answers to the question. Judge correctness first, then helpfulness; ignore "
    "length and the order they are shown in.\n\nQuestion:\n{question}\n\n[Answer A]\n{a}\n\n[Answer B]\n{b}\n\n"
    'Reply with JSON only: {{"winner": "A" | "B" | "tie", "reason": "<one sentence>"}}')


def parse_json_verdict(reply: str) -> dict | None:
    """The JSON object in a judge's reply (the whole reply, a ```json fence, or the first {...} in prose)."""
    text = reply.strip()
    fence = re.search(r"```(?:json)?\s*(\{.*?\})\s*```", text, re.S)
    candidates = [text] + ([fence.group(1)] if fence else []) + re.findall(r"\{[^{}]*\}", text)
    for c in candidates:
        try:
            v = json.loads(c)
        except (json.JSONDecodeError, ValueError):
            continue
        if isinstance(v, dict):
            return v
    return None


def parse_score(reply: str) -> int | None:
    v = parse_json_verdict(reply)
    s = v.get("score") if v else None
    if isinstance(s, bool) or not isinstance(s, int | float) or not 1 <= s <= 10:
        return None
    return int(round(s))


def parse_winner(reply: str) -> str | None:
    v = parse_json_verdict(reply)
    w = str(v.get("winner", "")).strip().upper() if v else ""
    return {"A": "A", "B": "B", "TIE": "tie"}.get(w)


@dataclass
class Judge:
    """A judge model behind an OpenAI-compatible `/chat/completions`; temperature 0."""

    base_url: str
    model: str
    api_key: str | None = None
    timeout: float = 120.0

    def ask(self, prompt: str) -> str:
        import httpx

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        r = httpx.post(self.base_url.rstrip("/") + "/chat/completions", headers=headers, timeout=self.timeout,
                       json={"model": self.model, "temperature": 0, "max_tokens": 256,
                             "messages": [{"role": "user", "content": prompt}]})
        r.raise_for_status()
        return r.json()["choices"][0]["message"]["content"] or ""

    def grade(self, question: str, answer: str, reference: str | None = None) -> tuple[int | None, str]:
        ref = f"Reference answer:\n{reference}\n\n" if reference else ""
        reply = self.ask(GRADE_PROMPT.format(question=question, answer=answer, reference=ref))
        return parse_score(reply), reply

    def compare(self, question: str, a: str, b: str) -> tuple[str | None, list[str]]:
        """'A', 'B', 'tie', or None when either order's verdict is unparsable. Both orders are asked; a winner
        that follows the position rather than the answer is a tie."""
        r1 = self.ask(PAIR_PROMPT.format(question=question, a=a, b=b))
        r2 = self.ask(PAIR_PROMPT.format(question=question, a=b, b=a))
        w1, w2 = parse_winner(r1), parse_winner(r2)
        if w1 is None or w2 is None:
            return None, [r1, r2]
        w2 = {"A": "B", "B": "A", "tie": "tie"}[w2]  # back to the first order's labels
        return (w1 if w1 == w2 else "tie"), [r1, r2]


def eval_judge(tgt, items: list[dict], judge: Judge, max_new_tokens: int, mode: str = "single") -> tuple[dict, list]:
    """Answers of the target graded by the judge. `single`: mean score over parsed verdicts; `pairwise`: the
    target's answer against each item's reference answer (win / tie / loss rates)."""
    answers = tgt.generate([[{"role": "user", "content": it["question"]}] for it in items], max_new_tokens)
    rows, n = [], len(items)
    for it, ans in zip(items, answers):
        ref = it.get("reference") or (it.get("answers") or [None])[0]
        if mode == "pairwise":
            verdict, replies = judge.compare(it["question"], ans, str(ref or ""))
            rows.append({"id": it.get("id"), "answer": ans, "verdict": verdict, "replies": replies})
        else:
            score, reply = judge.grade(it["question"], ans, str(ref) if ref is not None else None)
            rows.append({"id": it.get("id"), "answer": ans, "score": score, "reply": reply})
    key = "verdict" if mode == "pairwise" else "score"
    bad = sum(r[key] is None for r in rows)
    m: dict[str, float] = {"n": n, "unparsable": bad, "unparsable_rate": bad / max(1, n)}
    ok = [r for r in rows if r[key] is not None]
    for r in rows:  # per-item scores behind each rate, for paired comparisons
        r["scores"] = {"unparsable_rate": float(r[key] is None)}
        if r[key] is not None and mode == "pairwise":
            r["scores"].update({name: float(r["verdict"] == w) for w, name in
                                (("A", "win_rate"), ("B", "loss_rate"), ("tie", "tie_rate"))})
        elif r[key] is not None:
            r["scores"]["score_mean"] = float(r["score"])
    if mode == "pairwise":
        for w, name in (("A", "win_rate"), ("B", "loss_rate"), ("tie", "tie_rate")):
            m[name] = sum(r["verdict"] == w for r in ok) / max(1, len(ok))
    else:
        m["score_mean"] = sum(r["score"] for r in ok) / len(ok) if ok else float("nan")
    return m, rows
