"""A task that is asked for either runs, fails before any work with the setting to fix, or is listed in the
report with the reason it was skipped — it never silently vanishes from the report."""

from __future__ import annotations

import json

import pytest

from zaomo.eval import run_eval
from zaomo.eval import runner as R
from zaomo.utils.io import write_jsonl
from zaomo.workspace import Workspace


class Generator:
    kind, path, chat_template = "endpoint", "http://fake/v1", None

    def generate(self, convs, max_new_tokens):
        return ["研发部的负责人是王建国。"] * len(convs)


def _ws(tmp_path, *overrides):
    ws = Workspace.init(tmp_path)
    write_jsonl(ws.root / "data/eval/qa.jsonl", [{"id": "q1", "question": "研发部的负责人是谁？", "answers": ["王建国"]}])
    write_jsonl(ws.root / "data/eval/mc.jsonl", [{"id": "m1", "question": "1+1=?", "choices": ["1", "2"], "answer": 1}])
    write_jsonl(ws.clean_dir / "val.jsonl", [{"text": "研发部的负责人是王建国。"}])
    return Workspace.open(tmp_path, overrides=["eval.qa_file=data/eval/qa.jsonl", "eval.choice_file=data/eval/mc.jsonl",
                                               "eval.contamination_files=[]", *overrides])


@pytest.fixture
def no_model(monkeypatch):
    """Fails the test if a model or endpoint is touched: input errors must come first."""
    monkeypatch.setattr(R, "_target", lambda *a, **k: pytest.fail("a target was loaded before the inputs were checked"))


@pytest.mark.parametrize(("overrides", "task", "error", "match"), [
    (["eval.qa_file=data/eval/missing.jsonl"], "qa", FileNotFoundError, "eval.qa_file: .*missing.jsonl does not exist"),
    (["eval.qa_file=null"], "qa", ValueError, "eval task 'qa' needs eval.qa_file"),
    (["eval.choice_file=data/eval/nope.jsonl"], "choice", FileNotFoundError, "eval.choice_file: .*nope.jsonl"),
    (["eval.choice_file=null"], "choice", ValueError, "eval task 'choice' needs eval.choice_file"),
    (["eval.text_file=data/none.jsonl"], "perplexity", FileNotFoundError, "eval.text_file: .*none.jsonl"),
    (["eval.safety_file=data/adv.jsonl"], "safety", FileNotFoundError, "eval.safety_file"),
])
def test_a_task_without_its_input_fails_before_any_work(tmp_path, no_model, overrides, task, error, match):
    ws = _ws(tmp_path, *overrides)
    with pytest.raises(error, match=match):
        run_eval(ws, target="unused", tasks=["qa", task], progress=False)
    assert not any(ws.eval_root.glob("*/report.json"))


def test_an_empty_qa_file_is_an_error(tmp_path, no_model):
    ws = _ws(tmp_path)
    (ws.root / "data/eval/qa.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(ValueError, match="has no items"):
        run_eval(ws, target="unused", tasks=["qa"], progress=False)


def test_endpoint_lists_the_log_likelihood_tasks_it_skipped(tmp_path, monkeypatch):
    ws = _ws(tmp_path)
    monkeypatch.setattr(R, "_target", lambda *a, **k: Generator())
    rep = run_eval(ws, target="http://fake/v1", tasks=["perplexity", "qa", "choice"], progress=False)
    assert set(rep.skipped) == {"perplexity", "choice"} and "local model" in rep.skipped["choice"]
    assert rep.metrics["qa.accuracy"] == 1.0 and not any(k.startswith(("choice.", "perplexity.")) for k in rep.metrics)
    saved = json.loads(rep.path.read_text(encoding="utf-8"))
    assert saved["skipped"] == rep.skipped and saved["card"]["skipped"] == rep.skipped
    assert "choice: skipped" in rep.html_path.read_text(encoding="utf-8")
