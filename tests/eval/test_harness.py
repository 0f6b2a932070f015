"""The lm-evaluation-harness bridge on a local task (no hub): its accuracy equals the one computed from our
own log-likelihoods of the same contexts and continuations."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from zaomo.cli.main import app
from zaomo.eval.targets import LocalTarget
from zaomo.workspace import Workspace


def test_harness_task_on_a_zaomo_model_matches_our_loglikelihoods(tmp_path, tiny_model_dir, monkeypatch):
    pytest.importorskip("lm_eval")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    rows = [{"question": f"问题{i}：选哪一个？", "choices": ["甲", "乙", "丙", "丁"], "answer": i % 4} for i in range(8)]
    from zaomo.eval.harness import write_choice_task

    tasks = write_choice_task(tmp_path / "tasks", "zaomo_zh_mc", rows)
    Workspace.init(tmp_path / "ws")
    r = CliRunner().invoke(app, ["eval", "--harness", "zaomo_zh_mc", "--harness-include", str(tasks),
                                 "--target", str(tiny_model_dir), "-w", str(tmp_path / "ws")])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "ws" / "eval" / "harness.json").read_text(encoding="utf-8"))
    acc = res["zaomo_zh_mc"]["acc,none"]

    tgt = LocalTarget(tiny_model_dir, batch_size=4, device="cpu")
    ctxs = [f"{r['question']}\n答案：" for r in rows for _ in r["choices"]]
    conts = [f" {c}" for r in rows for c in r["choices"]]
    s = tgt.loglikelihoods(ctxs, conts)
    ours = sum(max(range(4), key=lambda j: s[4 * i + j]) == r["answer"] for i, r in enumerate(rows)) / len(rows)
    assert acc == pytest.approx(ours)
