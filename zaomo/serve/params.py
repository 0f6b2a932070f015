"""A request body → what the engine is asked: normalised messages and generation parameters. Validation errors
name the offending parameter, as OpenAI's do."""

from __future__ import annotations

from typing import Any

from .engines import GenParams
from .errors import APIError


def parse_messages(body: dict) -> list[dict]:
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise APIError(400, "'messages' must be a non-empty list of {role, content}", param="messages")
    out = []
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant"):
            raise APIError(400, f"messages[{i}].role must be system, user or assistant", param=f"messages[{i}].role")
        c = m.get("content")
        if isinstance(c, list):  # content parts: keep the text ones
            c = "".join(p.get("text", "") for p in c if isinstance(p, dict))
        if not isinstance(c, str):
            raise APIError(400, f"messages[{i}].content must be a string", param=f"messages[{i}].content")
        out.append({"role": m["role"], "content": c})
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
