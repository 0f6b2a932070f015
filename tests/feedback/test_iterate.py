"""The closed loop on the tiny quickstart model: serve → feedback → export → iterate → gate → promote (and the
server hot-reloads the promoted version); a really worse candidate is not promoted; rollback."""

from __future__ import annotations

import httpx
import pytest
from typer.testing import CliRunner

from zaomo.cli.main import app
from zaomo.demo.loop import run_quickstart
from zaomo.feedback.iterate import iterate, rollback
from zaomo.serve.app import create_app
from zaomo.workspace import Workspace

FAST = ["train.max_steps=4", "model.hidden_size=64", "model.num_layers=2", "model.num_heads=4",
        "model.intermediate_size=128", "eval.max_new_tokens=8", "train.eval_every=2"]


@pytest.fixture(scope="module")
def loop_ws(tmp_path_factory):
    root = tmp_path_factory.mktemp("loop") / "ws"
    run_quickstart(root, progress=False, log=lambda *_: None, overrides=FAST, drills=20)
    return root


def _give_feedback(ws: Workspace, srv_url: str) -> str:
    r = httpx.post(srv_url + "/v1/chat/completions", timeout=60, json={
        "messages": [{"role": "user", "content": "研发部的负责人是谁？"}], "max_tokens": 8}).json()
    fb = httpx.post(srv_url + "/v1/feedback", timeout=30, json={
        "request_id": r["id"], "rating": -1, "correction": "研发部的负责人是黄立新。"})
    assert fb.status_code == 200
    return r["id"]


def test_feedback_iterate_promote_and_hot_reload(loop_ws, serve_app):
    ws = Workspace.open(loop_ws, overrides=["eval.gates={qa.accuracy: 0.5}"])
    with serve_app(create_app(ws)) as srv:
        before = httpx.get(srv.url + "/health").json()["path"]
        _give_feedback(ws, srv.url)
        res = iterate(ws, steps=3, lr=1e-4, tasks=["qa", "perplexity"], progress=False)
        assert res.promoted and res.export.counts["sft"] == 1
        assert res.candidate["version"] == res.current["version"] + 1 and res.candidate["status"] == "promoted"
        mv = ws.registry.get_model("handbook-chat")
        assert mv.version == res.candidate["version"] and mv.parent_id == res.current["id"]
        assert mv.eval["gate_passed"] is True and mv.run_id
        after = httpx.post(srv.url + "/admin/reload").json()["path"]
        assert after != before and after.endswith(mv.path)
        ok = httpx.post(srv.url + "/v1/chat/completions", timeout=60,
                        json={"messages": [{"role": "user", "content": "你好"}], "max_tokens": 4})
        assert ok.status_code == 200  # serving continues on the new version
    statuses = {m.version: m.status for m in ws.registry.models("handbook-chat")}
    assert statuses[res.current["version"]] == "retired"
    back = rollback(ws, "handbook-chat")
    assert back.version == res.current["version"] and back.status == "promoted"


def test_worse_candidate_is_not_promoted(loop_ws, serve_app):
    ws = Workspace.open(loop_ws, overrides=["eval.gates={perplexity.ppl: 1.0}"])
    current = ws.registry.get_model("handbook-chat")
    with serve_app(create_app(ws)) as srv:
        _give_feedback(ws, srv.url)
    # a real, really worse training run: a learning rate far too high wrecks the language model
    res = iterate(ws, steps=3, lr=0.5, tasks=["perplexity"], progress=False)
    assert not res.promoted and "perplexity.ppl" in res.comparison.failures[0]
    old, new = res.comparison.deltas["perplexity.ppl"][:2]
    assert new > old + 1.0
    assert ws.registry.get_model("handbook-chat").id == current.id  # still serving the same version
    statuses = {m.id: m.status for m in ws.registry.models("handbook-chat")}
    assert statuses[res.candidate["id"]] == "rejected"


def test_cli_models_and_iterate_without_feedback(loop_ws):
    r = CliRunner().invoke(app, ["models", "-w", str(loop_ws)], env={"COLUMNS": "200"})
    assert r.exit_code == 0 and "handbook-chat" in r.output
    r = CliRunner().invoke(app, ["iterate", "-w", str(loop_ws), "--steps", "2"])
    assert r.exit_code == 2 and "no new usable feedback" in r.output
    r = CliRunner().invoke(app, ["models", "promote", "handbook-chat", "-w", str(loop_ws)])
    assert r.exit_code == 2 and "NAME:VERSION" in r.output
