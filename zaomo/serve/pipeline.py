"""The one request pipeline every route goes through: auth → rate limit → input guard → engine → output guard
→ audit. The routers (`openai_api`, `console_api`, `admin`) only parse and shape; what a request is allowed,
how it is checked and what is recorded lives here, so the OpenAI API, the console and the admin endpoints
cannot drift apart."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from ..model.prompting import with_prompt
from ..records import ApiKey, AuditRecord
from ..safety import SEVERITY, Guard, blocks, is_chinese
from ..workspace import Workspace
from .engines import Done
from .errors import APIError, error_body
from .prompts import PromptCache

STREAM_CHECK_OVERLAP = 64  # characters of already-checked answer re-checked with each streamed delta
_PII_HOLD_MAX = 40  # longer than an ID-card, bank-card or phone number; a longer run (code, base64) flows
_PII_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ@._+-")
log = logging.getLogger("zaomo.serve")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def release_upto(text: str) -> int:
    """How much of a streamed answer may be sent now: all but its trailing run of number/e-mail characters
    (separators before a digit included), which may be the start of PII the guard can only mask once whole.
    Scans back at most _PII_HOLD_MAX characters, so it is O(1) per delta."""
    i, stop = len(text), max(0, len(text) - _PII_HOLD_MAX)
    while i > stop:
        c = text[i - 1]
        if c in _PII_CHARS or (c == " " and i < len(text) and text[i].isdigit()):
            i -= 1
        else:
            break
    return i


def close_stream(tokens) -> None:
    """End a generation early (frees its batch slot); a TokenStream closes from any thread, a plain generator
    still running in a worker thread cannot and is left to finish."""
    try:
        tokens.close()
    except (AttributeError, ValueError):
        pass


async def pull(tokens) -> AsyncIterator[Any]:
    """An engine's stream on the event loop: natively when it is async-iterable (the built-in engine), else one
    `next()` per item in a worker thread (a remote engine's blocking HTTP stream)."""
    if hasattr(tokens, "__anext__"):
        async for d in tokens:
            yield d
        return
    while (d := await anyio.to_thread.run_sync(next, tokens, None, abandon_on_cancel=True)) is not None:
        yield d


async def merged(streams: list) -> AsyncIterator[tuple[int, Any]]:
    """(choice index, item) from several streams as they come; an engine error arrives as the item."""
    if len(streams) == 1:
        async for d in pull(streams[0]):
            yield 0, d
        return
    q: asyncio.Queue = asyncio.Queue()

    async def pump(i: int, s) -> None:
        try:
            async for d in pull(s):
                await q.put((i, d))
        except Exception as e:  # noqa: BLE001 — handed to the consumer, who raises it
            await q.put((i, e))
        finally:
            await q.put((i, None))

    tasks = [asyncio.create_task(pump(i, s)) for i, s in enumerate(streams)]
    try:
        left = len(streams)
        while left:
            i, d = await q.get()
            if d is None:
                left -= 1
            elif isinstance(d, Exception):
                raise d
            else:
                yield i, d
    finally:
        for t in tasks:
            t.cancel()


async def canned(text: str, finish: str = "content_filter") -> AsyncIterator[Any]:
    """A stream that says `text` and ends: what a refused request streams instead of the model."""
    yield text
    yield Done(finish, 0, 0)


@dataclass
class Choice:
    """One generated answer after the output guard."""

    text: str | None
    finish: str
    done: Done
    tool_calls: list[dict] | None = None


@dataclass
class Call:
    """One API request on its way through the pipeline."""

    endpoint: str  # chat.completions | completions | embeddings
    rid: str
    key_id: int | None
    body: dict
    t0: float
    engine: Any = None
    model: str = ""
    stored: dict | None = None  # what the audit records of the request (normalised; PII masked later)
    decisions: dict[str, Any] = field(default_factory=dict)
    refusal: str = ""
    citations: list[dict] | None = None
    parse_tools: bool = False  # read tool calls out of the built-in engine's text
    prompt: tuple[str, int] | None = None  # (name, version) of the served prompt applied to this request


def usage_of(dones: list[Done]) -> dict:
    """Usage of one request's choices: the prompt once, every choice's tokens; marked when estimated."""
    pt = dones[0].prompt_tokens if dones else 0
    ct = sum(d.completion_tokens for d in dones)
    out: dict[str, Any] = {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}
    if any(d.estimated for d in dones):
        out["estimated"] = True  # the remote engine reported no usage and no tokenizer was at hand
    return out


def logprobs_of(done: Done, kind: str) -> dict | None:
    """A choice's logprobs in the shape of its endpoint: chat's {content: [...]} or the completions'
    {tokens, token_logprobs, top_logprobs, text_offset}."""
    if done.logprobs is None:
        return None
    if kind == "chat":
        return {"content": done.logprobs, "refusal": None}
    offsets, at = [], 0
    for e in done.logprobs:
        offsets.append(at)
        at += len(e["token"])
    return {"tokens": [e["token"] for e in done.logprobs], "token_logprobs": [e["logprob"] for e in done.logprobs],
            "top_logprobs": [{t["token"]: t["logprob"] for t in e.get("top_logprobs") or []}
                             for e in done.logprobs], "text_offset": offsets}


class Metrics:
    """Prometheus counters of one app (its own registry, so two apps in one process do not collide)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("zaomo_requests_total", "requests", ["endpoint", "status"], registry=self.registry)
        self.latency = Histogram("zaomo_request_seconds", "request latency", ["endpoint"], registry=self.registry)
        self.guard = Counter("zaomo_guard_actions_total", "guard decisions", ["where", "action"],
                             registry=self.registry)
        self.guard_layers = Counter("zaomo_guard_layer_verdicts_total", "input guard verdicts per layer "
                                    "(words, classifier, endpoint: safe/unsafe/error/unparsable)",
                                    ["layer", "verdict"], registry=self.registry)
        self.engine = Gauge("zaomo_engine", "built-in engine batching: running, waiting, max_batch, ...", ["stat"],
                            registry=self.registry)


class Gateway:
    """What every route shares: the workspace, the engines, the guard, the audit log and the limits."""

    def __init__(self, ws: Workspace, engine: Any = None):
        from .models import make_engines

        self.ws, self.cfg, self.reg = ws, ws.cfg.serve, ws.registry
        self.engines: dict[str, Any] = make_engines(ws, engine)
        self.default = next(iter(self.engines))
        self.state: dict[str, Any] = {}  # runtime counters, shown as app.state.zaomo
        self.kbs: dict[str, Any] = {}
        self.window: dict[str, list[float]] = {}  # per key (or client address): request times in the last minute
        self.embedder = None
        if self.cfg.embedding_model:
            from .embeddings import Embedder

            self.embedder = Embedder(ws.path(self.cfg.embedding_model), device=ws.cfg.project.device,
                                     name=Path(self.cfg.embedding_model).name)
        self.guard = Guard(ws.cfg.safety, ws.root) if self.cfg.guard else None
        self.prompts = PromptCache(self.reg, self.cfg.prompt)
        self.metrics = Metrics()

    @property
    def engine(self) -> Any:
        """The default engine (what /health reports)."""
        return self.engines[self.default]

    # auth and limits
    def auth(self, request: Request) -> int | None:
        key_id = self._key(request)
        self.rate_limit(f"key:{key_id}" if key_id is not None
                        else f"ip:{request.client.host if request.client else '?'}")
        return key_id

    def _key(self, request: Request) -> int | None:
        if not self.cfg.require_keys:
            return None
        key = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not key:
            raise APIError(401, "missing API key: send 'Authorization: Bearer <key>'", "authentication_error",
                           code="invalid_api_key")
        with self.reg.session() as s:
            row = s.scalars(select(ApiKey).where(ApiKey.hash == hash_key(key), ApiKey.revoked.is_(False))).first()
        if row is None:
            raise APIError(401, "invalid or revoked API key", "authentication_error", code="invalid_api_key")
        return row.id

    def rate_limit(self, who: str) -> None:
        limit = self.cfg.rate_limit_per_minute
        if not limit:
            return
        now = time.monotonic()
        recent = [t for t in self.window.get(who, []) if now - t < 60]
        if len(recent) >= limit:
            self.window[who] = recent
            raise APIError(429, f"rate limit of {limit} requests per minute exceeded; retry in "
                           f"{60 - (now - recent[0]):.0f} s", "rate_limit_error", code="rate_limit_exceeded")
        recent.append(now)
        self.window[who] = recent

    async def read_json(self, request: Request) -> dict:
        raw = await request.body()
        if len(raw) > self.cfg.max_body_bytes:
            raise APIError(413, f"request body exceeds serve.max_body_bytes={self.cfg.max_body_bytes}")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise APIError(400, "request body is not valid UTF-8") from None
        try:
            body = json.loads(text)
        except json.JSONDecodeError as e:
            raise APIError(400, f"malformed JSON body: {e.msg} at line {e.lineno} column {e.colno}") from None
        if not isinstance(body, dict):
            raise APIError(400, "the JSON body must be an object")
        return body

    async def begin(self, request: Request, endpoint: str, prefix: str) -> Call:
        """Auth, rate limit, a due hot-reload check, the body, and the engine the request's `model` names."""
        t0 = time.perf_counter()
        key_id = self.auth(request)
        if time.monotonic() - self.state.get("checked", 0) >= 2:  # at most every 2 s, off the event loop
            await run_in_threadpool(self.maybe_reload)
        body = await self.read_json(request)
        engine = self.engine_for(body.get("model"))
        return Call(endpoint, f"{prefix}-{uuid.uuid4().hex[:24]}", key_id, body, t0, engine,
                    body.get("model") or engine.name)

    def engine_for(self, model: Any) -> Any:
        if model in (None, "default"):
            return self.engine
        if isinstance(model, str) and model in self.engines:
            return self.engines[model]
        raise APIError(404, f"model '{model}' does not exist; available: {', '.join(self.engines)}", param="model",
                       code="model_not_found")

    def maybe_reload(self, force: bool = False) -> None:
        """Hot reload: when another version of a served model is promoted, load it and swap; requests in
        flight finish on the old weights (the engine swaps under its lock)."""
        if not force and time.monotonic() - self.state.get("checked", 0) < 2:
            return
        self.state["checked"] = time.monotonic()
        for engine in self.engines.values():
            if not callable(getattr(engine, "load", None)):
                continue
            mv = self.reg.get_model(engine.name)
            if mv is None or mv.status != "promoted":
                continue
            path = str(self.ws.path(mv.path))
            if path != str(engine.path):
                engine.load(path, device=self.ws.cfg.project.device)
                self.state["version"] = f"{mv.name}:{mv.version}"

    def kb_for(self, name: str):
        if name not in self.kbs:
            from ..kb import KnowledgeBase

            try:
                self.kbs[name] = KnowledgeBase.load(self.ws.kb_dir(name))
            except FileNotFoundError:
                raise APIError(404, f"knowledge base '{name}' does not exist; build it with `zaomo kb build`",
                               param="kb", code="kb_not_found") from None
        return self.kbs[name]

    def apply_prompt(self, call: Call, msgs: list[dict], client_system: bool) -> list[dict]:
        """The served prompt of the call's model put into the (guarded, retrieved) conversation by the rule of
        `model.prompting`; with serve.prompt_client_system=replace a client's own system message wins. The
        operator's prompt is not run through the input guard: it is trusted configuration, not user input."""
        if client_system and self.cfg.prompt_client_system == "replace":
            return msgs
        p = self.prompts.for_model(call.engine.name if call.engine is not None else call.model)
        if p is None:
            return msgs
        call.prompt = (p.name, p.version)
        return with_prompt(msgs, p.text, p.template)

    # the guard
    def refusal_for(self, text: str) -> str:
        s = self.ws.cfg.safety
        return s.refusal_zh if is_chinese(text) else s.refusal_en

    def check_input(self, call: Call, texts: list[str], conversation: list[dict] | None = None) -> list[str] | None:
        """The input guard over every text the model will read, then the guard model (when configured) once
        over the conversation: the (masked) texts, or None when refused. Blocking (a classifier's first use,
        an endpoint call): call it from a worker thread."""
        if self.guard is None:
            return texts
        results = self.guard.check_many(texts, where="input")
        if not results:
            return texts
        worst = max(reversed(results), key=lambda g: SEVERITY[g.action])  # ties: the latest text
        layers, reason, action = dict(worst.layers), [worst.reason] if worst.reason else [], worst.action
        if worst.allowed and self.guard.endpoint is not None:
            j = self.guard.judge(conversation or [{"role": "user", "content": "\n".join(texts)}])
            layers.update(j.layers)
            reason += [j.reason] if j.reason else []
            action = j.action if SEVERITY[j.action] > SEVERITY[action] else action
        for name, layer in layers.items():
            self.metrics.guard_layers.labels(name, layer.get("verdict", "?")).inc()
        self.metrics.guard.labels("input", action).inc()
        call.decisions["input"] = {"action": action, "reason": "; ".join(reason), "layers": layers}
        return [g.text for g in results] if not blocks(action) else None

    def guard_messages(self, call: Call, msgs: list[dict]) -> list[dict] | None:
        """The input guard over the whole conversation — every system, user and tool message, each text part —
        so harm in an earlier turn or the system prompt is caught too: the messages (masked), or None."""
        from .params import GUARDED_ROLES

        units = [(i, j) for i, m in enumerate(msgs) if m["role"] in GUARDED_ROLES
                 for j in (range(len(m["content"])) if isinstance(m["content"], list) else [None])
                 if j is None or (isinstance(m["content"][j], dict) and isinstance(m["content"][j].get("text"), str))]

        def text(i: int, j: int | None) -> str:
            return msgs[i]["content"] if j is None else msgs[i]["content"][j]["text"]

        checked = self.check_input(call, [text(i, j) for i, j in units],
                                   [{"role": msgs[i]["role"], "content": text(i, j)} for i, j in units])
        if checked is None:
            return None
        out = [dict(m) for m in msgs]
        for (i, j), t in zip(units, checked, strict=True):
            if t == text(i, j):
                continue
            if j is None:
                out[i]["content"] = t
            else:
                out[i]["content"] = [dict(p) for p in out[i]["content"]]
                out[i]["content"][j]["text"] = t
        return out

    def check_output(self, text: str, decisions: dict) -> tuple[str, bool]:
        if self.guard is None:
            return text, True
        g = self.guard.check(text, where="output")
        if g.action != "allow":
            decisions["output"] = {"action": g.action, "reason": g.reason}
            self.metrics.guard.labels("output", g.action).inc()
        return g.text, g.allowed

    def check_growing(self, full: str, new: int, checked: str, decisions: dict) -> tuple[str, bool]:
        """The output guard on a streamed answer that grew by `new` characters, `checked` being the guarded
        form of the rest. Only the new text and STREAM_CHECK_OVERLAP characters before it are checked (a blocked
        term or PII pattern is shorter than that); only when that window has a finding is the whole answer checked
        again. So guarding costs linear, not quadratic, time in the answer's length."""
        if self.guard is None:
            return full, True
        window = full[max(0, len(full) - new - STREAM_CHECK_OVERLAP):]
        g = self.guard.check(window, where="output")
        if g.action == "allow" and g.text == window:
            return checked + full[len(full) - new:], True
        return self.check_output(full, decisions)

    # the engine, behind the output guard
    async def collect(self, stream) -> tuple[str, Done]:
        """Run a generation to the end: its text and its Done (token counts, finish reason)."""
        text, done = "", Done("stop", 0, 0)
        try:
            async for d in pull(stream):
                if isinstance(d, Done):
                    done = d
                else:
                    text += d
        except ValueError as e:
            raise APIError(400, str(e), code="context_length_exceeded") from None
        except RuntimeError as e:  # a remote engine's upstream failed
            raise APIError(502, str(e), "upstream_error", code="upstream_error") from None
        finally:
            close_stream(stream)
        return text, done

    async def choices(self, call: Call, streams: list) -> list[Choice]:
        """Every stream to its end, guarded: a refused answer becomes the refusal with finish content_filter."""
        try:
            results = await asyncio.gather(*(self.collect(s) for s in streams))
        finally:
            for s in streams:
                close_stream(s)
        out = []
        for text, done in results:
            checked, ok = self.check_output(text, call.decisions)
            choice = self.tool_choice(call, checked, done) if ok else None
            out.append(choice if choice is not None else Choice(call.refusal, "content_filter", done))
        return out

    def tool_choice(self, call: Call, text: str, done: Done) -> Choice | None:
        """A guarded answer as a choice, with its tool calls (the remote engine's, or parsed from the built-in
        engine's text); None when a call's arguments fail the output guard."""
        calls, finish = done.tool_calls, done.finish_reason
        content: str | None = text
        if call.parse_tools and not calls:
            from .tools import parse_tool_calls

            content, calls = parse_tool_calls(text)
            finish = "tool_calls" if calls else finish
        for c in calls or []:
            if not self.check_output(c["function"]["arguments"], call.decisions)[1]:
                return None
        return Choice((content or None) if calls else text, finish, done, calls or None)

    async def sse(self, call: Call, streams: list, kind: str, include_usage: bool = False) -> AsyncIterator[str]:
        """SSE chunks of `kind` "chat" or "text" for every choice, each cut at its first guard violation and with
        trailing digits held back until a PII pattern is whole. When the client goes away the generations are
        closed (their batch slots freed) and the partial answer audited as 499."""
        created = int(time.time())
        n = len(streams)

        def chunk(i: int | None, text: str | None = None, finish: str | None = None, role: bool = False,
                  extra: dict | None = None, logprobs: dict | None = None, tool_calls: list | None = None) -> str:
            if kind == "chat":
                delta: dict[str, Any] = {"role": "assistant", "content": ""} if role else \
                    ({} if text is None else {"content": text})
                if tool_calls:
                    delta["tool_calls"] = [{"index": k, **c} for k, c in enumerate(tool_calls)]
                ch: dict[str, Any] = {"index": i, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
                obj = "chat.completion.chunk"
            else:
                ch = {"index": i, "text": text or "", "logprobs": logprobs, "finish_reason": finish}
                obj = "text_completion"
            c = {"id": call.rid, "object": obj, "created": created, "model": call.model,
                 "choices": [ch] if i is not None else []}
            if extra:
                c.update(extra)
            return f"data: {json.dumps(c, ensure_ascii=False)}\n\n"

        full, sent, checked = [""] * n, [""] * n, [""] * n
        finish: list[str | None] = [None] * n
        dones = [Done("stop", 0, 0) for _ in range(n)]

        def step(i: int, d: Any) -> list[str]:
            """The chunks one engine item of choice `i` releases."""
            if isinstance(d, Done):
                dones[i], finish[i] = d, d.finish_reason
                if d.tool_calls or (call.parse_tools and not sent[i]):
                    c = self.tool_choice(call, checked[i], d)
                    if c is None:
                        finish[i] = "content_filter"
                        sent[i] = call.refusal
                        return [chunk(i, call.refusal)]
                    if c.tool_calls:
                        finish[i] = c.finish
                        return ([chunk(i, c.text)] if c.text and not sent[i] else []) + \
                            [chunk(i, tool_calls=c.tool_calls)]
                if checked[i].startswith(sent[i]) and len(checked[i]) > len(sent[i]):
                    tail, sent[i] = checked[i][len(sent[i]):], checked[i]
                    return [chunk(i, tail)]  # the held-back tail, now complete
                return []
            full[i] += d
            checked[i], ok = self.check_growing(full[i], len(d), checked[i], call.decisions)
            if not ok:  # cut at the first violation
                finish[i] = "content_filter"
                close_stream(streams[i])
                out = [chunk(i, ("\n" if sent[i] else "") + call.refusal)]
                sent[i] += call.refusal
                return out
            if call.parse_tools and not sent[i]:
                from .tools import may_be_tool_call

                if may_be_tool_call(checked[i]):
                    return []  # held until it is clear whether this is a tool call
            ready = checked[i][:release_upto(checked[i])]
            if ready.startswith(sent[i]) and len(ready) > len(sent[i]):
                out, sent[i] = [chunk(i, ready[len(sent[i]):])], ready
                return out
            return []

        status = 499  # until the last chunk is handed over
        try:
            if kind == "chat":
                for i in range(n):
                    yield chunk(i, role=True)
            try:
                async for i, d in merged(streams):
                    if finish[i] is None:
                        for c in step(i, d):
                            yield c
                    if all(f is not None for f in finish):
                        break
            except (ValueError, RuntimeError) as e:  # too long a prompt; a remote engine's upstream failed
                finish = [f or "error" for f in finish]
                kind_ = "invalid_request_error" if isinstance(e, ValueError) else "upstream_error"
                yield f"data: {json.dumps(error_body(str(e), kind_))}\n\n"
            usage = usage_of(dones)
            for i in range(n):
                extra: dict[str, Any] = {"usage": usage}
                if call.citations is not None:
                    extra["citations"] = call.citations
                yield chunk(i, None, finish[i] or "stop", extra=extra, logprobs=logprobs_of(dones[i], kind))
            if include_usage:  # OpenAI's stream_options.include_usage: a last chunk with no choices
                yield chunk(None, extra={"usage": usage})
            yield "data: [DONE]\n\n"
            status = 200
        finally:
            for s in streams:
                close_stream(s)
            self.audit(call, sent[0] if sent else "", status, usage_of(dones))
            self.observe(call, status)

    # the record
    def observe(self, call: Call, status: int) -> None:
        label = {"chat.completions": "chat"}.get(call.endpoint, call.endpoint)
        self.metrics.requests.labels(label, str(status)).inc()
        self.metrics.latency.labels(label).observe(time.perf_counter() - call.t0)

    def audit(self, call: Call, response: str | None, status: int, usage: dict | None) -> None:
        if not self.cfg.audit:
            return
        from ..safety.pii import mask_pii
        from .params import map_text

        stored = dict(call.stored if call.stored is not None else call.body)
        if self.cfg.audit_mask_pii:
            if isinstance(stored.get("messages"), list):
                stored["messages"] = [{**m, "content": map_text(m.get("content"), lambda t: mask_pii(t)[0])}
                                      if isinstance(m, dict) else m for m in stored["messages"]]
            for k in ("input", "prompt"):
                if isinstance(stored.get(k), str):
                    stored[k] = mask_pii(stored[k])[0]
                elif isinstance(stored.get(k), list):
                    stored[k] = [mask_pii(t)[0] if isinstance(t, str) else t for t in stored[k]]
            response = mask_pii(response)[0] if response else response
        engine = call.engine
        with self.reg.session.begin() as s:
            s.add(AuditRecord(id=call.rid, key_id=call.key_id, endpoint=call.endpoint,
                              model=engine.name if engine is not None else call.model,
                              model_version=getattr(engine, "path", None), request=stored,
                              response=response, guard=call.decisions, status=status,
                              latency_ms=(time.perf_counter() - call.t0) * 1000,
                              prompt_tokens=(usage or {}).get("prompt_tokens"),
                              completion_tokens=(usage or {}).get("completion_tokens"),
                              prompt_name=call.prompt[0] if call.prompt else None,
                              prompt_version=call.prompt[1] if call.prompt else None))

    def respond(self, call: Call, out: dict, response: str | None, usage: dict | None) -> JSONResponse:
        """Audit and count a finished request; its JSON body."""
        self.audit(call, response, 200, usage)
        self.observe(call, 200)
        return JSONResponse(out)
