"""The console's API (/api/...): the feedback queue, knowledge bases, runs, models, evaluations, reports and
the audit log — read-only views of the workspace for the web page, behind the same auth and limits."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from ..records import AuditRecord, Feedback
from .errors import APIError
from .pipeline import Gateway


def router(gw: Gateway) -> APIRouter:
    r = APIRouter(prefix="/api")
    ws, reg = gw.ws, gw.reg

    @r.get("/feedback")
    def feedback_queue(request: Request, status: str | None = None, limit: int = 100) -> dict:
        """The feedback queue for the console, newest first."""
        gw.auth(request)
        q = select(Feedback).order_by(Feedback.id.desc()).limit(min(limit, 1000))
        if status:
            q = q.where(Feedback.status == status)
        with reg.session() as s:
            rows = [{"id": f.id, "request_id": f.request_id, "rating": f.rating, "correction": f.correction,
                     "answer": f.answer, "status": f.status, "created_at": str(f.created_at)[:19],
                     "prompt": f"{f.prompt_name}:{f.prompt_version}" if f.prompt_name else None}
                    for f in s.scalars(q)]
        return {"object": "list", "data": rows}

    @r.get("/kbs")
    def api_kbs(request: Request) -> dict:
        gw.auth(request)
        kbs = sorted(p.parent.name for p in ws.kb_root.glob("*/kb.json")) if ws.kb_root.exists() else []
        return {"data": [{"name": n, **json.loads((ws.kb_root / n / "kb.json").read_text(encoding="utf-8"))}
                         for n in kbs]}

    @r.get("/runs")
    def api_runs(request: Request) -> dict:
        gw.auth(request)
        return {"data": [{"id": r.id, "kind": r.kind, "stage": r.stage, "method": r.method, "status": r.status,
                          "summary": r.summary, "created_at": str(r.created_at)[:19]} for r in reversed(reg.runs())]}

    @r.get("/runs/{run_id}/metrics")
    def api_run_metrics(run_id: str, request: Request) -> dict:
        gw.auth(request)
        if reg.get_run(run_id) is None:
            raise APIError(404, f"no run {run_id!r}", code="not_found")
        f = ws.runs_dir / run_id / "metrics.jsonl"
        rows = [json.loads(x) for x in f.read_text(encoding="utf-8").splitlines() if x.strip()] if f.exists() else []
        return {"data": rows}

    @r.get("/models")
    def api_models(request: Request) -> dict:
        gw.auth(request)
        by_id = {m.id: m for m in reg.models()}
        return {"data": [{"id": m.id, "name": m.name, "version": m.version, "status": m.status, "path": m.path,
                          "parent": f"{by_id[m.parent_id].name}:{by_id[m.parent_id].version}"
                          if m.parent_id in by_id else None, "run_id": m.run_id,
                          "created_at": str(m.created_at)[:19]} for m in by_id.values()]}

    @r.get("/prompts")
    def api_prompts(request: Request) -> dict:
        """Prompt versions (the versioned prompt library), with which one each served model gets now."""
        gw.auth(request)
        served = {name: gw.prompts.for_model(name) for name in gw.engines}
        return {"data": [{"name": p.name, "version": p.version, "status": p.status, "model": p.model,
                          "text": p.text, "template": p.template, "note": p.note, "eval": p.eval,
                          "created_at": str(p.created_at)[:19]} for p in reg.prompts()],
                "served": {m: f"{p.name}:{p.version}" if p else None for m, p in served.items()}}

    @r.get("/eval")
    def api_eval(request: Request) -> dict:
        gw.auth(request)
        return {"data": [{"id": r.id, "created_at": str(r.created_at)[:19], "metrics": r.summary}
                         for r in reversed(reg.runs("eval"))]}

    @r.get("/eval/compare")
    def api_eval_compare(old: str, new: str, request: Request) -> dict:
        gw.auth(request)
        from ..eval.compare import compare

        try:
            c = compare(ws.eval_root / old, ws.eval_root / new, ws.cfg.eval.gates, 200)
        except FileNotFoundError as e:
            raise APIError(404, str(e), code="not_found") from None
        return {"passed": c.passed, "failures": c.failures, "unknown": c.unknown,
                "deltas": {k: {"old": v[0], "new": v[1], "delta": v[2], "ci": None if v[3] != v[3] else [v[3], v[4]],
                               "method": c.methods.get(k)} for k, v in c.deltas.items()}}

    @r.get("/eval/{run_id}/report")
    def api_eval_report(run_id: str, request: Request):
        gw.auth(request)
        f = ws.eval_root / Path(run_id).name / "report.html"
        if not f.exists():
            raise APIError(404, f"no eval report {run_id!r}", code="not_found")
        return Response(f.read_text(encoding="utf-8"), media_type="text/html")

    @r.get("/data/report")
    def api_data_report(request: Request):
        gw.auth(request)
        f = ws.clean_dir / "report.html"
        if not f.exists():
            raise APIError(404, "no data report yet: run `zaomo data run`", code="not_found")
        return Response(f.read_text(encoding="utf-8"), media_type="text/html")

    @r.get("/audit")
    def api_audit(request: Request, q: str | None = None, limit: int = 50) -> dict:
        gw.auth(request)
        from sqlalchemy import String, cast, or_

        query = select(AuditRecord).order_by(AuditRecord.created_at.desc()).limit(min(limit, 500))
        if q:
            query = query.where(or_(AuditRecord.response.contains(q), cast(AuditRecord.request, String).contains(q)))
        with reg.session() as s:
            rows = [{"id": a.id, "created_at": str(a.created_at)[:19], "status": a.status, "guard": a.guard,
                     "latency_ms": round(a.latency_ms or 0, 1), "response": a.response,
                     "prompt": f"{a.prompt_name}:{a.prompt_version}" if a.prompt_name else None,
                     "request": (a.request.get("messages") or [{}])[-1].get("content", "") if a.request else ""}
                    for a in s.scalars(query)]
        return {"data": rows}

    return r
