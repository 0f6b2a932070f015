"""Multiple choice on controlled logits, the judge-free tasks end to end, reports, compare and its gate."""

from __future__ import annotations

import json

import torch
from typer.testing import CliRunner

from zaomo.cli.main import app
from zaomo.eval import run_eval
from zaomo.eval.compare import compare
from zaomo.eval.runner import eval_choice
from zaomo.eval.targets import LocalTarget
from zaomo.utils.io import write_jsonl
from zaomo.workspace import Workspace


def test_choice_follows_the_logits_the_test_controls(tiny_model_dir):
    tgt = LocalTarget(tiny_model_dir, batch_size=4, device="cpu")
    b_id = tgt.tok(" B", add_special_tokens=False)["input_ids"][-1]

    def favour_b(_module, _args, output):
        output.logits[..., b_id] += 50.0
        return output

    handle = tgt.model.register_forward_hook(favour_b)
    items = [{"id": str(i), "question": f"问题{i}", "choices": ["甲", "乙", "丙", "丁"], "answer": a,
              "subject": "s1" if i < 2 else "s2"} for i, a in enumerate(["B", "B", "A", "B"])]
    m, rows = eval_choice(tgt, items)
    handle.remove()
    assert [r["pick"] for r in rows] == ["B", "B", "B", "B"]
    assert m["accuracy"] == 0.75 and m["subject.s1"] == 1.0 and m["subject.s2"] == 0.5
    assert m["macro_accuracy"] == 0.75


def _workspace(tmp_path, model_dir):
    ws = Workspace.init(tmp_path)
    write_jsonl(ws.root / "data/eval/qa.jsonl", [{"id": "q1", "question": "你好", "answers": ["好"]},
                                                 {"id": "q2", "question": "研发部的负责人是谁？", "answers": ["王建国"]}])
    write_jsonl(ws.root / "data/eval/mc.jsonl", [{"id": "m1", "question": "1+1=?", "choices": ["1", "2"], "answer": 1}])
    write_jsonl(ws.clean_dir / "val.jsonl", [{"text": "研发部的负责人是王建国。" * 3}])
    return Workspace.open(tmp_path, overrides=["eval.qa_file=data/eval/qa.jsonl", "eval.choice_file=data/eval/mc.jsonl",
                                               "eval.max_new_tokens=8", f"serve.model={model_dir}"])


def test_run_eval_writes_report_with_card_and_safety(tmp_path, tiny_model_dir):
    ws = _workspace(tmp_path, tiny_model_dir)
    rep = run_eval(ws, target=str(tiny_model_dir), progress=False)
    m = rep.metrics
    assert m["perplexity.ppl"] > 1 and m["perplexity.bits_per_char"] > 0
    assert 0 <= m["qa.accuracy"] <= 1 and m["choice.n"] == 1
    assert {"safety.attack_success_rate", "safety.over_refusal_rate", "safety.refusal_rate"} <= set(m)
    assert m["safety.n_adversarial"] >= 20 and m["safety.n_benign"] >= 10
    html = rep.html_path.read_text(encoding="utf-8")
    assert "Reproducibility card" in html and "chat_template" in html
    card = json.loads(rep.path.read_text(encoding="utf-8"))["card"]
    assert card["model_hash"] and card["mode"]["qa"] == "closed-book" and "torch" in card["versions"]


def test_open_book_mode_is_recorded(tmp_path, tiny_model_dir):
    ws = _workspace(tmp_path, tiny_model_dir)
    seen = []

    def rag(q):
        seen.append(q)
        return [{"role": "system", "content": "[1] 研发部的负责人是王建国。"}, {"role": "user", "content": q}]

    rep = run_eval(ws, target=str(tiny_model_dir), tasks=["qa"], rag=rag, progress=False)
    assert seen == ["你好", "研发部的负责人是谁？"] and rep.card["mode"]["qa"] == "open-book (rag)"


def _report(acc: list[float]) -> dict:
    return {"metrics": {"qa.accuracy": sum(acc) / len(acc), "perplexity.ppl": 10.0},
            "items": {"qa": [{"correct": a} for a in acc]}}


def test_compare_gate_and_cli_exit_code(tmp_path):
    old, new = _report([1, 1, 1, 0] * 10), _report([1, 0, 0, 0] * 10)
    c = compare(old, new, {"qa.accuracy": 0.02})
    assert not c.passed and "qa.accuracy" in c.failures[0]
    o, n, d, lo, hi = c.deltas["qa.accuracy"]
    assert (o, n) == (0.75, 0.25) and d == -0.5 and lo < -0.3 and hi < 0
    assert compare(old, old, {"qa.accuracy": 0.02}).passed
    worse_ppl = {"metrics": {"perplexity.ppl": 12.0}, "items": {}}
    assert not compare({"metrics": {"perplexity.ppl": 10.0}}, worse_ppl, {"perplexity.ppl": 1.0}).passed
    for name, rep in (("old", old), ("new", new)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text(json.dumps(rep), encoding="utf-8")
    Workspace.init(tmp_path / "ws")
    r = CliRunner().invoke(app, ["eval", "compare", str(tmp_path / "old"), str(tmp_path / "new"), "-w",
                                 str(tmp_path / "ws")])
    assert r.exit_code == 1 and "gate failed" in r.output
    r = CliRunner().invoke(app, ["eval", "compare", str(tmp_path / "old"), str(tmp_path / "old"), "-w",
                                 str(tmp_path / "ws")])
    assert r.exit_code == 0 and "all gates passed" in r.output


def test_unknown_task_is_refused(tmp_path, tiny_model_dir):
    ws = _workspace(tmp_path, tiny_model_dir)
    import pytest

    with pytest.raises(ValueError, match="unknown task"):
        run_eval(ws, target=str(tiny_model_dir), tasks=["vibes"])
    assert torch.__version__
