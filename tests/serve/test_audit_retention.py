"""Audit retention: old rows go at server startup, periodically while serving, and with `zaomo audit purge`;
recent rows and feedback stay."""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import select
from typer.testing import CliRunner

from zaomo.cli.main import app as cli
from zaomo.records import AuditRecord, Feedback, utcnow
from zaomo.serve import app as serve_app_module
from zaomo.serve.app import create_app
from zaomo.workspace import Workspace


def add_rows(ws: Workspace, ages_days: dict[str, float]) -> None:
    with ws.registry.session.begin() as s:
        for rid, age in ages_days.items():
            s.add(AuditRecord(id=rid, endpoint="chat.completions", request={"messages": []}, response=rid,
                              created_at=utcnow() - dt.timedelta(days=age)))


def ids(ws: Workspace) -> set[str]:
    with ws.registry.session() as s:
        return set(s.scalars(select(AuditRecord.id)))


def test_startup_and_periodic_purge(tmp_path, eos_engine, serve_app, monkeypatch):
    ws = Workspace.open(Workspace.init(tmp_path).root, overrides=["serve.audit_retention_days=30"])
    add_rows(ws, {"old": 31, "older": 400, "recent": 29})
    with ws.registry.session.begin() as s:
        s.add(Feedback(request_id="old", rating=-1, messages=[{"role": "user", "content": "q"}], answer="a"))
    monkeypatch.setattr(serve_app_module, "AUDIT_PURGE_EVERY_S", 0.1)
    app = create_app(ws, engine=eos_engine)
    assert ids(ws) == {"old", "older", "recent"}  # nothing happens before the server starts
    with serve_app(app):
        deadline = time.monotonic() + 10
        while ids(ws) != {"recent"}:
            assert time.monotonic() < deadline, ids(ws)
            time.sleep(0.05)
        add_rows(ws, {"aged-while-serving": 45})  # written after startup: the next round removes it
        while "aged-while-serving" in ids(ws):
            assert time.monotonic() < deadline, ids(ws)
            time.sleep(0.05)
        while app.state.zaomo["audit_purged"] < 3:  # the count follows the commit that removed the row
            assert time.monotonic() < deadline, app.state.zaomo["audit_purged"]
            time.sleep(0.05)
        assert app.state.zaomo["audit_purged"] == 3
    assert ids(ws) == {"recent"}
    with ws.registry.session() as s:
        (fb,) = s.scalars(select(Feedback)).all()
    assert fb.answer == "a" and fb.messages[0]["content"] == "q"  # feedback keeps its own copy


def test_no_retention_keeps_everything(tmp_path, eos_engine, serve_app):
    ws = Workspace.init(tmp_path)
    add_rows(ws, {"ancient": 3650})
    with serve_app(create_app(ws, engine=eos_engine)):
        time.sleep(0.3)
    assert ids(ws) == {"ancient"}


def test_audit_purge_cli(tmp_path):
    ws = Workspace.init(tmp_path)
    add_rows(ws, {"a": 10, "b": 3, "c": 1})
    r = CliRunner().invoke(cli, ["audit", "purge", "-w", str(tmp_path)])
    assert r.exit_code == 2 and "serve.audit_retention_days" in r.output
    r = CliRunner().invoke(cli, ["audit", "purge", "-w", str(tmp_path), "--older-than-days", "5"])
    assert r.exit_code == 0 and "deleted 1 audit rows" in r.output, r.output
    assert ids(ws) == {"b", "c"}
    (tmp_path / "zaomo.yaml").write_text((tmp_path / "zaomo.yaml").read_text(encoding="utf-8").replace(
        "audit_retention_days: 0", "audit_retention_days: 2"), encoding="utf-8")
    r = CliRunner().invoke(cli, ["audit", "purge", "-w", str(tmp_path)])
    assert r.exit_code == 0 and "deleted 1 audit rows older than 2 days" in r.output, r.output
    assert ids(ws) == {"c"}
