"""The OpenAI-compatible API (/v1/...): models, chat completions and completions (JSON and SSE), embeddings,
and feedback on an answer. Parsing and response shapes only; every request goes through `pipeline.Gateway`."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ..records import AuditRecord, Feedback
from .engines import GenParams
from .errors import APIError
from .json_mode import schema_of
from .params import check_supported, include_usage, parse_messages, parse_n, parse_params, text_of
from .pipeline import Call, Choice, Gateway, canned, logprobs_of, usage_of
from .tools import tool_options

SSE_HEADERS = {"Cache-Control": "no-cache"}


def router(gw: Gateway) -> APIRouter:
    r = APIRouter(prefix="/v1")

    @r.get("/models")
    def models(request: Request) -> dict:
        gw.auth(request)
        names = list(gw.engines) + ([gw.embedder.name] if gw.embedder else [])
        return {"object": "list", "data": [{"id": n, "object": "model", "created": 0, "owned_by": "zaomo"}
                                           for n in names]}

    @r.post("/chat/completions")
    async def chat(request: Request):
        call = await gw.begin(request, "chat.completions", "chatcmpl")
        engine, body = call.engine, call.body
        remote = getattr(engine, "remote", False)
        msgs = parse_messages(body, remote=remote)
        tools, accepted = (None, set()) if remote else tool_options(body, msgs, getattr(engine, "tok", None))
        check_supported(body, "chat", engine, accepted | {"response_format"})
        params = parse_params(body, gw.cfg.max_new_tokens, "chat", remote)
        params.tools, call.parse_tools = tools, bool(tools)
        params.json_schema = None if remote else schema_of(body)
        n = parse_n(body)
        call.stored = {**body, "messages": msgs}
        call.refusal = gw.refusal_for("\n".join(text_of(m["content"]) for m in msgs if m["role"] == "user"))
        guarded = await run_in_threadpool(gw.guard_messages, call, msgs)
        if guarded is None:
            if body.get("stream"):
                return StreamingResponse(gw.sse(call, [canned(call.refusal) for _ in range(n)], "chat",
                                                include_usage(body)),
                                         media_type="text/event-stream", headers=SSE_HEADERS)
            return chat_response(gw, call, [Choice(call.refusal, "content_filter", _no_tokens())] * n)
        msgs = guarded
        client_system = any(m["role"] in ("system", "developer") for m in msgs)
        question, kb_hits = text_of(msgs[-1]["content"]), []
        kb_name = body.get("kb")
        if kb_name is True or (kb_name is None and gw.cfg.kb and body.get("use_kb")):
            kb_name = gw.cfg.kb or gw.ws.cfg.kb.name
        if isinstance(kb_name, str) and kb_name:
            from ..kb.prompt import build_rag_messages

            kb_hits = gw.kb_for(kb_name).search(question, gw.ws.cfg.kb.top_k)
            msgs = msgs[:-1] + build_rag_messages(question, kb_hits, tokenizer=getattr(engine, "tok", None),
                                                  budget_tokens=gw.ws.cfg.kb.context_tokens)
            call.citations = [{"n": i + 1, "source": h.source, "title": h.title, "chunk_id": h.chunk_id,
                               "text": h.text} for i, h in enumerate(kb_hits)]
        msgs = gw.apply_prompt(call, msgs, client_system)
        if hasattr(engine, "count_prompt") and hasattr(engine, "context") \
                and engine.count_prompt(msgs, tools) >= engine.context:
            raise APIError(400, f"the prompt is longer than the model's context ({engine.context} tokens)",
                           param="messages", code="context_length_exceeded")
        streams = start(engine, msgs, params, n)
        if body.get("stream"):
            return StreamingResponse(gw.sse(call, streams, "chat", include_usage(body)),
                                     media_type="text/event-stream", headers=SSE_HEADERS)
        choices = await gw.choices(call, streams)
        if kb_hits and gw.ws.cfg.kb.unsupported == "quote":
            from ..kb.answer import ground

            for c in choices:
                if c.finish not in ("content_filter", "tool_calls") and c.text is not None:
                    c.text, kept = ground(question, c.text, kb_hits)
                    if not kept:
                        call.decisions["grounding"] = {"action": "quoted",
                                                       "reason": "answer not supported by the passages"}
        return chat_response(gw, call, choices)

    @r.post("/completions")
    async def completions(request: Request):
        call = await gw.begin(request, "completions", "cmpl")
        engine, body = call.engine, call.body
        if not hasattr(engine, "stream_prompt"):
            raise APIError(400, f"model '{engine.name}' has no plain-text completions; use /v1/chat/completions")
        check_supported(body, "text", engine)
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
            prompt = prompt[0]
        if not isinstance(prompt, str):
            raise APIError(400, "'prompt' must be a string (or a list of one string)", param="prompt")
        params = parse_params(body, gw.cfg.max_new_tokens, "text", getattr(engine, "remote", False))
        n = parse_n(body)
        call.stored = {"prompt": prompt}
        call.refusal = ""
        if await run_in_threadpool(gw.check_input, call, [prompt]) is None:
            raise APIError(400, "the prompt was refused by the safety policy", code="content_filter")
        streams = start(engine, None, params, n, prompt)
        if body.get("stream"):
            return StreamingResponse(gw.sse(call, streams, "text", include_usage(body)),
                                     media_type="text/event-stream", headers=SSE_HEADERS)
        choices = await gw.choices(call, streams)
        usage = usage_of([c.done for c in choices])
        out = {"id": call.rid, "object": "text_completion", "created": int(time.time()), "model": engine.name,
               "choices": [{"index": i, "text": c.text, "logprobs": logprobs_of(c.done, "text"),
                            "finish_reason": c.finish} for i, c in enumerate(choices)], "usage": usage}
        return gw.respond(call, out, choices[0].text, usage)

    @r.post("/embeddings")
    async def embeddings(request: Request) -> Any:
        t0 = time.perf_counter()
        key_id = gw.auth(request)
        body = await gw.read_json(request)
        emb = gw.embedder
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
        call = Call("embeddings", f"emb-{uuid.uuid4().hex[:24]}", key_id,
                    {"model": emb.name, "input": texts}, t0, model=emb.name)
        return gw.respond(call, {"object": "list", "data": data, "model": emb.name, "usage": usage}, None, usage)

    @r.post("/feedback")
    async def feedback(request: Request) -> dict:
        gw.auth(request)
        body = await gw.read_json(request)
        rid = body.get("request_id")
        rating = body.get("rating")
        if rating not in (None, 1, -1):
            raise APIError(400, "'rating' must be 1 or -1", param="rating")
        with gw.reg.session.begin() as s:
            row = s.get(AuditRecord, rid) if isinstance(rid, str) else None
            if row is None:
                raise APIError(404, f"no audited request with id {rid!r}", param="request_id", code="not_found")
            fb = Feedback(request_id=rid, rating=rating, correction=body.get("correction"),
                          comment=body.get("comment"), messages=row.request.get("messages", []),
                          answer=row.response, model_version=row.model_version,
                          prompt_name=row.prompt_name, prompt_version=row.prompt_version)
            s.add(fb)
            s.flush()
            return {"id": fb.id, "object": "feedback", "request_id": rid}

    return r


def _no_tokens():
    from .engines import Done

    return Done("content_filter", 0, 0)


def start(engine: Any, msgs: list[dict] | None, params: GenParams, n: int, prompt: str | None = None) -> list:
    """The engine's `n` streams for a chat (or a plain prompt), started together; too long a prompt is a 400."""
    try:
        if hasattr(engine, "streams"):
            return engine.streams(msgs or [], params, n, prompt=prompt)
        one = (lambda: engine.stream_prompt(prompt, params)) if prompt is not None else \
            (lambda: engine.stream(msgs, params))
        return [one() for _ in range(n)]
    except ValueError as e:
        raise APIError(400, str(e), param="prompt" if prompt is not None else "messages",
                       code="context_length_exceeded") from None


def chat_response(gw: Gateway, call: Call, choices: list[Choice]):
    usage = usage_of([c.done for c in choices])
    out: dict[str, Any] = {
        "id": call.rid, "object": "chat.completion", "created": int(time.time()), "model": call.model,
        "choices": [{"index": i, "message": {"role": "assistant", "content": c.text,
                                             **({"tool_calls": c.tool_calls} if c.tool_calls else {})},
                     "logprobs": logprobs_of(c.done, "chat"), "finish_reason": c.finish}
                    for i, c in enumerate(choices)],
        "usage": usage}
    if call.citations is not None:
        out["citations"] = call.citations
    first = choices[0]  # what the audit (and feedback) records as the answer
    answer = first.text if not first.tool_calls else \
        json.dumps({"content": first.text, "tool_calls": first.tool_calls}, ensure_ascii=False)
    return gw.respond(call, out, answer, usage)
