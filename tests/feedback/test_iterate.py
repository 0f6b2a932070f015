"""The closed loop on the tiny quickstart model: serve → feedback → export → iterate → gate → promote (and the
server hot-reloads the promoted version); a really worse candidate is not promoted; rollback."""

from __future__ import annotations

import json

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


NEW_FACTS = [("Zeta 实验室的负责人是谁？", "Zeta 实验室的负责人是欧阳青。"),
             ("Who leads the Zeta Lab?", "The Zeta Lab is led by Ouyang Qing."),
             ("Zeta 实验室在哪一层？", "Zeta 实验室在 9 楼。"), ("Which floor is the Zeta Lab on?", "The Zeta Lab is on floor 9."),
             ("Zeta 项目什么时候启动？", "Zeta 项目于 2027 年 3 月启动。"),
             ("When does Project Zeta launch?", "Project Zeta launches in March 2027.")]


def _corrections(ws: Workspace) -> None:
    from zaomo.records import Feedback

    with ws.registry.session.begin() as s:
        for q, a in NEW_FACTS:
            s.add(Feedback(messages=[{"role": "user", "content": q}], answer="不知道", rating=-1, correction=a))


def test_forgetting_guard_rejects_a_candidate_that_forgets_and_passes_one_with_general_replay(loop_ws):
    """40 full-SFT steps on six new facts alone raise bits per character on held-out general text past the
    general-ability gate: rejected, with the reason. The same training with half the records drawn from the clean
    pretraining text keeps general ability: promoted. The gate runs perplexity although the caller asked only for
    multiple choice."""
    ws = Workspace.open(loop_ws, overrides=["eval.gates={}",
                                            "feedback.general_gates={perplexity.bits_per_char: 0.05}"])
    current = ws.registry.get_model("handbook-chat")
    _corrections(ws)
    alone = iterate(ws, steps=40, lr=3e-3, tasks=["choice"], replay=0, general_share=0.0, progress=False)
    assert not alone.promoted and alone.data_mix == {"feedback": 6, "replay_general": 0}
    assert any(f.startswith("general ability (forgetting): perplexity.bits_per_char") for f in
               alone.comparison.failures), alone.comparison.failures
    old, new = alone.comparison.deltas["perplexity.bits_per_char"][:2]
    assert new > old + 0.05
    assert ws.registry.get_model("handbook-chat").id == current.id

    _corrections(ws)
    mixed = iterate(ws, steps=40, lr=3e-3, tasks=["choice"], replay=0, general_share=0.5, progress=False)
    assert mixed.data_mix == {"feedback": 6, "replay_general": 6}
    assert mixed.promoted, mixed.comparison.failures
    old, new = mixed.comparison.deltas["perplexity.bits_per_char"][:2]
    assert new <= old + 0.05
    rows = [json.loads(x) for x in open(loop_ws / "data" / "feedback" / f"iterate-{current.version + 1}.jsonl")]
    assert sum("text" in r for r in rows) == 6 and sum("messages" in r for r in rows) == 6


def test_unpaired_thumbs_train_a_kto_candidate(loop_ws):
    """A thumbs up on one answer and a thumbs down on another (no pair): KTO data, and a candidate from it."""
    from zaomo.records import Feedback

    ws = Workspace.open(loop_ws, overrides=["eval.gates={}", "feedback.general_gates={}"])
    with ws.registry.session.begin() as s:
        s.add(Feedback(messages=[{"role": "user", "content": "研发部在几楼？"}], answer="研发部在总部大楼3楼。", rating=1))
        s.add(Feedback(messages=[{"role": "user", "content": "Who heads R&D?"}], answer="No idea.", rating=-1))
    with pytest.raises(ValueError, match="no new preference pairs.*kto"):
        iterate(ws, method="dpo", steps=2, tasks=["perplexity"], progress=False)
    with ws.registry.session.begin() as s:  # the failed dpo attempt exported them; rate them again
        s.add(Feedback(messages=[{"role": "user", "content": "研发部在几楼？"}], answer="研发部在总部大楼3楼。", rating=1))
        s.add(Feedback(messages=[{"role": "user", "content": "Who heads R&D?"}], answer="No idea.", rating=-1))
    res = iterate(ws, method="kto", steps=3, tasks=["perplexity"], progress=False)
    assert res.export.counts["kto"] == 2 and res.export.counts["dpo"] == 0
    rows = [json.loads(x) for x in res.export.kto_path.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["label"] for r in rows) == [False, True]
    mv = next(m for m in ws.registry.models("handbook-chat") if m.id == res.candidate["id"])
    assert mv.eval["method"] == "kto" and mv.run_id


def test_a_bad_answer_that_leaks_an_eval_item_goes_to_quarantine(loop_ws):
    """A thumbs-down answer that repeats an eval question is not a KTO example: it is quarantined with the reason."""
    from zaomo.feedback.export import export_feedback
    from zaomo.records import Feedback

    ws = Workspace.open(loop_ws)
    qa = json.loads((loop_ws / "data" / "eval" / "qa_heldout.jsonl").read_text(encoding="utf-8").splitlines()[0])
    leak = f"{qa['question']} {qa['answers'][0]} {qa['question']}"
    with ws.registry.session.begin() as s:
        s.add(Feedback(messages=[{"role": "user", "content": "随便说点什么"}], answer=leak, rating=-1))
    res = export_feedback(ws)
    assert res.counts["kto"] == 0 and res.counts["rejected"] == 1
    q = [json.loads(x) for x in res.quarantine_path.read_text(encoding="utf-8").splitlines()]
    assert q[0]["step"] == "decontaminate" and "KTO example overlaps eval items" in q[0]["reason"]


def test_a_missing_general_file_is_named(loop_ws):
    ws = Workspace.open(loop_ws, overrides=["feedback.general_file=data/nowhere.jsonl"])
    _corrections(ws)
    with pytest.raises(FileNotFoundError, match=r"feedback.general_file: .*nowhere\.jsonl not found"):
        iterate(ws, steps=1, tasks=["perplexity"], progress=False)
    from sqlalchemy import select

    from zaomo.records import Feedback

    with ws.registry.session.begin() as s:  # refused before export: the corrections are still there to train on
        assert len(list(s.scalars(select(Feedback).where(Feedback.status == "new")))) >= len(NEW_FACTS)
