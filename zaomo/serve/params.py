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


# what each engine honours, per endpoint; anything else is refused by name (never silently dropped)
OURS = {"kb", "use_kb"}  # zaomo's own: answer from a knowledge base
METADATA = {"user", "metadata", "store"}  # recorded in the audit; no effect on the answer
COMMON = {"model", "max_tokens", "temperature", "top_p", "n", "stop", "seed", "presence_penalty",
          "frequency_penalty", "logit_bias", "logprobs", "stream", "stream_options"} | METADATA
BUILTIN = {"chat": COMMON | OURS | {"messages", "max_completion_tokens", "top_logprobs"},
           "text": COMMON | {"prompt", "echo", "best_of", "suffix"}}
NOT_SET = {"echo": (False,), "best_of": (1,), "suffix": ("",)}  # values that ask for nothing beyond the default


def check_supported(body: dict, kind: str, engine: Any, extra: set[str] = frozenset()) -> None:
    """A 400 naming the first parameter the engine cannot honour. A remote engine passes everything on."""
    if getattr(engine, "remote", False):
        return
    known = BUILTIN[kind] | extra
    for k, v in body.items():
        if v is None:
            continue
        if k not in known or (k in NOT_SET and not any(v is x or (type(v) is type(x) and v == x)
                                                         for x in NOT_SET[k])):
            raise APIError(400, f"'{k}' is not supported by the built-in engine on this endpoint",
                           param=k, code="unsupported_parameter")


def passthrough(body: dict) -> dict:
    """What a remote engine is sent unchanged: the request minus what the gateway itself handles."""
    drop = OURS | {"model", "messages", "prompt", "stream", "stream_options", "n", "max_completion_tokens"}
    return {k: v for k, v in body.items() if k not in drop and v is not None}


def _logit_bias(body: dict) -> dict[int, float]:
    lb = body.get("logit_bias") or {}
    try:
        out = {int(k): float(v) for k, v in lb.items()}
    except (AttributeError, TypeError, ValueError):
        raise APIError(400, "'logit_bias' must map token ids to numbers", param="logit_bias") from None
    if any(not -100 <= v <= 100 for v in out.values()):
        raise APIError(400, "'logit_bias' values must be between -100 and 100", param="logit_bias")
    return out


def _logprobs(body: dict, kind: str) -> tuple[bool, int]:
    lp = body.get("logprobs")
    if kind == "text":  # completions: logprobs is the number of alternatives (0-20 here; OpenAI allows 5)
        if lp is None:
            return False, 0
        if not isinstance(lp, int) or isinstance(lp, bool) or not 0 <= lp <= 20:
            raise APIError(400, "'logprobs' must be an integer from 0 to 20", param="logprobs")
        return True, lp
    if lp not in (None, True, False):
        raise APIError(400, "'logprobs' must be a boolean", param="logprobs")
    top = body.get("top_logprobs")
    if top is None:
        return bool(lp), 0
    if not isinstance(top, int) or isinstance(top, bool) or not 0 <= top <= 20:
        raise APIError(400, "'top_logprobs' must be an integer from 0 to 20", param="top_logprobs")
    if not lp:
        raise APIError(400, "'top_logprobs' needs 'logprobs': true", param="top_logprobs")
    return True, top


def include_usage(body: dict) -> bool:
    so = body.get("stream_options")
    if so is not None and not isinstance(so, dict):
        raise APIError(400, "'stream_options' must be an object", param="stream_options")
    return bool((so or {}).get("include_usage"))


def parse_params(body: dict, cap: int, kind: str = "chat", remote: bool = False) -> GenParams:
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
    logprobs, top = _logprobs(body, kind)
    return GenParams(min(max_tokens, cap), _num(body, "temperature", 0.0, 0.0, 2.0), _num(body, "top_p", 1.0, 0.0, 1.0),
                     stop, seed, _num(body, "presence_penalty", 0.0, -2.0, 2.0),
                     _num(body, "frequency_penalty", 0.0, -2.0, 2.0), _logit_bias(body), logprobs, top,
                     extra=passthrough(body) if remote else {})
