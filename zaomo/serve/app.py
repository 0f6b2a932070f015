"""The gateway: an OpenAI-compatible API (`openai_api`), the console's API (`console_api`), operations
(`admin`) and the web console, over one request pipeline (`pipeline.Gateway`: auth, limits, guard, engine,
audit) with optional knowledge-base answers and every request recorded in the workspace database."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..workspace import Workspace
from . import admin, console_api, openai_api
from .errors import APIError, BodyLimit, error_body
from .models import make_engine
from .pipeline import Gateway, hash_key

__all__ = ["APIError", "create_app", "hash_key", "make_engine", "run"]

AUDIT_PURGE_EVERY_S = 3600.0


def create_app(ws: Workspace, engine: Any = None) -> FastAPI:
    gw = Gateway(ws, engine)
    cfg = gw.cfg

    async def purge_audit_forever() -> None:
        from .audit import purge_audit

        while True:
            try:
                gw.state["audit_purged"] = gw.state.get("audit_purged", 0) + await run_in_threadpool(
                    purge_audit, gw.reg, cfg.audit_retention_days)
            except Exception as e:  # noqa: BLE001 — a failed purge (database busy) is retried, never fatal
                logging.getLogger("zaomo.serve").warning("audit purge failed, retrying later: %s", e)
            await asyncio.sleep(AUDIT_PURGE_EVERY_S)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        """With a retention set, purge old audit rows now and then every AUDIT_PURGE_EVERY_S."""
        task = asyncio.create_task(purge_audit_forever()) if cfg.audit_retention_days else None
        yield
        if task is not None:
            task.cancel()

    app = FastAPI(title="zaomo", version="0.1", lifespan=lifespan)
    if cfg.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=cfg.cors_origins, allow_methods=["*"], allow_headers=["*"])

    @app.exception_handler(APIError)
    async def _api_error(_: Request, e: APIError):
        gw.metrics.requests.labels("error", str(e.status)).inc()
        return JSONResponse(error_body(e.message, e.type, e.param, e.code), status_code=e.status)

    app.add_middleware(BodyLimit, limit=cfg.max_body_bytes)
    for module in (admin, openai_api, console_api):
        app.include_router(module.router(gw))
    static = Path(__file__).with_name("static")
    if static.is_dir():
        from fastapi.staticfiles import StaticFiles

        app.mount("/", StaticFiles(directory=static, html=True), name="console")
    app.state.zaomo = gw.state
    app.state.gateway = gw
    return app


def run(ws: Workspace, host: str | None = None, port: int | None = None) -> None:
    """Serve with uvicorn; Ctrl-C shuts down gracefully (in-flight requests finish)."""
    import uvicorn

    app = create_app(ws)
    uvicorn.run(app, host=host or ws.cfg.serve.host, port=port or ws.cfg.serve.port, log_level="info",
                timeout_graceful_shutdown=30)
