"""The one RAG prompt format: numbered passages in a system message, then the question. Used by SFT data,
evaluation and serving alike, so a model learns exactly the format it will be served with."""

from __future__ import annotations

from typing import Any

SYSTEM_ZH = "根据参考资料回答问题，并用[编号]标注来源。"
SYSTEM_EN = "Answer from the references and cite them as [n]."


def _is_zh(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text)


def build_rag_messages(question: str, hits: list[Any], tokenizer=None, budget_tokens: int = 512,
                       system: str | None = None) -> list[dict]:
    """Passages are added best first while they fit in `budget_tokens` (tokenizer tokens, or characters)."""
    def count(s: str) -> int:
        return len(tokenizer(s, add_special_tokens=False)["input_ids"]) if tokenizer is not None else len(s)

    head = system or (SYSTEM_ZH if _is_zh(question) else SYSTEM_EN)
    parts: list[str] = []
    used = count(head)
    for n, h in enumerate(hits, 1):
        text = h.text if hasattr(h, "text") else str(h)
        line = f"[{n}] {text}"
        c = count(line)
        if used + c > budget_tokens:
            room = budget_tokens - used
            if room > 16 and not parts:  # at least part of the best passage
                line = line[: max(1, int(len(line) * room / c))]
                parts.append(line)
            break
        parts.append(line)
        used += c
    return [{"role": "system", "content": head + "\n" + "\n".join(parts)}, {"role": "user", "content": question}]
