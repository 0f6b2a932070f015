"""The OpenAI-compatible gateway: /v1/models, /v1/chat/completions (JSON and SSE), /v1/feedback, /health,
/metrics — with the local guard on input and output, optional knowledge-base answers with citations,
API keys when required, and every request audited in the workspace database."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from ..records import ApiKey, AuditRecord, Feedback
from ..safety import Guard, is_chinese
from ..workspace import Workspace
from .engines import BuiltinEngine, Done, GenParams, RemoteEngine


class APIError(Exception):
    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def make_engine(ws: Workspace):
    cfg = ws.cfg.serve
    if cfg.engine == "remote":
        import os

        return RemoteEngine(cfg.remote_url or "", cfg.model or "default", os.environ.get(cfg.remote_api_key_env))
    if cfg.engine == "vllm":
        from .vllm import VLLMEngine

        return VLLMEngine.from_config(ws)
    ref = cfg.model or ws.cfg.project.name
    return BuiltinEngine(ws.resolve_model(ref), device=ws.cfg.project.device, name=ref,
                         dtype=ws.cfg.model.dtype, max_batch_size=cfg.max_batch_size, batch_wait_ms=cfg.batch_wait_ms)


def _validate_messages(body: dict) -> list[dict]:
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


def _params(body: dict, cap: int) -> GenParams:
    def num(name: str, default: float, lo: float, hi: float) -> float:
        v = body.get(name, default)
        if v is None:
            return default
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not lo <= v <= hi:
            raise APIError(400, f"'{name}' must be a number between {lo} and {hi}; got {v!r}", param=name)
        return float(v)

    max_tokens = body.get("max_tokens", body.get("max_completion_tokens", cap))
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
    return GenParams(min(max_tokens, cap), num("temperature", 0.0, 0.0, 2.0), num("top_p", 1.0, 0.0, 1.0), stop, seed)


AUDIT_PURGE_EVERY_S = 3600.0
STREAM_CHECK_OVERLAP = 64  # characters of already-checked answer re-checked with each streamed delta
_PII_HOLD_MAX = 40  # longer than an ID-card, bank-card or phone number; a longer run (code, base64) flows
_PII_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ@._+-")


def _release_upto(text: str) -> int:
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


class _BodyLimit:
    """Refuse a body whose declared size is over the limit before reading it (plain ASGI: no per-request cost
    beyond a header scan)."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            size = dict(scope["headers"]).get(b"content-length", b"")
            if size.isdigit() and int(size) > self.limit:
                resp = JSONResponse(error_body(f"request body of {int(size)} bytes exceeds serve.max_body_bytes="
                                               f"{self.limit}", "invalid_request_error", code="body_too_large"),
                                    status_code=413)
                await resp(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _close(tokens) -> None:
    """End a generation early (frees its batch slot); a TokenStream closes from any thread, a plain generator
    still running in a worker thread cannot and is left to finish."""
    try:
        tokens.close()
    except (AttributeError, ValueError):
        pass


async def _pull(tokens):
    """An engine's stream on the event loop: natively when it is async-iterable (the built-in engine), else one
    `next()` per item in a worker thread (a remote engine's blocking HTTP stream)."""
    if hasattr(tokens, "__anext__"):
        async for d in tokens:
            yield d
        return
    while (d := await anyio.to_thread.run_sync(next, tokens, None, abandon_on_cancel=True)) is not None:
        yield d


def create_app(ws: Workspace, engine: Any = None) -> FastAPI:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

    cfg = ws.cfg.serve

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        """With a retention set, purge old audit rows now and then every AUDIT_PURGE_EVERY_S."""
        task = asyncio.create_task(_purge_audit_forever()) if cfg.audit_retention_days else None
        yield
        if task is not None:
            task.cancel()

    async def _purge_audit_forever() -> None:
        from .audit import purge_audit

        while True:
            try:
                state["audit_purged"] = state.get("audit_purged", 0) + await run_in_threadpool(
                    purge_audit, ws.registry, cfg.audit_retention_days)
            except Exception as e:  # noqa: BLE001 — a failed purge (database busy) is retried, never fatal
                logging.getLogger("zaomo.serve").warning("audit purge failed, retrying later: %s", e)
            await asyncio.sleep(AUDIT_PURGE_EVERY_S)

    app = FastAPI(title="zaomo", version="0.1", lifespan=lifespan)
    state: dict[str, Any] = {"engine": engine or make_engine(ws), "kbs": {}, "embedder": None}
    if cfg.embedding_model:
        from .embeddings import Embedder

        state["embedder"] = Embedder(ws.path(cfg.embedding_model), device=ws.cfg.project.device,
                                     name=Path(cfg.embedding_model).name)
    guard = Guard(ws.cfg.safety, ws.root) if cfg.guard else None
    reg = ws.registry
    prom = CollectorRegistry()
    requests_total = Counter("zaomo_requests_total", "requests", ["endpoint", "status"], registry=prom)
    latency = Histogram("zaomo_request_seconds", "request latency", ["endpoint"], registry=prom)
    guard_total = Counter("zaomo_guard_actions_total", "guard decisions", ["where", "action"], registry=prom)
    engine_gauge = Gauge("zaomo_engine", "built-in engine batching: running, waiting, max_batch, ...", ["stat"],
                         registry=prom)
    need_keys = cfg.require_keys

    if cfg.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=cfg.cors_origins, allow_methods=["*"], allow_headers=["*"])

    @app.exception_handler(APIError)
    async def _api_error(_: Request, e: APIError):
        requests_total.labels("error", str(e.status)).inc()
        return JSONResponse(error_body(e.message, e.type, e.param, e.code), status_code=e.status)

    app.add_middleware(_BodyLimit, limit=cfg.max_body_bytes)

    window: dict[str, list[float]] = {}  # per key (or client address): request times in the last minute

    def rate_limit(who: str) -> None:
        limit = cfg.rate_limit_per_minute
        if not limit:
            return
        now = time.monotonic()
        recent = [t for t in window.get(who, []) if now - t < 60]
        if len(recent) >= limit:
            window[who] = recent
            raise APIError(429, f"rate limit of {limit} requests per minute exceeded; retry in "
                           f"{60 - (now - recent[0]):.0f} s", "rate_limit_error", code="rate_limit_exceeded")
        recent.append(now)
        window[who] = recent

    def auth(request: Request) -> int | None:
        key_id = _auth(request)
        rate_limit(f"key:{key_id}" if key_id is not None else f"ip:{request.client.host if request.client else '?'}")
        return key_id

    def _auth(request: Request) -> int | None:
        if not need_keys:
            return None
        header = request.headers.get("authorization", "")
        key = header.removeprefix("Bearer ").strip()
        if not key:
            raise APIError(401, "missing API key: send 'Authorization: Bearer <key>'", "authentication_error",
                           code="invalid_api_key")
        with reg.session() as s:
            row = s.scalars(select(ApiKey).where(ApiKey.hash == hash_key(key), ApiKey.revoked.is_(False))).first()
        if row is None:
            raise APIError(401, "invalid or revoked API key", "authentication_error", code="invalid_api_key")
        return row.id

    async def read_json(request: Request) -> dict:
        raw = await request.body()
        if len(raw) > cfg.max_body_bytes:
            raise APIError(413, f"request body exceeds serve.max_body_bytes={cfg.max_body_bytes}")
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

    def maybe_reload(force: bool = False) -> None:
        """Hot reload: when another version of the served model is promoted, load it and swap; requests in
        flight finish on the old weights (the engine swaps under its lock)."""
        engine = state["engine"]
        if not hasattr(engine, "load") or (not force and time.monotonic() - state.get("checked", 0) < 2):
            return
        state["checked"] = time.monotonic()
        mv = reg.get_model(engine.name)
        if mv is None or mv.status != "promoted":
            return
        path = str(ws.path(mv.path))
        if path != str(engine.path):
            engine.load(path, device=ws.cfg.project.device)
            state["version"] = f"{mv.name}:{mv.version}"

    def kb_for(name: str):
        if name not in state["kbs"]:
            from ..kb import KnowledgeBase

            try:
                state["kbs"][name] = KnowledgeBase.load(ws.kb_dir(name))
            except FileNotFoundError:
                raise APIError(404, f"knowledge base '{name}' does not exist; build it with `zaomo kb build`",
                               param="kb", code="kb_not_found") from None
        return state["kbs"][name]

    def audit(rid: str, key_id: int | None, endpoint: str, body: dict, response: str | None, decisions: dict,
              status: int, t0: float, usage: dict | None) -> None:
        if not cfg.audit:
            return
        from ..safety.pii import mask_pii

        stored = dict(body)
        if cfg.audit_mask_pii:
            stored["messages"] = [{**m, "content": mask_pii(m.get("content", ""))[0]}
                                  for m in body.get("messages", []) if isinstance(m, dict)]
            if isinstance(body.get("input"), list):
                stored["input"] = [mask_pii(t)[0] for t in body["input"]]
            response = mask_pii(response)[0] if response else response
        with reg.session.begin() as s:
            s.add(AuditRecord(id=rid, key_id=key_id, endpoint=endpoint, model=state["engine"].name,
                              model_version=getattr(state["engine"], "path", None), request=stored,
                              response=response, guard=decisions, status=status,
                              latency_ms=(time.perf_counter() - t0) * 1000,
                              prompt_tokens=(usage or {}).get("prompt_tokens"),
                              completion_tokens=(usage or {}).get("completion_tokens")))

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "model": state["engine"].name, "version": state.get("version"),
                "path": str(getattr(state["engine"], "path", ""))}

    @app.post("/admin/reload")
    def reload(request: Request) -> dict:
        auth(request)
        maybe_reload(force=True)
        return {"model": state["engine"].name, "path": str(getattr(state["engine"], "path", ""))}

    @app.get("/metrics")
    def metrics() -> Response:
        if hasattr(state["engine"], "stats"):
            for k, v in state["engine"].stats().items():
                engine_gauge.labels(k).set(v)
        return Response(generate_latest(prom), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models")
    def models(request: Request) -> dict:
        auth(request)
        names = [state["engine"].name] + ([state["embedder"].name] if state["embedder"] else [])
        return {"object": "list", "data": [{"id": n, "object": "model", "created": 0, "owned_by": "zaomo"}
                                           for n in names]}

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> dict:
        t0 = time.perf_counter()
        key_id = auth(request)
        body = await read_json(request)
        emb = state["embedder"]
        if emb is None:
            raise APIError(404, "no embedding model is configured on this server: set serve.embedding_model to a "
                           "local encoder directory", param="model", code="model_not_found")
        if body.get("model") not in (None, emb.name, "default"):
            raise APIError(404, f"embedding model '{body.get('model')}' does not exist; available: {emb.name}",
                           param="model", code="model_not_found")
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
            raise APIError(400, "'input' must be a non-empty string or a non-empty list of non-empty strings "
                           "(token arrays are not supported)", param="input")
        if len(texts) > 2048:
            raise APIError(400, f"'input' has {len(texts)} items; at most 2048 per request", param="input")
        fmt = body.get("encoding_format") or "float"
        if fmt not in ("float", "base64"):
            raise APIError(400, "'encoding_format' must be 'float' or 'base64'", param="encoding_format")
        dims = body.get("dimensions")
        if dims is not None and dims != emb.dim:
            raise APIError(400, f"'dimensions' must be {emb.dim} (this encoder's size) or left out; got {dims!r}",
                           param="dimensions")
        vectors, tokens = await run_in_threadpool(emb.embed, texts)
        if fmt == "base64":
            from .embeddings import encode_base64

            data = [{"object": "embedding", "index": i, "embedding": encode_base64(v)} for i, v in enumerate(vectors)]
        else:
            data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        audit(f"emb-{uuid.uuid4().hex[:24]}", key_id, "embeddings", {"model": emb.name, "input": texts}, None, {},
              200, t0, usage)
        requests_total.labels("embeddings", "200").inc()
        latency.labels("embeddings").observe(time.perf_counter() - t0)
        return {"object": "list", "data": data, "model": emb.name, "usage": usage}

    @app.post("/v1/feedback")
    async def feedback(request: Request) -> dict:
        auth(request)
        body = await read_json(request)
        rid = body.get("request_id")
        rating = body.get("rating")
        if rating not in (None, 1, -1):
            raise APIError(400, "'rating' must be 1 or -1", param="rating")
        with reg.session.begin() as s:
            row = s.get(AuditRecord, rid) if isinstance(rid, str) else None
            if row is None:
                raise APIError(404, f"no audited request with id {rid!r}", param="request_id", code="not_found")
            fb = Feedback(request_id=rid, rating=rating, correction=body.get("correction"),
                          comment=body.get("comment"), messages=row.request.get("messages", []),
                          answer=row.response, model_version=row.model_version)
            s.add(fb)
            s.flush()
            return {"id": fb.id, "object": "feedback", "request_id": rid}

    @app.get("/api/feedback")
    def feedback_queue(request: Request, status: str | None = None, limit: int = 100) -> dict:
        """The feedback queue for the console, newest first."""
        auth(request)
        q = select(Feedback).order_by(Feedback.id.desc()).limit(min(limit, 1000))
        if status:
            q = q.where(Feedback.status == status)
        with reg.session() as s:
            rows = [{"id": f.id, "request_id": f.request_id, "rating": f.rating, "correction": f.correction,
                     "answer": f.answer, "status": f.status, "created_at": str(f.created_at)[:19]}
                    for f in s.scalars(q)]
        return {"object": "list", "data": rows}

    @app.get("/api/kbs")
    def api_kbs(request: Request) -> dict:
        auth(request)
        kbs = sorted(p.parent.name for p in ws.kb_root.glob("*/kb.json")) if ws.kb_root.exists() else []
        return {"data": [{"name": n, **json.loads((ws.kb_root / n / "kb.json").read_text(encoding="utf-8"))}
                         for n in kbs]}

    @app.get("/api/runs")
    def api_runs(request: Request) -> dict:
        auth(request)
        return {"data": [{"id": r.id, "kind": r.kind, "stage": r.stage, "method": r.method, "status": r.status,
                          "summary": r.summary, "created_at": str(r.created_at)[:19]} for r in reversed(reg.runs())]}

    @app.get("/api/runs/{run_id}/metrics")
    def api_run_metrics(run_id: str, request: Request) -> dict:
        auth(request)
        if reg.get_run(run_id) is None:
            raise APIError(404, f"no run {run_id!r}", code="not_found")
        f = ws.runs_dir / run_id / "metrics.jsonl"
        rows = [json.loads(x) for x in f.read_text(encoding="utf-8").splitlines() if x.strip()] if f.exists() else []
        return {"data": rows}

    @app.get("/api/models")
    def api_models(request: Request) -> dict:
        auth(request)
        by_id = {m.id: m for m in reg.models()}
        return {"data": [{"id": m.id, "name": m.name, "version": m.version, "status": m.status, "path": m.path,
                          "parent": f"{by_id[m.parent_id].name}:{by_id[m.parent_id].version}"
                          if m.parent_id in by_id else None, "run_id": m.run_id,
                          "created_at": str(m.created_at)[:19]} for m in by_id.values()]}

    @app.get("/api/eval")
    def api_eval(request: Request) -> dict:
        auth(request)
        out = []
        for r in reversed(reg.runs("eval")):
            out.append({"id": r.id, "created_at": str(r.created_at)[:19], "metrics": r.summary})
        return {"data": out}

    @app.get("/api/eval/compare")
    def api_eval_compare(old: str, new: str, request: Request) -> dict:
        auth(request)
        from ..eval.compare import compare

        try:
            c = compare(ws.eval_root / old, ws.eval_root / new, ws.cfg.eval.gates, 200)
        except FileNotFoundError as e:
            raise APIError(404, str(e), code="not_found") from None
        return {"passed": c.passed, "failures": c.failures, "unknown": c.unknown,
                "deltas": {k: {"old": v[0], "new": v[1], "delta": v[2], "ci": None if v[3] != v[3] else [v[3], v[4]],
                               "method": c.methods.get(k)} for k, v in c.deltas.items()}}

    @app.get("/api/eval/{run_id}/report")
    def api_eval_report(run_id: str, request: Request):
        auth(request)
        f = ws.eval_root / Path(run_id).name / "report.html"
        if not f.exists():
            raise APIError(404, f"no eval report {run_id!r}", code="not_found")
        return Response(f.read_text(encoding="utf-8"), media_type="text/html")

    @app.get("/api/data/report")
    def api_data_report(request: Request):
        auth(request)
        f = ws.clean_dir / "report.html"
        if not f.exists():
            raise APIError(404, "no data report yet: run `zaomo data run`", code="not_found")
        return Response(f.read_text(encoding="utf-8"), media_type="text/html")

    @app.get("/api/audit")
    def api_audit(request: Request, q: str | None = None, limit: int = 50) -> dict:
        auth(request)
        from sqlalchemy import String, cast, or_

        query = select(AuditRecord).order_by(AuditRecord.created_at.desc()).limit(min(limit, 500))
        if q:
            query = query.where(or_(AuditRecord.response.contains(q), cast(AuditRecord.request, String).contains(q)))
        with reg.session() as s:
            rows = [{"id": a.id, "created_at": str(a.created_at)[:19], "status": a.status, "guard": a.guard,
                     "latency_ms": round(a.latency_ms or 0, 1), "response": a.response,
                     "request": (a.request.get("messages") or [{}])[-1].get("content", "") if a.request else ""}
                    for a in s.scalars(query)]
        return {"data": rows}

    @app.post("/v1/completions")
    async def completions(request: Request):
        t0 = time.perf_counter()
        key_id = auth(request)
        body = await read_json(request)
        engine = state["engine"]
        if not hasattr(engine, "stream_prompt"):
            raise APIError(400, "/v1/completions needs the built-in engine; use /v1/chat/completions")
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            raise APIError(400, "'prompt' must be a string", param="prompt")
        params = _params(body, ws.cfg.serve.max_new_tokens)
        decisions: dict[str, Any] = {}
        if guard is not None:
            g = guard.check(prompt, where="input")
            decisions["input"] = {"action": g.action, "reason": g.reason}
            if not g.allowed:
                raise APIError(400, "the prompt was refused by the safety policy", code="content_filter")
        text, done = await _collect(engine.stream_prompt(prompt, params))
        text, ok = _check_output(text, decisions)
        rid = f"cmpl-{uuid.uuid4().hex[:24]}"
        usage = {"prompt_tokens": done.prompt_tokens, "completion_tokens": done.completion_tokens,
                 "total_tokens": done.prompt_tokens + done.completion_tokens}
        audit(rid, key_id, "completions", {"prompt": prompt}, text, decisions, 200, t0, usage)
        return {"id": rid, "object": "text_completion", "created": int(time.time()), "model": engine.name,
                "choices": [{"index": 0, "text": text if ok else "", "finish_reason": done.finish_reason if ok
                             else "content_filter"}], "usage": usage}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        t0 = time.perf_counter()
        key_id = auth(request)
        if time.monotonic() - state.get("checked", 0) >= 2:  # at most every 2 s, off the event loop
            await run_in_threadpool(maybe_reload)
        body = await read_json(request)
        engine = state["engine"]
        model = body.get("model")
        if model not in (None, engine.name, "default"):
            raise APIError(404, f"model '{model}' does not exist; available: {engine.name}", param="model",
                           code="model_not_found")
        msgs = _validate_messages(body)
        params = _params(body, ws.cfg.serve.max_new_tokens)
        n = body.get("n", 1)
        if not isinstance(n, int) or not 1 <= n <= 8:
            raise APIError(400, "'n' must be an integer from 1 to 8", param="n")
        rid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        decisions: dict[str, Any] = {}
        user_text = "\n".join(m["content"] for m in msgs if m["role"] == "user")
        refusal = ws.cfg.safety.refusal_zh if is_chinese(user_text) else ws.cfg.safety.refusal_en
        if guard is not None:
            g = guard.check(msgs[-1]["content"], where="input")
            guard_total.labels("input", g.action).inc()
            decisions["input"] = {"action": g.action, "reason": g.reason}
            if not g.allowed:
                return _respond(body, rid, model or engine.name, [refusal], "content_filter", 0, 0, t0, key_id,
                                decisions, None)
            if g.action == "mask":
                msgs[-1] = {**msgs[-1], "content": g.text}
        citations = None
        kb_hits: list = []
        question = msgs[-1]["content"]
        kb_name = body.get("kb")
        if kb_name is True or (kb_name is None and cfg.kb and body.get("use_kb")):
            kb_name = cfg.kb or ws.cfg.kb.name
        if isinstance(kb_name, str) and kb_name:
            from ..kb.prompt import build_rag_messages

            kb = kb_for(kb_name)
            hits = kb_hits = kb.search(msgs[-1]["content"], ws.cfg.kb.top_k)
            tok = getattr(engine, "tok", None)
            msgs = msgs[:-1] + build_rag_messages(msgs[-1]["content"], hits, tokenizer=tok,
                                                  budget_tokens=ws.cfg.kb.context_tokens)
            citations = [{"n": i + 1, "source": h.source, "title": h.title, "chunk_id": h.chunk_id,
                          "text": h.text} for i, h in enumerate(hits)]
        try:
            if hasattr(engine, "count_prompt") and hasattr(engine, "context") \
                    and engine.count_prompt(msgs) >= engine.context:
                raise APIError(400, f"the prompt is longer than the model's context ({engine.context} tokens)",
                               param="messages", code="context_length_exceeded")
        except APIError:
            raise
        if body.get("stream"):
            return StreamingResponse(_stream(engine, body, rid, model or engine.name, msgs, params, t0, key_id,
                                             decisions, citations, refusal),
                                     media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        texts, finish, pt, ct = [], "stop", 0, 0
        for _ in range(n):
            text, fin, p_tok, c_tok = await _generate(engine, msgs, params, decisions, refusal)
            if kb_hits and ws.cfg.kb.unsupported == "quote" and fin != "content_filter":
                from ..kb.answer import ground

                text, kept = ground(question, text, kb_hits)
                if not kept:
                    decisions["grounding"] = {"action": "quoted", "reason": "answer not supported by the passages"}
            texts.append(text)
            finish, pt, ct = fin, p_tok, ct + c_tok
        return _respond(body, rid, model or engine.name, texts, finish, pt, ct, t0, key_id, decisions, citations)

    def _check_output(text: str, decisions: dict) -> tuple[str, bool]:
        if guard is None:
            return text, True
        g = guard.check(text, where="output")
        if g.action != "allow":
            decisions["output"] = {"action": g.action, "reason": g.reason}
            guard_total.labels("output", g.action).inc()
        return g.text, g.allowed

    def _check_growing(full: str, new: int, checked: str, decisions: dict) -> tuple[str, bool]:
        """The output guard on a streamed answer that grew by `new` characters, `checked` being the guarded
        form of the rest. Only the new text and STREAM_CHECK_OVERLAP characters before it are checked (a blocked
        term or PII pattern is shorter than that); only when that window has a finding is the whole answer checked
        again. So guarding costs linear, not quadratic, time in the answer's length."""
        if guard is None:
            return full, True
        window = full[max(0, len(full) - new - STREAM_CHECK_OVERLAP):]
        g = guard.check(window, where="output")
        if g.action == "allow" and g.text == window:
            return checked + full[len(full) - new:], True
        return _check_output(full, decisions)

    async def _collect(stream) -> tuple[str, Done]:
        """Run a generation to the end: its text and its Done (token counts, finish reason)."""
        text, done = "", Done("stop", 0, 0)
        try:
            async for d in _pull(stream):
                if isinstance(d, Done):
                    done = d
                else:
                    text += d
        except ValueError as e:
            raise APIError(400, str(e), code="context_length_exceeded") from None
        finally:
            _close(stream)
        return text, done

    async def _generate(engine, msgs, params, decisions, refusal) -> tuple[str, str, int, int]:
        text, done = await _collect(engine.stream(msgs, params))
        checked, ok = _check_output(text, decisions)
        if not ok:
            return refusal, "content_filter", done.prompt_tokens, done.completion_tokens
        return checked, done.finish_reason, done.prompt_tokens, done.completion_tokens

    def _respond(body, rid, model, texts, finish, pt, ct, t0, key_id, decisions, citations):
        usage = {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}
        out: dict[str, Any] = {
            "id": rid, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": finish}
                        for i, t in enumerate(texts)],
            "usage": usage}
        if citations is not None:
            out["citations"] = citations
        audit(rid, key_id, "chat.completions", body, texts[0], decisions, 200, t0, usage)
        requests_total.labels("chat", "200").inc()
        latency.labels("chat").observe(time.perf_counter() - t0)
        return JSONResponse(out)

    async def _stream(engine, body, rid, model, msgs, params, t0, key_id, decisions, citations, refusal):
        """SSE chunks. The engine is pulled from a worker thread so the event loop stays free; when the client
        goes away the generation is closed (its batch slot freed) and the partial answer audited as 499."""
        created = int(time.time())

        def chunk(delta: dict, finish: str | None = None, extra: dict | None = None) -> str:
            c = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            if extra:
                c.update(extra)
            return f"data: {json.dumps(c, ensure_ascii=False)}\n\n"

        tokens = engine.stream(msgs, params)
        full, sent, checked, finish = "", "", "", "stop"
        done = Done("stop", 0, 0)
        status = 499  # until the last chunk is handed over
        try:
            yield chunk({"role": "assistant", "content": ""})
            try:
                async for d in _pull(tokens):
                    if isinstance(d, Done):
                        done = d
                        finish = d.finish_reason
                        break
                    full += d
                    checked, ok = _check_growing(full, len(d), checked, decisions)
                    if not ok:  # cut at the first violation
                        finish = "content_filter"
                        yield chunk({"content": ("\n" if sent else "") + refusal})
                        sent += refusal
                        break
                    ready = checked[:_release_upto(checked)]
                    if ready.startswith(sent) and len(ready) > len(sent):
                        yield chunk({"content": ready[len(sent):]})
                        sent = ready
                if finish != "content_filter" and checked.startswith(sent) and len(checked) > len(sent):
                    yield chunk({"content": checked[len(sent):]})  # the held-back tail, now complete
                    sent = checked
            except ValueError as e:
                finish = "error"
                yield f"data: {json.dumps(error_body(str(e), 'invalid_request_error'))}\n\n"
            usage = {"prompt_tokens": done.prompt_tokens, "completion_tokens": done.completion_tokens,
                     "total_tokens": done.prompt_tokens + done.completion_tokens}
            extra: dict[str, Any] = {"usage": usage}
            if citations is not None:
                extra["citations"] = citations
            yield chunk({}, finish, extra)
            yield "data: [DONE]\n\n"
            status = 200
        finally:
            _close(tokens)
            usage = {"prompt_tokens": done.prompt_tokens, "completion_tokens": done.completion_tokens,
                     "total_tokens": done.prompt_tokens + done.completion_tokens}
            audit(rid, key_id, "chat.completions", body, sent, decisions, status, t0, usage)
            requests_total.labels("chat", str(status)).inc()
            latency.labels("chat").observe(time.perf_counter() - t0)

    static = Path(__file__).with_name("static")
    if static.is_dir():
        from fastapi.staticfiles import StaticFiles

        app.mount("/", StaticFiles(directory=static, html=True), name="console")
    app.state.zaomo = state
    return app


def run(ws: Workspace, host: str | None = None, port: int | None = None) -> None:
    """Serve with uvicorn; Ctrl-C shuts down gracefully (in-flight requests finish)."""
    import uvicorn

    app = create_app(ws)
    uvicorn.run(app, host=host or ws.cfg.serve.host, port=port or ws.cfg.serve.port, log_level="info",
                timeout_graceful_shutdown=30)
