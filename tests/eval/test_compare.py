"""`compare`: a paired bootstrap over per-item scores, gates on the CI, a direction for every metric."""

from __future__ import annotations

import random

import pytest

from zaomo.eval import run_eval
from zaomo.eval.compare import bootstrap_ci, compare
from zaomo.eval.directions import direction
from zaomo.utils.io import write_jsonl
from zaomo.workspace import Workspace


def _reports_with_a_real_3_point_drop():
    """300 items, 70% right; the new model gets the same items right except 9 (a paired 3-point drop)."""
    rng = random.Random(0)
    old = [float(rng.random() < 0.7) for _ in range(300)]
    right = [i for i, v in enumerate(old) if v]
    lost = set(rng.sample(right, 9))
    new = [0.0 if i in lost else v for i, v in enumerate(old)]

    def rep(vals):
        return {"metrics": {"qa.accuracy": sum(vals) / len(vals)},
                "items": {"qa": [{"id": f"q{i}", "correct": v, "scores": {"accuracy": v}}
                                 for i, v in enumerate(vals)]}}

    return rep(old), rep(new)


def test_paired_bootstrap_sees_a_real_3_point_drop():
    old, new = _reports_with_a_real_3_point_drop()
    c = compare(old, new, bootstrap=2000)
    o, n, d, lo, hi = c.deltas["qa.accuracy"]
    assert d == pytest.approx(-0.03) and c.methods["qa.accuracy"] == "paired"
    assert lo < -0.03 < hi < 0  # excludes 0
    # the same scores without item ids can only be resampled independently: a much wider interval
    strip = [{"metrics": r["metrics"], "items": {"qa": [{"correct": x["correct"]} for x in r["items"]["qa"]]}}
             for r in (old, new)]
    u = compare(*strip, bootstrap=2000)
    _, _, _, ulo, uhi = u.deltas["qa.accuracy"]
    assert u.methods["qa.accuracy"] == "unpaired" and ulo < 0 < uhi
    assert (hi - lo) < 0.5 * (uhi - ulo)


def test_gate_uses_the_ci_and_the_tolerance():
    old, new = _reports_with_a_real_3_point_drop()
    c = compare(old, new, {"qa.accuracy": 0.02}, bootstrap=2000)
    assert not c.passed and "excludes 0" in c.failures[0] and "paired" in c.failures[0]
    assert compare(old, new, {"qa.accuracy": 0.05}).passed  # within tolerance
    # a 3-point drop between two unpaired samples of 100 is within noise: the CI spans 0, so the gate holds
    a, b = [1.0] * 70 + [0.0] * 30, [1.0] * 67 + [0.0] * 33
    noisy = compare({"metrics": {"qa.accuracy": 0.70}, "items": {"qa": [{"correct": x} for x in a]}},
                    {"metrics": {"qa.accuracy": 0.67}, "items": {"qa": [{"correct": x} for x in b]}},
                    {"qa.accuracy": 0.02})
    assert noisy.deltas["qa.accuracy"][3] < 0 < noisy.deltas["qa.accuracy"][4] and noisy.passed


def test_a_10x_latency_regression_fails_the_gate():
    old = {"metrics": {"speed.latency_p50_s": 0.2, "speed.ttft_p50_s": 0.05, "speed.output_tokens_per_s": 900.0}}
    new = {"metrics": {"speed.latency_p50_s": 2.0, "speed.ttft_p50_s": 0.5, "speed.output_tokens_per_s": 90.0}}
    gates = {"speed.latency_p50_s": 0.1, "speed.ttft_p50_s": 0.05, "speed.output_tokens_per_s": 50.0}
    c = compare(old, new, gates)
    assert not c.passed and len(c.failures) == 3 and "point estimate" in c.failures[0]
    assert compare(new, old, gates).passed  # 10× faster is an improvement, not a regression
    assert not compare({"metrics": {"judge.unparsable_rate": 0.0}}, {"metrics": {"judge.unparsable_rate": 0.3}},
                       {"judge.unparsable_rate": 0.05}).passed


def test_unknown_metrics_are_reported_and_cannot_be_gated():
    rep = {"metrics": {"qa.accuracy": 0.5, "qa.vibes": 3.0}}
    c = compare(rep, rep)
    assert c.unknown == ["qa.vibes"]
    with pytest.raises(ValueError, match="no direction"):
        compare(rep, rep, {"qa.vibes": 0.1})
    with pytest.raises(ValueError, match="a count"):
        compare(rep, rep, {"qa.n": 1})


def test_bootstrap_ci_pairs_only_on_the_same_ids():
    assert bootstrap_ci([("a", 1.0), ("b", 0.0)], [("a", 1.0), ("b", 0.0)], 200)[2] == "paired"
    assert bootstrap_ci([("a", 1.0), ("b", 0.0)], [("a", 1.0), ("c", 0.0)], 200)[2] == "unpaired"


def test_every_metric_a_report_writes_has_a_direction(tmp_path, tiny_model_dir):
    ws = Workspace.init(tmp_path)
    write_jsonl(ws.root / "data/eval/qa.jsonl", [{"id": "q1", "question": "你好", "answers": ["好"]}])
    write_jsonl(ws.root / "data/eval/mc.jsonl", [{"id": "m1", "question": "1+1=?", "choices": ["1", "2"], "answer": 1}])
    write_jsonl(ws.clean_dir / "val.jsonl", [{"text": "研发部的负责人是王建国。" * 3}])
    write_jsonl(ws.clean_dir / "train.jsonl", [{"text": "无关的训练文本。"}])
    ws = Workspace.open(tmp_path, overrides=["eval.qa_file=data/eval/qa.jsonl", "eval.choice_file=data/eval/mc.jsonl",
                                             "eval.max_new_tokens=4", "eval.circular=true"])
    rep = run_eval(ws, target=str(tiny_model_dir), progress=False)
    assert [k for k in rep.metrics if direction(k) is None] == []
    c = compare(rep, rep, {"qa.accuracy": 0.0, "safety.attack_success_rate": 0.0})
    assert c.passed and c.unknown == [] and c.methods["qa.accuracy"] == "paired"


def test_judge_and_speed_metrics_have_directions():
    from zaomo.eval.judge import eval_judge
    from zaomo.eval.speed import measure_speed

    class StubJudge:
        def grade(self, q, a, ref=None):
            return 7, '{"score": 7}'

        def compare(self, q, a, b):
            return "A", ["{}", "{}"]

    class Gen:
        def generate(self, convs, n):
            return ["x"] * len(convs)

    items = [{"id": "1", "question": "q", "answers": ["a"]}]
    keys = [f"judge.{k}" for mode in ("single", "pairwise") for k in eval_judge(Gen(), items, StubJudge(), 4, mode)[0]]
    keys += [f"speed.{k}" for k in measure_speed("http://127.0.0.1:9/v1", ["hi"], 1, 4, timeout=2)]
    assert [k for k in keys if direction(k) is None] == []
