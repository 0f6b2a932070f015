"""Chat and preference formats into the contracts of DESIGN.md.

Alpaca (instruction/input/output), ShareGPT (conversations with from/value) and OpenAI messages become
{"id", "messages"}; a record that fits none raises ValueError naming the fields it has.
"""

from __future__ import annotations

from typing import Any

ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "bot": "assistant",
         "system": "system", "chatgpt": "assistant"}


def to_messages(record: dict[str, Any]) -> dict[str, Any]:
    rid = record.get("id")
    if isinstance(record.get("messages"), list):
        msgs = [{"role": ROLES.get(str(m.get("role", "")).lower(), ""), "content": str(m.get("content", ""))}
                for m in record["messages"]]
    elif isinstance(record.get("conversations"), list):
        msgs = [{"role": ROLES.get(str(m.get("from", m.get("role", ""))).lower(), ""),
                 "content": str(m.get("value", m.get("content", "")))} for m in record["conversations"]]
    elif "instruction" in record and "output" in record:
        user = str(record["instruction"])
        if record.get("input"):
            user += "\n\n" + str(record["input"])
        msgs = ([{"role": "system", "content": str(record["system"])}] if record.get("system") else []) + [
            {"role": "user", "content": user}, {"role": "assistant", "content": str(record["output"])}]
    else:
        raise ValueError(f"not a chat record: fields {sorted(record)}; expected messages, conversations "
                         "(ShareGPT) or instruction/output (Alpaca)")
    bad = [i for i, m in enumerate(msgs) if not m["role"]]
    if bad:
        raise ValueError(f"message {bad[0]} has an unknown role; allowed: system, user, assistant "
                         "(ShareGPT: human, gpt)")
    if not any(m["role"] == "assistant" for m in msgs):
        raise ValueError("no assistant turn: nothing to learn from")
    return {"id": rid, "messages": msgs}


def chat_text(record: dict[str, Any]) -> str:
    return "\n".join(m["content"] for m in record["messages"])
