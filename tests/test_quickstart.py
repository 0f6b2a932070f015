"""The whole loop. The fast test runs it with a few steps and checks that every stage produced its
artifact and the table is real; the slow one (make test-all) runs the real recipe and checks the claims."""

from __future__ import annotations

import json

import pytest

from zaomo.demo.loop import run_quickstart, table_rows
from zaomo.workspace import Workspace

FAST = ["train.max_steps=4", "model.hidden_size=64", "model.num_layers=2", "model.num_heads=4",
        "model.intermediate_size=128", "eval.max_new_tokens=8", "train.eval_every=2"]


def test_quickstart_runs_every_stage(tmp_path):
    res = run_quickstart(tmp_path / "qs", progress=False, log=lambda *_: None, overrides=FAST, drills=20)
    root = tmp_path / "qs"
    for p in ("data/clean/train.jsonl", "data/clean/report.html", "data/clean/quarantine.jsonl",
              "tokenizer/tokenizer.json", "models/handbook-base/model.safetensors",
              "models/handbook-chat/generation_config.json", "kb/default/chunks.jsonl", "quickstart_report.html",
              "quickstart.json"):
        assert (root / p).exists(), p
    d = res.data
    assert d["read"] == d["kept"] + d["quarantined"] + d["deduplicated"]
    m = res.metrics
    assert 0 <= m["qa_pretrained"] <= 1 and m["retrieval_recall@5"] >= 0.9 and m["qa_items"] >= 40
    kb_row = dict(table_rows(res))["QA accuracy, SFT + knowledge base (the model's own open-book answers)"]
    assert kb_row.startswith(f"{100 * m['qa_sft_kb']:.1f}%") and "with quoted evidence" in kb_row
    ws = Workspace.open(root)
    assert ws.cfg.serve.model == "handbook-chat" and ws.registry.get_model("handbook-chat").status == "promoted"
    assert json.loads((root / "quickstart.json").read_text(encoding="utf-8"))["seconds"] > 0


@pytest.mark.slow
def test_quickstart_claims_hold(tmp_path):
    res = run_quickstart(tmp_path / "qs", progress=False, log=lambda *_: None)
    m = res.metrics
    assert m["qa_sft"] > m["qa_pretrained"]
    # the headline is the model's own open-book accuracy; quoting evidence for unsupported answers is reported
    # beside it and should not make the system worse than the model alone
    assert m["qa_sft_kb"] is not None and m["qa_sft_kb_quoted"] is not None
    assert m["qa_sft_kb_quoted"] >= m["qa_sft_kb"]
    assert res.seconds < 600
