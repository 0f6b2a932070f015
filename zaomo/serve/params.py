"""A request body → what the engine is asked: normalised messages and generation parameters. Validation errors
name the offending parameter, as OpenAI's do."""

from __future__ import annotations

from typing import Any

from .engines import GenParams
from .errors import APIError

ROLES = ("system", "developer", "user", "assistant", "tool")
GUARDED_ROLES = ("system", "developer", "user", "tool")  # what a client (or a tool) puts before the model


def text_of(content: Any) -> str:
    """The text of a message's content: a string, None, or a list of parts (the text parts, joined)."""
    if isinstance(content, list):
        return "".join(p.get("text") or "" for p in content if isinstance(p, dict) and p.get("type") == "text")
    return content if isinstance(content, str) else ""


def map_text(content: Any, fn) -> Any:
    """`content` with `fn` applied to its text (to each text part of a list)."""
    if isinstance(content, list):
        return [{**p, "text": fn(p["text"])} if isinstance(p, dict) and isinstance(p.get("text"), str) else p
                for p in content]
    return fn(content) if isinstance(content, str) else content


def parse_messages(body: dict, remote: bool = False) -> list[dict]:
    """The conversation, normalised once for everything after it (guard, audit, knowledge base, template):
    content as one string — text parts joined — except that a remote engine gets non-text parts (images,
    audio) passed through as the client sent them; the built-in engine refuses them by name."""
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise APIError(400, "'messages' must be a non-empty list of {role, content}", param="messages")
    out = []
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise APIError(400, f"messages[{i}].role must be one of {', '.join(ROLES)}", param=f"messages[{i}].role")
        c = m.get("content")
        if isinstance(c, list):
            for j, part in enumerate(c):
                kind = part.get("type") if isinstance(part, dict) else None
                if kind == "text" and isinstance(part.get("text"), str):
                    continue
                if kind is not None and kind != "text" and remote:
                    continue
                where = f"messages[{i}].content[{j}]"
                if kind in (None, "text"):
                    raise APIError(400, f"{where} must be {{'type': 'text', 'text': str}}", param=where)
                raise APIError(400, f"{where} has type '{kind}', which the built-in engine cannot read (text only)",
                               param=f"{where}.type", code="unsupported_content")
            if not (remote and any(p.get("type") != "text" for p in c)):
                c = text_of(c)
        elif c is None and (m["role"] == "assistant" and m.get("tool_calls")):
            c = ""
        elif not isinstance(c, str):
            raise APIError(400, f"messages[{i}].content must be a string or a list of content parts",
                           param=f"messages[{i}].content")
        msg = {k: v for k, v in m.items() if k in ("role", "name", "tool_calls", "tool_call_id") and v is not None}
        msg["content"] = c
        if msg["role"] == "developer" and not remote:
            msg["role"] = "system"  # OpenAI's newer name for the system message; templates know "system"
        out.append(msg)
    return out


def _num(body: dict, name: str, default: float, lo: float, hi: float) -> float:
    v = body.get(name, default)
    if v is None:
        return default
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not lo <= v <= hi:
        raise APIError(400, f"'{name}' must be a number between {lo} and {hi}; got {v!r}", param=name)
    return float(v)


def parse_n(body: dict) -> int:
    n = body.get("n", 1)
    n = 1 if n is None else n
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 8:
        raise APIError(400, "'n' must be an integer from 1 to 8", param="n")
    return n


def parse_params(body: dict, cap: int) -> GenParams:
    max_tokens: Any = body.get("max_tokens", body.get("max_completion_tokens", cap))
    if max_tokens is None:
        max_tokens = cap
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise APIError(400, f"'max_tokens' must be a positive integer; got {max_tokens!r}", param="max_tokens")
    stop = body.get("stop") or []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop) or len(stop) > 4:
        raise APIError(400, "'stop' must be a string or a list of at most 4 strings", param="stop")
    seed = body.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise APIError(400, "'seed' must be an integer", param="seed")
    return GenParams(min(max_tokens, cap), _num(body, "temperature", 0.0, 0.0, 2.0), _num(body, "top_p", 1.0, 0.0, 1.0),
                     stop, seed)
