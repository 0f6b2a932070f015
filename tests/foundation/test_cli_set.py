"""Every command takes -w, --config and --set, so a database URL given on the command line reaches it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import typer.main
from sqlalchemy import select
from typer.testing import CliRunner

from zaomo.cli.main import app
from zaomo.records import ApiKey, AuditRecord, Registry
from zaomo.workspace import Workspace


def _leaves(cmd: Any, path: tuple[str, ...] = ()):
    if hasattr(cmd, "commands"):  # a group (typer may ship its own click)
        for name, sub in cmd.commands.items():
            yield from _leaves(sub, path + (name,))
    else:
        yield path, cmd


def test_every_workspace_command_takes_set():
    missing = []
    for path, cmd in _leaves(typer.main.get_command(app)):
        opts = {o for p in cmd.params for o in getattr(p, "opts", [])}
        if path == ("doctor",):  # reads the hardware, not the config: -w only names the disk to measure
            continue
        if "--workspace" in opts and not {"--config", "--set"} <= opts:
            missing.append(" ".join(path))
    assert not missing, f"commands without --config/--set: {missing}"


def test_set_database_reaches_keys_audit_models(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    other = tmp_path / "other.db"
    url = f"sqlite:///{other}"
    sets = ["-w", str(ws.root), "--set", f"project.database={url}"]
    run = CliRunner().invoke

    r = run(app, ["keys", "create", "alice", *sets])
    assert r.exit_code == 0, r.output
    reg = Registry(url)
    with reg.session() as s:
        key = s.scalars(select(ApiKey)).one()
    assert key.name == "alice"
    assert "alice" in run(app, ["keys", "list", *sets]).output
    assert run(app, ["keys", "revoke", str(key.id), *sets]).exit_code == 0
    with reg.session() as s:
        assert s.get(ApiKey, key.id).revoked

    with reg.session.begin() as s:
        s.add(AuditRecord(id="req-1", endpoint="chat", response="hello from other db"))
        s.add(AuditRecord(id="req-old", endpoint="chat", response="old",
                          created_at=dt.datetime(2000, 1, 1)))
    r = run(app, ["audit", "search", "--text", "other db", *sets])
    assert r.exit_code == 0 and "req-1" in r.output, r.output
    r = run(app, ["audit", "purge", "--older-than-days", "30", *sets])
    assert r.exit_code == 0 and "deleted 1" in r.output, r.output

    reg.register_model("m", "p1")
    reg.register_model("m", "p2")
    assert run(app, ["models", "promote", "m:1", *sets]).exit_code == 0
    r = run(app, ["models", "promote", "m:2", *sets])
    assert r.exit_code == 0, r.output
    r = run(app, ["models", "rollback", "m", *sets])
    assert r.exit_code == 0, r.output
    assert reg.get_model("m").version == 1

    # nothing landed in the workspace's own database
    with ws.registry.session() as s:
        assert s.scalars(select(ApiKey)).first() is None
    assert ws.registry.models() == []
