"""A versioned prompt applied to a conversation: the one rule eval and serve share, so a prompt is evaluated
exactly as it is served.

- The system text goes first: into the conversation's first message when that is a system message (the
  prompt's text, a blank line, then that message — a knowledge base's passages, or a client's own system
  message when serve.prompt_client_system=prepend), else as a new first system message.
- The template, when there is one, wraps the last user message: `{input}` is replaced by its text (plain
  replacement, not str.format, so braces in prompts and questions are left alone).
"""

from __future__ import annotations

from typing import Any

PLACEHOLDER = "{input}"
SEPARATOR = "\n\n"


def parse_ref(ref: str) -> tuple[str, int | None]:
    """'NAME' or 'NAME:VERSION' → (name, version or None)."""
    name, colon, ver = ref.partition(":")
    if not name or (colon and not ver.isdigit()):
        raise ValueError(f"expected NAME or NAME:VERSION, e.g. {name or 'support'}:2; got {ref!r}")
    return name, int(ver) if colon else None


def check_template(template: str | None) -> None:
    """A template without `{input}` would drop the user's question; refuse it when the prompt is added."""
    if template is not None and PLACEHOLDER not in template:
        raise ValueError(f"the template has no {PLACEHOLDER} placeholder, so the user's message would be lost; "
                         f"write it like '请简洁地回答：{PLACEHOLDER}'")


def _prefix(content: Any, text: str) -> Any:
    if isinstance(content, list):  # content parts (a remote engine's images): the text goes first, as a part
        return [{"type": "text", "text": text + SEPARATOR}, *content]
    return text + SEPARATOR + content if content else text


def with_prompt(messages: list[dict], system: str | None, template: str | None = None) -> list[dict]:
    """`messages` (not modified) with the prompt applied by the rule above."""
    out = [dict(m) for m in messages]
    if template:
        last = next((i for i in range(len(out) - 1, -1, -1) if out[i].get("role") == "user"), None)
        if last is not None and isinstance(out[last].get("content"), str):
            out[last]["content"] = template.replace(PLACEHOLDER, out[last]["content"])
    if system:
        if out and out[0].get("role") == "system":
            out[0]["content"] = _prefix(out[0].get("content"), system)
        else:
            out.insert(0, {"role": "system", "content": system})
    return out
