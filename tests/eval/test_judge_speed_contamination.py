"""The LLM judge against a scripted judge server (unparsable verdicts counted), C-Eval/CMMLU/MMLU CSVs with
dev shots and circular evaluation, clean vs contaminated scores, and the speed task against a real server."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI, Request

from zaomo.eval import run_eval
from zaomo.eval.choice_data import load_choice_sets, read_csv_items
from zaomo.eval.judge import Judge, eval_judge, parse_json_verdict
from zaomo.eval.runner import eval_choice
from zaomo.eval.speed import measure_speed
from zaomo.eval.targets import LocalTarget
from zaomo.serve.app import create_app
from zaomo.utils.io import InputError, write_jsonl
from zaomo.workspace import Workspace


class FixedAnswers:
    kind, path, chat_template = "local", "fixed", None

    def __init__(self, answers):
        self.answers = answers

    def generate(self, convs, max_new_tokens):
        return [self.answers[c[-1]["content"]] for c in convs]


def judge_server(serve_app, replies):
    """An OpenAI-compatible judge that answers each prompt by a rule the test sets."""
    app = FastAPI()
    seen = []

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        prompt = (await request.json())["messages"][-1]["content"]
        seen.append(prompt)
        return {"choices": [{"index": 0, "message": {"role": "assistant", "content": replies(prompt)},
                             "finish_reason": "stop"}]}

    return serve_app(app), seen


def test_parse_json_verdict_whole_fenced_in_prose_and_garbage():
    assert parse_json_verdict('{"score": 7}') == {"score": 7}
    assert parse_json_verdict('Sure.\n```json\n{"winner": "B"}\n```') == {"winner": "B"}
    assert parse_json_verdict('I think {"score": 3, "reason": "wrong"} overall.') == {"score": 3, "reason": "wrong"}
    assert parse_json_verdict("Score: 8/10, a good answer") is None


def test_single_grading_counts_unparsable_verdicts(serve_app):
    def replies(prompt):
        if "北京" in prompt:
            return '{"score": 9, "reason": "correct"}'
        if "上海" in prompt:
            return 'The answer is wrong. {"score": 2, "reason": "wrong city"}'
        return "I would give it an eight."  # not JSON: unparsable

    tgt = FixedAnswers({"首都是哪里？": "北京", "最大城市？": "上海", "最长的河？": "长江"})
    items = [{"id": "a", "question": "首都是哪里？", "answers": ["北京"]},
             {"id": "b", "question": "最大城市？", "answers": ["上海"]},
             {"id": "c", "question": "最长的河？", "answers": ["长江"]}]
    with judge_server(serve_app, replies)[0] as srv:
        m, rows = eval_judge(tgt, items, Judge(srv.url + "/v1", "j"), 16)
    assert m["unparsable"] == 1 and m["unparsable_rate"] == pytest.approx(1 / 3) and m["n"] == 3
    assert m["score_mean"] == pytest.approx((9 + 2) / 2)
    assert [r["score"] for r in rows] == [9, 2, None] and rows[2]["reply"].startswith("I would")


def test_pairwise_swaps_positions_and_a_positional_judge_gives_ties(serve_app):
    tgt = FixedAnswers({"q1": "good answer", "q2": "bad answer"})
    items = [{"id": "1", "question": "q1", "reference": "bad answer"},
             {"id": "2", "question": "q2", "reference": "good answer"}]

    def fair(prompt):  # prefers the text 'good answer' wherever it is shown
        a = prompt.split("[Answer A]\n")[1].split("\n")[0]
        return json.dumps({"winner": "A" if a == "good answer" else "B"})

    with judge_server(serve_app, fair)[0] as srv:
        m, rows = eval_judge(tgt, items, Judge(srv.url + "/v1", "j"), 16, mode="pairwise")
    assert [r["verdict"] for r in rows] == ["A", "B"] and m["win_rate"] == 0.5 and m["loss_rate"] == 0.5
    with judge_server(serve_app, lambda p: '{"winner": "A"}')[0] as srv:  # always the first shown
        m, _ = eval_judge(tgt, items, Judge(srv.url + "/v1", "j"), 16, mode="pairwise")
    assert m["tie_rate"] == 1.0 and m["unparsable"] == 0


CEVAL = "id,question,A,B,C,D,answer,explanation\n0,1+1=?,1,2,3,4,B,\n1,2+2=?,4,3,2,1,A,\n"
CMMLU = ",Question,A,B,C,D,Answer\n0,中国的首都是？,上海,北京,广州,深圳,B\n"
MMLU = "What is 3+3?,5,6,7,8,B\nWhat is 1+0?,1,2,3,4,A\n"


def test_csv_layouts_subjects_and_bad_rows(tmp_path):
    d = tmp_path / "sets"
    d.mkdir()
    (d / "math_val.csv").write_text(CEVAL, encoding="utf-8")
    (d / "math_dev.csv").write_text(CEVAL, encoding="utf-8")
    (d / "geo_test.csv").write_text(CMMLU, encoding="utf-8")
    (d / "arith.csv").write_text(MMLU, encoding="utf-8")
    items, dev = load_choice_sets(d)
    assert sorted({i["subject"] for i in items}) == ["arith", "geo", "math"] and len(items) == 5
    assert [i["answer"] for i in items if i["subject"] == "geo"] == ["B"]
    assert items[0]["choices"] == ["5", "6", "7", "8"] and len(dev["math"]) == 2
    (d / "bad.csv").write_text("q,1,2,3,4,E\n", encoding="utf-8")
    with pytest.raises(InputError, match="bad.csv:1"):
        read_csv_items(d / "bad.csv")


def test_shots_from_dev_and_circular_evaluation(tiny_model_dir):
    tgt = LocalTarget(tiny_model_dir, batch_size=4, device="cpu")
    b_id = tgt.tok(" B", add_special_tokens=False)["input_ids"][-1]
    handle = tgt.model.register_forward_hook(lambda _m, _a, out: out.logits.__setitem__(
        (..., b_id), out.logits[..., b_id] + 50.0) or out)
    items = [{"id": str(i), "question": f"问题{i}", "choices": ["甲", "乙", "丙", "丁"], "answer": a,
              "subject": "s"} for i, a in enumerate(["B", "B", "A", "C"])]
    m, rows = eval_choice(tgt, items, circular=True)
    assert m["accuracy_first_order"] == 0.5  # always 'B': right on the two B items
    assert m["accuracy"] == 0.0  # but never right in every rotation
    assert rows[0]["picks"] == ["B", "B", "B", "B"]
    m, rows = eval_choice(tgt, items, shots=1)  # no dev set: the first item is the shot, not scored
    assert m["n"] == 3 and [r["id"] for r in rows] == ["1", "2", "3"]
    m, _ = eval_choice(tgt, items, shots=1, dev={"s": [dict(items[0], id="dev")]})
    assert m["n"] == 4
    handle.remove()


def test_clean_and_contaminated_scores(tmp_path, tiny_model_dir):
    ws = Workspace.init(tmp_path)
    leaked = "研发部的负责人是王建国，他从二零一五年起带领团队完成了三代产品的研发工作。"
    write_jsonl(ws.root / "data/eval/qa.jsonl", [
        {"id": "leak", "question": leaked + "请问负责人是谁？", "answers": ["王建国"]},
        {"id": "clean", "question": "食堂几点开门？", "answers": ["十一点半"]}])
    write_jsonl(ws.clean_dir / "train.jsonl", [{"text": "公司介绍。" + leaked + "其余内容。"}])
    ws = Workspace.open(tmp_path, overrides=["eval.qa_file=data/eval/qa.jsonl", "eval.max_new_tokens=4",
                                             "eval.choice_file=null"])
    rep = run_eval(ws, target=str(tiny_model_dir), tasks=["qa"], progress=False)
    m = rep.metrics
    assert m["qa.n_contaminated"] == 1 and m["qa.n_clean"] == 1
    assert [r["contaminated"] for r in rep.items["qa"]] == [True, False]
    assert rep.card["contamination"]["contaminated"] == ["qa:leak"]
    assert ("qa.accuracy_clean" in m) and ("qa.accuracy_contaminated" in m)


def test_speed_against_a_real_server(tmp_path, tiny_model_dir, serve_app):
    from zaomo.serve.engines import BuiltinEngine

    ws = Workspace.init(tmp_path)
    engine = BuiltinEngine(tiny_model_dir, device="cpu", name="tiny")  # random weights: text until max_tokens
    with serve_app(create_app(ws, engine=engine)) as srv:
        m = measure_speed(srv.url + "/v1", ["你好"] * 6, concurrency=3, max_tokens=8, model="tiny")
    assert m["requests"] == 6 and m["errors"] == 0
    assert m["output_tokens"] == 6 * 8  # the server's usage.completion_tokens, summed
    assert 0 < m["ttft_p50_s"] <= m["latency_p50_s"] <= m["latency_p95_s"]
    assert m["output_tokens_per_s"] > 0


def test_misconfigured_tasks_fail_with_the_fix(tmp_path, tiny_model_dir):
    ws = Workspace.init(tmp_path)
    with pytest.raises(ValueError, match="eval.judge.url"):
        run_eval(ws, target=str(tiny_model_dir), tasks=["judge"], progress=False)
    with pytest.raises(ValueError, match="--target http"):
        run_eval(ws, target=str(tiny_model_dir), tasks=["speed"], progress=False)
    with pytest.raises(ValueError, match="available: perplexity"):
        run_eval(ws, target=str(tiny_model_dir), tasks=["vibes"], progress=False)
    ws = Workspace.open(tmp_path, overrides=["eval.contamination_files=[data/missing.jsonl]"])
    write_jsonl(ws.root / "data/eval/qa_heldout.jsonl", [{"id": "q", "question": "你好", "answers": ["好"]}])
    with pytest.raises(FileNotFoundError, match="eval.contamination_files"):
        run_eval(ws, target=str(tiny_model_dir), tasks=["qa"], progress=False)
