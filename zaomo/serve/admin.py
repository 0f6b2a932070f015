"""Operations: /health (liveness, the served version and prompt), /metrics (Prometheus), /admin/reload (load a newly
promoted version now rather than at the next check)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .pipeline import Gateway


def router(gw: Gateway) -> APIRouter:
    r = APIRouter()

    @r.get("/health")
    def health() -> dict:
        p = gw.prompts.for_model(gw.engine.name)
        return {"status": "ok", "model": gw.engine.name, "version": gw.state.get("version"),
                "path": str(getattr(gw.engine, "path", "")), "models": list(gw.engines),
                "prompt": f"{p.name}:{p.version}" if p else None}

    @r.post("/admin/reload")
    def reload(request: Request) -> dict:
        gw.auth(request)
        gw.maybe_reload(force=True)
        return {"model": gw.engine.name, "path": str(getattr(gw.engine, "path", ""))}

    @r.get("/metrics")
    def metrics() -> Response:
        from prometheus_client import generate_latest

        totals: dict[str, int] = {}  # summed over the engines (a max for max_batch)
        for engine in gw.engines.values():
            for k, v in (engine.stats() if hasattr(engine, "stats") else {}).items():
                totals[k] = max(totals.get(k, 0), v) if k == "max_batch" else totals.get(k, 0) + v
        for k, v in totals.items():
            gw.metrics.engine.labels(k).set(v)
        return Response(generate_latest(gw.metrics.registry), media_type="text/plain; version=0.0.4")

    return r
