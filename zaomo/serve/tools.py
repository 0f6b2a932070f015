"""Tool calls on the built-in engine: the chat template renders `tools` (the model learnt its own format), and
the reply is read back into OpenAI `tool_calls`. Two conventions are understood: Hermes/Qwen's
`<tool_call>{"name": ..., "arguments": ...}</tool_call>` (any number of them, text around them is the content)
and a reply that is just one JSON object with a name and arguments (Llama-3.1 style, "parameters" too)."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

OPEN, CLOSE = "<tool_call>", "</tool_call>"
_BLOCK = re.compile(re.escape(OPEN) + r"\s*(.*?)\s*(?:" + re.escape(CLOSE) + r"|$)", re.S)


def supports_tools(tokenizer) -> bool:
    """Whether the tokenizer's chat template renders a `tools` list (templates that ignore it would drop the
    tool definitions silently)."""
    src = getattr(tokenizer, "chat_template", None) or ""
    return isinstance(src, str) and re.search(r"\btools\b", src) is not None


def _call(obj: Any) -> dict | None:
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return None
    args = obj.get("arguments", obj.get("parameters", {}))
    return {"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
            "function": {"name": obj["name"], "arguments": args if isinstance(args, str)
                         else json.dumps(args, ensure_ascii=False)}}


def parse_tool_calls(text: str) -> tuple[str | None, list[dict]]:
    """(content, tool_calls) of a reply; no tool calls when it holds none that parse."""
    if OPEN in text:
        calls = []
        for m in _BLOCK.finditer(text):
            try:
                c = _call(json.loads(m.group(1)))
            except json.JSONDecodeError:
                c = None
            if c is None:
                return text, []
            calls.append(c)
        content = _BLOCK.sub("", text).strip()
        return content or None, calls
    s = text.strip()
    if s.startswith("{") and s.endswith("}"):
        try:
            c = _call(json.loads(s))
        except json.JSONDecodeError:
            c = None
        if c is not None:
            return None, [c]
    return text, []


def may_be_tool_call(text: str) -> bool:
    """Whether a reply still being streamed may turn out to be a tool call (so it is held back, not sent as
    content): it is empty so far, starts with `{`, or starts with (a prefix of) <tool_call>."""
    s = text.lstrip()
    return not s or s.startswith("{") or s.startswith(OPEN) or OPEN.startswith(s)


def for_template(messages: list[dict]) -> list[dict]:
    """Assistant tool calls as chat templates expect them: arguments as an object (OpenAI sends a JSON string)."""
    out = []
    for m in messages:
        if m.get("tool_calls"):
            calls = []
            for c in m["tool_calls"]:
                fn = dict(c.get("function") or {})
                if isinstance(fn.get("arguments"), str):
                    try:
                        fn["arguments"] = json.loads(fn["arguments"])
                    except json.JSONDecodeError:
                        pass
                calls.append({**c, "function": fn})
            m = {**m, "tool_calls": calls}
        out.append(m)
    return out


def tool_options(body: dict, msgs: list[dict], tokenizer) -> tuple[list[dict] | None, set[str]]:
    """For the built-in engine: the tools to render (None when there are none or tool_choice is "none") and the
    tool parameters it accepts. A template that cannot render tools, or a tool_choice it cannot force, is a 400
    naming the parameter."""
    from .errors import APIError

    tools, choice = body.get("tools"), body.get("tool_choice")
    used = [i for i, m in enumerate(msgs) if m["role"] == "tool" or m.get("tool_calls")]
    if not tools and not used:
        return None, set()
    if not supports_tools(tokenizer):
        param = "tools" if tools else f"messages[{used[0]}]"
        raise APIError(400, f"'{param}': this model's chat template does not render tools or tool messages; "
                       "give it a template that does (tokenizer.chat_template)", param=param,
                       code="unsupported_parameter")
    if tools is not None and (not isinstance(tools, list) or not all(
            isinstance(t, dict) and t.get("type") == "function" and isinstance((t.get("function") or {}).get("name"), str)
            for t in tools)):
        raise APIError(400, "'tools' must be a list of {type: 'function', function: {name, parameters}}", param="tools")
    if choice not in (None, "auto", "none"):
        raise APIError(400, "'tool_choice' can only be 'auto' or 'none' on the built-in engine (it cannot force a "
                       "call)", param="tool_choice", code="unsupported_parameter")
    return (tools or None) if choice != "none" else None, {"tools", "tool_choice", "parallel_tool_calls"}
