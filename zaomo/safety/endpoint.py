"""A guard model behind any OpenAI-compatible endpoint (vLLM, Ollama, a hosted API), as the guard's slowest
and most capable layer, for teams that have one.

Two ways to ask (`safety.guard_endpoint.prompt`):
- `policy`: one user message holding a Llama-Guard-style task — zaomo's categories as S1…S8, the conversation,
  "answer safe or unsafe, then the violated categories" — so any instruction model, or a guard model that
  takes a custom policy, judges by zaomo's policy;
- `plain`: the conversation as chat messages; the guard model's own chat template wraps it in its own task and
  categories (Llama Guard 3, Qwen3Guard as vLLM serves them), mapped back by `guard_endpoint.categories`.

Verdicts parsed: Llama Guard's "safe" / "unsafe\\nS1,S3" and Qwen3Guard's "Safety: Unsafe\\nCategories: Violent,
PII" ("Controversial" counts as `guard_endpoint.controversial` says). An error, a timeout or a reply that is
neither is decided by `guard_endpoint.fail`: open lets the request through, closed refuses it; both are
counted (`GuardEndpoint.stats`) and recorded with the verdict.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from ..config.safety import GuardEndpointConfig
from .policy_set import CATEGORIES, CATEGORY_DESCRIPTIONS

UNVERIFIED = "unverified"  # the category of a request refused because the guard model could not judge it
UNKNOWN = "unsafe"  # the category of an unsafe verdict whose code is not mapped
ROLES = {"user": "User", "assistant": "Agent", "system": "System", "tool": "Tool"}

_QWEN = re.compile(r"safety\s*[:：]\s*(safe|unsafe|controversial)\b", re.IGNORECASE)
_QWEN_CATS = re.compile(r"categories\s*[:：]\s*(.*)", re.IGNORECASE)
_LLAMA = re.compile(r"^\W*(safe|unsafe)\b[\s:,.\-]*(.*)$", re.IGNORECASE)


def policy_codes() -> dict[str, str]:
    """S1… → zaomo category, in the order the policy prompt lists them."""
    return {f"S{i}": c for i, c in enumerate(CATEGORIES, 1)}


def policy_prompt(messages: list[dict]) -> str:
    """The Llama-Guard-style task: zaomo's categories, the conversation, the answer format."""
    cats = "\n".join(f"{code}: {cat}. {CATEGORY_DESCRIPTIONS[cat]}." for code, cat in policy_codes().items())
    conv = "\n\n".join(f"{ROLES.get(m.get('role', 'user'), 'User')}: {_text(m.get('content'))}" for m in messages)
    return ("Task: Check if there is unsafe content in 'User' messages in conversations according to our safety "
            "policy with the below categories.\n\n<BEGIN UNSAFE CONTENT CATEGORIES>\n"
            f"{cats}\n<END UNSAFE CONTENT CATEGORIES>\n\n<BEGIN CONVERSATION>\n\n{conv}\n\n<END CONVERSATION>\n\n"
            "Provide your safety assessment for ONLY THE LAST User message in the above conversation:\n"
            " - First line must read 'safe' or 'unsafe'.\n"
            " - If unsafe, a second line must include a comma-separated list of violated categories.")


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content or "")


def parse_verdict(text: str) -> tuple[str, list[str]] | None:
    """("safe"|"unsafe"|"controversial", category codes) from a guard model's reply; None when it is neither
    shape."""
    t = (text or "").strip()
    if m := _QWEN.search(t):
        cats = _QWEN_CATS.search(t)
        codes = [c.strip() for c in re.split(r"[,，;；]", cats.group(1)) if c.strip()] if cats else []
        return m.group(1).lower(), [c for c in codes if c.lower() != "none"]
    lines = [line.strip() for line in t.splitlines() if line.strip()]
    if not lines or not (m := _LLAMA.match(lines[0])):
        return None
    verdict = m.group(1).lower()
    rest = " ".join([m.group(2), *lines[1:2]]) if verdict == "unsafe" else ""
    return verdict, [c for c in re.split(r"[\s,，;；]+", rest) if c]


@dataclass
class EndpointVerdict:
    """The guard model's view of a conversation."""

    verdict: str  # safe | unsafe | error | unparsable
    flagged: bool
    categories: list[str] = field(default_factory=list)  # zaomo categories
    codes: list[str] = field(default_factory=list)  # as the guard model wrote them
    raw: str = ""
    error: str = ""
    fail: str | None = None  # "open" | "closed" when the fail rule decided
    ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ms"] = round(self.ms, 1)
        d["raw"] = self.raw[:500]
        return d


class GuardEndpoint:
    """Asks the configured endpoint for a verdict; one HTTP client, reused."""

    def __init__(self, cfg: GuardEndpointConfig, client: httpx.Client | None = None):
        if not cfg.url:
            raise ValueError("safety.guard_endpoint.url is not set")
        self.cfg = cfg
        self.url = cfg.url.rstrip("/") + "/chat/completions"
        key = os.environ.get(cfg.api_key_env)
        self.client = client or httpx.Client(timeout=cfg.timeout_s,
                                             headers={"Authorization": f"Bearer {key}"} if key else {})
        self.stats: Counter[str] = Counter()  # safe, unsafe, error, unparsable, fail_open, fail_closed
        self._lock = threading.Lock()

    def _count(self, *keys: str) -> None:
        with self._lock:
            self.stats.update(keys)

    def category_of(self, code: str) -> str:
        if self.cfg.prompt == "policy":
            codes = policy_codes()
            if code.upper() in codes:
                return codes[code.upper()]
            return code.lower() if code.lower() in CATEGORIES else UNKNOWN
        return self.cfg.categories.get(code.lower(), self.cfg.categories.get(code, UNKNOWN))

    def ask(self, messages: list[dict]) -> str:
        """The guard model's raw reply (raises on HTTP errors and timeouts)."""
        msgs = [{"role": "user", "content": policy_prompt(messages)}] if self.cfg.prompt == "policy" else \
            [{"role": m.get("role", "user"), "content": _text(m.get("content"))} for m in messages]
        r = self.client.post(self.url, json={"model": self.cfg.model, "messages": msgs, "temperature": 0,
                                             "max_tokens": self.cfg.max_tokens},
                             timeout=self.cfg.timeout_s)
        r.raise_for_status()
        return str(r.json()["choices"][0]["message"]["content"] or "")

    def check(self, messages: list[dict]) -> EndpointVerdict:
        """The verdict on a conversation (its last user message, in context); never raises."""
        t0 = time.perf_counter()
        try:
            raw = self.ask(messages)
        except httpx.TimeoutException:
            return self._failed("error", f"no verdict within {self.cfg.timeout_s:g} s", "", t0)
        except httpx.HTTPStatusError as e:
            return self._failed("error", f"HTTP {e.response.status_code} from {self.url}", e.response.text, t0)
        except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as e:
            return self._failed("error", f"{type(e).__name__}: {e}", "", t0)
        parsed = parse_verdict(raw)
        if parsed is None:
            return self._failed("unparsable", "the reply is neither 'safe'/'unsafe' nor 'Safety: …'", raw, t0)
        verdict, codes = parsed
        if verdict == "controversial":
            verdict = self.cfg.controversial
        flagged = verdict == "unsafe"
        cats = list(dict.fromkeys(self.category_of(c) for c in codes)) or ([UNKNOWN] if flagged else [])
        self._count(verdict)
        return EndpointVerdict(verdict, flagged, cats if flagged else [], codes, raw,
                               ms=(time.perf_counter() - t0) * 1000)

    def _failed(self, kind: str, error: str, raw: str, t0: float) -> EndpointVerdict:
        closed = self.cfg.fail == "closed"
        self._count(kind, f"fail_{self.cfg.fail}")
        return EndpointVerdict(kind, closed, [UNVERIFIED] if closed else [], [], raw, error, self.cfg.fail,
                               (time.perf_counter() - t0) * 1000)

    def close(self) -> None:
        self.client.close()
