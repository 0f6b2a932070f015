"""`pipeline:` in zaomo.yaml: shorthands, per-stage keys validated against their section, errors naming the entry
and the fix, what the chain fixes for each step, and what writes a pipeline (`zaomo init --docs`, `plan --apply`)."""

from __future__ import annotations

import os

import pytest
import yaml
from typer.testing import CliRunner

from zaomo.cli.main import app
from zaomo.config import ConfigError, ZaomoConfig, apply_overrides, default_yaml, load_config, validate
from zaomo.recipe.pipeline import plan_steps
from zaomo.utils.io import write_jsonl
from zaomo.workspace import Workspace


def _load(tmp_path, text: str) -> ZaomoConfig:
    p = tmp_path / "zaomo.yaml"
    p.write_text(text, encoding="utf-8")
    return load_config(p)


def test_shorthands_read_and_write_back(tmp_path):
    cfg = _load(tmp_path, "pipeline:\n  - data\n  - kb\n  - sft(lora)\n"
                          "  - {sft: {name: polish, lr: 1.0e-4, lora: {r: 4}, model.seq_len: 128, drills: 0}}\n"
                          "  - eval\n")
    stages = [(s.stage, s.name, s.drills, s.set) for s in cfg.pipeline]
    assert stages == [("data", None, None, {}), ("kb", None, None, {}), ("sft", None, None, {"train.method": "lora"}),
                      ("sft", "polish", 0, {"train.lr": 1e-4, "train.lora.r": 4, "model.seq_len": 128}),
                      ("eval", None, None, {})]
    text = default_yaml(cfg)
    assert "  - sft(lora)\n" in text and "model.seq_len: 128" in text
    assert ZaomoConfig.model_validate(yaml.safe_load(text)) == cfg
    assert load_config(None).pipeline[0].stage == "data"  # a zaomo.yaml without pipeline: the default recipe


@pytest.mark.parametrize(("entry", "expected"), [
    ("sftt", ["pipeline[1]", "unknown stage 'sftt'", "did you mean 'sft'", "Stages: data, tokenizer"]),
    ("{sft: {lrr: 0.1}}", ["pipeline[1]", "train.lrr: unknown key", "did you mean 'train.lr'"]),
    ("{sft: {max_steps: many}}", ["pipeline[1]", "train.max_steps", "'many'", "integer"]),
    ("{sft: {modle.seq_len: 64}}", ["pipeline[1]", "unknown section 'modle'", "did you mean 'model'"]),
    ("{kb: {drills: 3}}", ["pipeline[1]", "'drills' is an option of sft stages only"]),
    ("kb(lora)", ["pipeline[1]", "only training stages"]),
    ("{sft: {stage: dpo}}", ["pipeline[1]", "train.stage is set by the pipeline entry"]),
    ("{sft: 3, dpo: 4}", ["pipeline[1]", "one stage", "one entry per stage"]),
])
def test_a_bad_entry_names_the_entry_the_key_and_the_fix(tmp_path, entry, expected):
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, f"pipeline:\n  - data\n  - {entry}\n")
    for fragment in expected:
        assert fragment in str(e.value)


def _ws(tmp_path, pipeline: list, *overrides: str) -> Workspace:
    ws = Workspace.init(tmp_path / "ws")
    ws.cfg = validate(apply_overrides(ws.cfg.model_dump(mode="json"), ["project.name=p", *overrides])
                      | {"pipeline": pipeline})
    return ws


def test_steps_chain_models_and_check_what_each_needs(tmp_path):
    ws = _ws(tmp_path, ["data", "tokenizer", "pretrain", "kb", "sft", {"sft": {"method": "lora"}}, "eval"])
    steps = plan_steps(ws)
    assert [s.label for s in steps] == ["data", "tokenizer", "pretrain", "kb", "sft", "sft-2", "eval"]
    pre, sft, sft2, ev = steps[2], steps[4], steps[5], steps[6]
    assert pre.cfg.train.stage == "pretrain" and pre.cfg.train.init_from is None and pre.cfg.train.train_file is None
    assert (sft.cfg.train.init_from, sft.parent, sft.cfg.train.output_name) == ("models/p-pretrain", "pretrain",
                                                                                "p-sft")
    assert sft2.cfg.train.init_from == "models/p-sft" and sft2.cfg.train.method == "lora" and sft.cfg.train.method == \
        "full"
    assert sft.cfg.train.train_file == "runs/recipe/sft.train.jsonl" and sft.drills == 400
    assert "knowledge base" in sft.inputs and "clean train split" in sft.inputs
    assert ev.model == "models/p-sft-2" and ev.parent == "sft-2" and "knowledge base" in ev.inputs
    assert "tokenizer" in steps[3].inputs  # chunks are measured in the trained tokenizer's tokens

    def refused(pipeline, *fragments, overrides=()):
        with pytest.raises(ConfigError) as e:
            plan_steps(_ws(tmp_path, pipeline, *overrides))
        for f in fragments:
            assert f in str(e.value)

    refused(["data", "pretrain"], "pipeline[1]", "needs a tokenizer", "put 'tokenizer' before it")
    refused(["data"], "pipeline[0]", "data.inputs[0]", "nowhere does not exist", "--docs",
            overrides=["data.inputs=[nowhere]"])
    refused(["data", "kb", "data"], "pipeline[2]", "a second 'data' stage")
    refused(["kb", "eval"], "pipeline[1]", "put 'data' before 'eval'")
    refused(["data", "dpo"], "pipeline[1]", "DPO needs preference pairs at data/prefs/train.jsonl",
            overrides=["model.base=/nonexistent-base"])
    refused(["data", {"sft": {"drills": 0}}], "pipeline[1]", "SFT has no data", overrides=["model.base=/x"])
    refused(["data", "kto"], "pipeline[1]", "KTO needs preference pairs at data/prefs/train.jsonl",
            overrides=["model.base=/nonexistent-base"])
    write_jsonl(tmp_path / "ws" / "data/prefs/train.jsonl", [{"prompt": "hi", "chosen": "yo", "rejected": "no"}])
    (orpo,) = [s for s in plan_steps(_ws(tmp_path, ["data", "orpo"], "model.base=/x")) if s.kind == "orpo"]
    assert orpo.cfg.train.stage == "orpo" and orpo.inputs["preference pairs"] == "data/prefs/train.jsonl"
    write_jsonl(tmp_path / "ws" / "data/sft/train.jsonl", [{"messages": [{"role": "user", "content": "hi"},
                                                                           {"role": "assistant", "content": "yo"}]}])
    (step,) = [s for s in plan_steps(_ws(tmp_path, ["data", {"sft": {"drills": 0}}], "model.base=/x"))
               if s.kind == "sft"]
    assert step.chat_data == "data/sft/train.jsonl" and step.inputs["chat data"] == "data/sft/train.jsonl"


def test_init_with_docs_and_plan_apply_write_a_pipeline_run_can_explain(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("临川图书馆建于1987年，第一任馆长是王建国。", encoding="utf-8")
    r = CliRunner().invoke(app, ["init", str(tmp_path / "ws"), "--docs", str(docs)])
    assert r.exit_code == 0, r.output
    ws = Workspace.open(tmp_path / "ws")
    assert ws.cfg.data.inputs == [str(docs.resolve())] and ws.cfg.kb.sources == [str(docs.resolve())]
    r = CliRunner().invoke(app, ["plan", "-w", str(ws.root), "--goal", "domain-qa", "--apply"])
    assert r.exit_code == 0, r.output
    assert [s.stage for s in Workspace.open(ws.root).cfg.pipeline] == ["data", "kb", "eval"]  # the RAG route
    r = CliRunner().invoke(app, ["run", "-w", str(ws.root), "--dry-run"])
    assert r.exit_code == 0, r.output
    assert r.output.count("no successful run yet") == 3
    r = CliRunner().invoke(app, ["init", str(tmp_path / "ws"), "--docs", str(docs)])
    assert r.exit_code == 2 and "--force" in r.output  # an existing zaomo.yaml is not overwritten silently
    lock = ws.root / "runs/recipe/lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(str(os.getpid()), encoding="utf-8")  # a live process holds the workspace
    r = CliRunner().invoke(app, ["run", "-w", str(ws.root)])
    assert r.exit_code == 2 and f"another `zaomo run` (pid {os.getpid()})" in r.output
    assert not (ws.root / "data/clean").exists()
