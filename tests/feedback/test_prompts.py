"""The prompt library: version semantics (promote, rollback to the previously served version, errors that name
the fix), and evaluation of a model × prompt pair (the prompt reaches the generations; reports and the prompt
row record it)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from zaomo.cli.main import app
from zaomo.eval import run_eval
from zaomo.eval.targets import LocalTarget
from zaomo.feedback.prompts import add_prompt, diff, eval_prompt, promote, resolve, rollback
from zaomo.utils.io import write_jsonl
from zaomo.workspace import Workspace


@pytest.fixture
def ws(tmp_path):
    return Workspace.init(tmp_path)


def statuses(ws: Workspace, name: str) -> dict[int, str]:
    return {p.version: p.status for p in ws.registry.prompts(name)}


def test_versions_lineage_promote_and_rollback(ws):
    v1 = add_prompt(ws, "support", "你是客服。", note="first")
    v2 = add_prompt(ws, "support", "你是客服，请简洁。")
    v3 = add_prompt(ws, "support", "You are the support desk.", model="tiny")
    assert (v1.version, v2.version, v3.version) == (1, 2, 3)
    assert (v1.parent_id, v2.parent_id, v3.parent_id) == (None, v1.id, v2.id)
    assert statuses(ws, "support") == {1: "candidate", 2: "candidate", 3: "candidate"}
    assert resolve(ws, "support").version == 3  # nothing promoted: the newest

    promote(ws, "support:1")
    promote(ws, "support:3")
    promote(ws, "support:2")  # served order: 1, 3, 2
    assert statuses(ws, "support") == {1: "retired", 2: "promoted", 3: "retired"}
    assert resolve(ws, "support").version == 2
    back = rollback(ws, "support")
    assert back.version == 3 and back.status == "promoted"  # the previously served one, not the previous number
    assert statuses(ws, "support") == {1: "retired", 2: "rolled-back", 3: "promoted"}
    assert rollback(ws, "support").version == 1
    with pytest.raises(ValueError, match=r"promote support:VERSION"):  # nothing served before v1
        rollback(ws, "support")
    assert "-你是客服。\n+You are the support desk." in diff(ws, "support:1", "support:3")


def test_errors_name_the_fix(ws):
    with pytest.raises(ValueError, match="explicit version, e.g. support:2"):
        promote(ws, "support")
    with pytest.raises(FileNotFoundError, match="zaomo prompts add support"):
        promote(ws, "support:1")
    add_prompt(ws, "support", "x")
    with pytest.raises(FileNotFoundError, match="versions of support: 1"):
        resolve(ws, "support:7")
    with pytest.raises(ValueError, match="zaomo prompts promote support:VERSION"):
        rollback(ws, "support")
    with pytest.raises(ValueError, match="no {input} placeholder"):
        add_prompt(ws, "support", "x", template="回答")
    with pytest.raises(ValueError, match="without spaces or ':'"):
        add_prompt(ws, "a:b", "x")
    r = CliRunner().invoke(app, ["prompts", "add", "support", "-w", str(ws.root)])
    assert r.exit_code == 2 and "--file F or --text T" in r.output


def _eval_ws(tmp_path, model_dir) -> Workspace:
    ws = Workspace.init(tmp_path)
    write_jsonl(ws.root / "data/eval/qa.jsonl", [{"id": "q1", "question": "你好", "answers": ["好"]},
                                                 {"id": "q2", "question": "研发部的负责人是谁？", "answers": ["王建国"]}])
    return Workspace.open(tmp_path, overrides=["eval.qa_file=data/eval/qa.jsonl", "eval.max_new_tokens=4",
                                               f"serve.model={model_dir}", "eval.contamination_files=[]"])


def test_eval_of_a_model_and_prompt_pair(tmp_path, tiny_model_dir, monkeypatch):
    ws = _eval_ws(tmp_path, tiny_model_dir)
    seen: list[list[dict]] = []
    real = LocalTarget.generate

    def recording(self, conversations, max_new_tokens):
        seen.extend(conversations)
        return real(self, conversations, max_new_tokens)

    monkeypatch.setattr(LocalTarget, "generate", recording)
    add_prompt(ws, "support", "你是客服。", template="请简洁回答：{input}")
    r = eval_prompt(ws, "support:1", tasks=["qa"], progress=False)
    assert seen == [[{"role": "system", "content": "你是客服。"}, {"role": "user", "content": "请简洁回答：你好"}],
                    [{"role": "system", "content": "你是客服。"},
                     {"role": "user", "content": "请简洁回答：研发部的负责人是谁？"}]]
    report = json.loads(r.report.path.read_text(encoding="utf-8"))
    assert (report["prompt"]["name"], report["prompt"]["version"]) == ("support", 1)
    assert report["card"]["prompt"]["version"] == 1 and report["model"] == str(tiny_model_dir)
    assert "prompt: <code>support:1</code>" in r.report.html_path.read_text(encoding="utf-8")
    stored = ws.registry.get_prompt("support", 1).eval
    assert stored["metrics"]["qa.accuracy"] == r.report.metrics["qa.accuracy"]
    assert stored["run_id"] == r.report.run_id and stored["tasks"] == ["qa"] and stored["report"] == str(r.report.path)
    assert r.prompt.status == "candidate"  # evaluating does not promote

    seen.clear()  # without a prompt the conversations are the bare question, and the report names none
    plain = run_eval(ws, target=str(tiny_model_dir), tasks=["qa"], progress=False)
    assert seen[0] == [{"role": "user", "content": "你好"}]
    assert json.loads(plain.path.read_text(encoding="utf-8"))["prompt"] is None


def test_eval_cli_with_prompt(tmp_path, tiny_model_dir):
    ws = _eval_ws(tmp_path, tiny_model_dir)
    add_prompt(ws, "support", "你是客服。")
    promote(ws, "support:1")
    args = ["-w", str(ws.root), "--set", "eval.qa_file=data/eval/qa.jsonl", "--set", "eval.max_new_tokens=4",
            "--set", "eval.contamination_files=[]", "--set", f"serve.model={tiny_model_dir}"]
    r = CliRunner().invoke(app, ["eval", "--tasks", "qa", "--prompt", "support", *args], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "prompt support:1" in r.output
    [rep] = sorted(ws.eval_root.glob("*/report.json"))
    assert json.loads(rep.read_text(encoding="utf-8"))["prompt"]["version"] == 1
    r = CliRunner().invoke(app, ["prompts", "list", *args], env={"COLUMNS": "200"})
    assert r.exit_code == 0 and "support" in r.output and "promoted" in r.output
