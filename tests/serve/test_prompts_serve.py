"""Versioned prompts on a running server: a promote and a rollback change what the model reads and says on the
next request, with no restart; audit and feedback rows name the prompt version behind each answer."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import openai
import pytest
from conftest import tool_engine
from typer.testing import CliRunner

from zaomo.cli.main import app
from zaomo.records import AuditRecord, Feedback
from zaomo.serve.app import create_app
from zaomo.serve.pipeline import Call, Gateway
from zaomo.workspace import Workspace

ALPHA, BETA = "PROMPT-ALPHA 你是客服，请简洁回答。", "PROMPT-BETA You are the support desk."
ASK = [{"role": "user", "content": "你好"}]


def cli(root, *args: str) -> str:
    r = CliRunner().invoke(app, [*args, "-w", str(root)], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    return r.output


def audit_row(ws: Workspace, rid: str) -> AuditRecord:
    with ws.registry.session() as s:
        return s.get(AuditRecord, rid)


def test_promote_and_rollback_change_the_answer_without_restart(tmp_path, tool_model_dir, serve_app):
    root = Workspace.init(tmp_path).root
    cli(root, "prompts", "add", "support", "--text", ALPHA, "--model", "tiny", "--note", "first")
    cli(root, "prompts", "add", "support", "--text", BETA, "--model", "tiny")
    cli(root, "prompts", "add", "elsewhere", "--text", "PROMPT-OTHER", "--model", "another-model")
    cli(root, "prompts", "promote", "elsewhere:1")  # bound to a model this server does not serve: never used
    cli(root, "prompts", "promote", "support:1")
    # the scripted model says 甲 when its rendered input holds ALPHA's text, 乙 for BETA's, 无 otherwise
    engine = tool_engine(tool_model_dir, {"PROMPT-ALPHA": "甲", "PROMPT-BETA": "乙", "": "无"})
    ws = Workspace.open(root)
    with serve_app(create_app(ws, engine=engine)) as srv:
        client = openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0)

        def ask(messages=ASK):
            r = client.chat.completions.create(model="tiny", messages=messages, max_tokens=8)
            return r.choices[0].message.content, r.id, engine.prompts[-1]

        said, rid1, seen = ask()
        assert said == "甲" and ALPHA in seen and "PROMPT-OTHER" not in seen
        assert seen.index(ALPHA) < seen.index("你好")  # a system message before the user's turn
        cli(root, "prompts", "promote", "support:2")
        said, rid2, seen = ask()
        assert said == "乙" and BETA in seen and ALPHA not in seen
        cli(root, "prompts", "rollback", "support")
        said, rid3, seen = ask()
        assert said == "甲" and ALPHA in seen
        chunks = list(client.chat.completions.create(model="tiny", messages=ASK, max_tokens=8, stream=True))
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "甲"  # streaming too
        rid_stream = chunks[0].id
        # a client's own system message replaces the served prompt (serve.prompt_client_system=replace)
        said, rid4, seen = ask([{"role": "system", "content": "CLIENT-SYSTEM"}, *ASK])
        assert said == "无" and "CLIENT-SYSTEM" in seen and "PROMPT-" not in seen
        fb = httpx.post(srv.url + "/v1/feedback", json={"request_id": rid2, "rating": -1, "correction": "好的"})
        assert fb.status_code == 200
        health = httpx.get(srv.url + "/health").json()
        assert (health["status"], health["prompt"]) == ("ok", "support:1")  # the same server all along
        listed = httpx.get(srv.url + "/api/prompts").json()
        assert listed["served"] == {"tiny": "support:1"}
        assert {(p["name"], p["version"], p["status"]) for p in listed["data"]} >= {("support", 2, "rolled-back")}
        audited = {a["id"]: a["prompt"] for a in httpx.get(srv.url + "/api/audit").json()["data"]}
        assert (audited[rid2], audited[rid4]) == ("support:2", None)

    assert [(audit_row(ws, r).prompt_name, audit_row(ws, r).prompt_version)
            for r in (rid1, rid2, rid3, rid_stream, rid4)] == \
        [("support", 1), ("support", 2), ("support", 1), ("support", 1), (None, None)]
    assert audit_row(ws, rid1).request["messages"] == ASK  # the audit keeps what the client sent
    with ws.registry.session() as s:
        [row] = s.query(Feedback).all()
    assert (row.request_id, row.prompt_name, row.prompt_version) == (rid2, "support", 2)
    assert {p.version: p.status for p in ws.registry.prompts("support")} == {1: "promoted", 2: "rolled-back"}


def _gateway(tmp_path, *sets: str) -> tuple[Gateway, Workspace]:
    ws = Workspace.open(Workspace.init(tmp_path).root, overrides=list(sets))
    return Gateway(ws, engine=SimpleNamespace(name="tiny")), ws


def _apply(gw: Gateway, msgs: list[dict]) -> tuple[list[dict], tuple | None]:
    call = Call("chat.completions", "r", None, {}, 0.0, gw.engine, "tiny")
    client_system = any(m["role"] == "system" for m in msgs)
    return gw.apply_prompt(call, msgs, client_system), call.prompt


def test_which_prompt_applies(tmp_path):
    gw, ws = _gateway(tmp_path, "serve.prompt_client_system=prepend")
    from zaomo.feedback.prompts import add_prompt, promote

    assert _apply(gw, ASK) == (ASK, None)  # nothing promoted: the conversation is untouched
    add_prompt(ws, "general", "GENERAL")
    promote(ws, "general:1")
    assert _apply(gw, ASK) == ([{"role": "system", "content": "GENERAL"}, *ASK], ("general", 1))
    add_prompt(ws, "tiny-only", "TINY", template="简洁回答：{input}", model="tiny")
    promote(ws, "tiny-only:1")  # bound to this model: wins over the model-less one
    msgs, used = _apply(gw, [{"role": "system", "content": "CLIENT"}, *ASK])
    assert used == ("tiny-only", 1)
    assert msgs == [{"role": "system", "content": "TINY\n\nCLIENT"}, {"role": "user", "content": "简洁回答：你好"}]


def test_pinned_and_disabled_settings(tmp_path):
    gw, ws = _gateway(tmp_path)
    from zaomo.feedback.prompts import add_prompt, promote

    add_prompt(ws, "support", "ONE")
    add_prompt(ws, "support", "TWO")
    promote(ws, "support:2")
    pinned = Gateway(Workspace.open(ws.root, overrides=["serve.prompt=support:1"]), engine=SimpleNamespace(name="x"))
    assert _apply(pinned, ASK)[1] == ("support", 1)
    off = Gateway(Workspace.open(ws.root, overrides=["serve.prompt=none"]), engine=SimpleNamespace(name="x"))
    assert _apply(off, ASK) == (ASK, None)
    with pytest.raises(ValueError, match="zaomo prompts add"):
        Gateway(Workspace.open(ws.root, overrides=["serve.prompt=missing"]), engine=SimpleNamespace(name="x"))
