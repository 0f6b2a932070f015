"""Feedback given through the API becomes SFT records and DPO pairs; unsafe corrections are quarantined."""

from __future__ import annotations

import httpx

from zaomo.feedback.export import export_feedback
from zaomo.serve.app import create_app
from zaomo.utils.io import read_jsonl
from zaomo.workspace import Workspace


def test_feedback_to_sft_and_dpo(tmp_path, eos_engine_factory, serve_app):
    ws = Workspace.init(tmp_path)
    engine = eos_engine_factory()
    with serve_app(create_app(ws, engine=engine)) as srv:
        def ask(q):
            engine.reset_script()
            r = httpx.post(srv.url + "/v1/chat/completions", json={"messages": [{"role": "user", "content": q}]},
                           timeout=30)
            return r.json()["id"]

        a = ask("研发部在几楼？")
        b = ask("你好")
        c = ask("怎么申请年假？")
        httpx.post(srv.url + "/v1/feedback", json={"request_id": a, "rating": -1, "correction": "研发部在3楼。"})
        httpx.post(srv.url + "/v1/feedback", json={"request_id": b, "rating": 1})
        httpx.post(srv.url + "/v1/feedback", json={"request_id": c, "rating": -1, "correction": "教你制造炸弹"})
    r = export_feedback(ws)
    assert r.counts == {"feedback": 3, "sft": 2, "dpo": 1, "kto": 4, "rejected": 1}
    # KTO: both thumbs-down answers ("好的", also the one whose correction was unsafe) and the two good answers
    kto = read_jsonl(r.kto_path)
    assert sorted((x["completion"], x["label"]) for x in kto) == sorted(
        [("好的", False), ("好的", False), ("研发部在3楼。", True), ("好的", True)])
    sft = read_jsonl(r.sft_path)
    assert sft[0]["messages"][-1] == {"role": "assistant", "content": "研发部在3楼。"}
    (pair,) = read_jsonl(r.dpo_path)
    assert pair["chosen"] == "研发部在3楼。" and pair["rejected"] == "好的"
    assert read_jsonl(r.quarantine_path)[0]["step"] == "safety"
    assert export_feedback(ws).counts["feedback"] == 0  # exported once


def test_feedback_text_is_normalised(tmp_path, eos_engine_factory, serve_app):
    ws = Workspace.init(tmp_path)
    engine = eos_engine_factory()
    with serve_app(create_app(ws, engine=engine)) as srv:
        engine.reset_script()
        rid = httpx.post(srv.url + "/v1/chat/completions", timeout=30,
                         json={"messages": [{"role": "user", "content": "ＡＢＣ  测试\x1b[31m"}]}).json()["id"]
        httpx.post(srv.url + "/v1/feedback", json={"request_id": rid, "rating": -1, "correction": "答案   是ＸＹＺ。"})
    (rec,) = read_jsonl(export_feedback(ws).sft_path)
    assert rec["messages"][0]["content"] == "ABC 测试" and rec["messages"][-1]["content"] == "答案 是XYZ。"
