"""Routes for representative situations, `--apply`, and `zaomo doctor` on this machine."""

import json

import pytest
import yaml
from typer.testing import CliRunner

from zaomo.cli.main import app
from zaomo.plan import DataInventory, apply_plan, detect_hardware, make_plan
from zaomo.plan.hardware import Hardware
from zaomo.workspace import Workspace


def gpu(mem: float, name: str = "H100", bnb: bool = True) -> Hardware:
    return Hardware("3.11", "Linux", 16, 128, 500, "2.13", "cuda", [name], mem, True, 989.0,
                    {"bitsandbytes": bnb})


def cpu() -> Hardware:
    return Hardware("3.11", "Linux", 2, 24, 50, "2.13", "cpu", [], 0, False, 0.2, {})


def test_cpu_little_data_domain_qa_is_rag_only():
    p = make_plan("domain-qa", DataInventory(documents_chars=80_000, qa_pairs=30), cpu())
    assert p.route == "rag" and p.flops == 0 and "kb.retriever=bm25" in p.recipe


def test_cpu_chat_without_pairs_trains_a_tiny_preset_from_scratch():
    p = make_plan("chat", DataInventory(documents_chars=200_000), cpu())
    assert p.route == "from-scratch" and p.preset in ("tiny", "10m")
    assert p.flops == pytest.approx(6 * p.params * p.train_tokens)


def test_24gb_gpu_with_qa_pairs_uses_qlora_on_a_larger_base():
    p = make_plan("domain-qa", DataInventory(qa_pairs=2000), gpu(24, "RTX 4090"))
    assert p.route == "qlora" and "train.method=qlora" in p.recipe
    assert p.memory_gb <= 24 and p.params >= 7e9


def test_80gb_gpu_with_lora_fitting_uses_lora():
    p = make_plan("chat", DataInventory(qa_pairs=5000), gpu(80))
    assert p.route in ("lora", "qlora") and p.memory_gb <= 80


def test_billion_tokens_on_80gb_is_continued_pretraining():
    p = make_plan("writing", DataInventory(tokens=1_000_000_000), gpu(80))
    assert p.route == "continued-pretraining" and p.memory_gb <= 80
    assert p.hours > 0 and "train.stage=pretrain" in p.recipe


def test_time_budget_shrinks_the_model():
    big = make_plan("writing", DataInventory(tokens=1_000_000_000), gpu(80))
    small = make_plan("writing", DataInventory(tokens=1_000_000_000), gpu(80), budget_hours=1)
    assert small.params < big.params


def test_unknown_goal_is_refused():
    with pytest.raises(ValueError, match="goal"):
        make_plan("poetry-slam", DataInventory(), cpu())


def test_apply_writes_a_valid_recipe(tmp_path):
    ws = Workspace.init(tmp_path)
    p = make_plan("domain-qa", DataInventory(qa_pairs=2000), gpu(24, "RTX 4090"))
    changed = apply_plan(ws, p)
    assert "train.method" in changed and "model.base" in changed
    reopened = Workspace.open(tmp_path)
    assert reopened.cfg.train.method == "qlora" and reopened.cfg.model.base == p.base_model
    assert (tmp_path / "plan.md").read_text(encoding="utf-8").startswith("# Plan: qlora")


def test_detect_hardware_here():
    hw = detect_hardware()
    assert hw.cpu_cores >= 1 and hw.host_memory_gb > 0 and hw.disk_free_gb > 0
    assert hw.device in ("cpu", "cuda", "mps") and hw.torch


def test_doctor_cli_json():
    r = CliRunner().invoke(app, ["doctor", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["host_memory_gb"] > 0 and set(d["largest_model"]) == {"full", "lora", "qlora", "inference"}
    assert d["largest_model"]["inference"] >= d["largest_model"]["full"]


def test_plan_cli_apply_measures_the_workspace(tmp_path):
    Workspace.init(tmp_path)
    (tmp_path / "data" / "sft").mkdir(parents=True)
    (tmp_path / "data" / "sft" / "qa.jsonl").write_text('{"messages": []}\n' * 250, encoding="utf-8")
    r = CliRunner().invoke(app, ["plan", "-w", str(tmp_path), "--goal", "chat", "--gpu-memory-gb", "80", "--apply"])
    assert r.exit_code == 0, r.output
    assert "250 QA pairs" in r.output
    cfg = yaml.safe_load((tmp_path / "zaomo.yaml").read_text(encoding="utf-8"))
    assert cfg["train"]["stage"] == "sft" and cfg["train"]["method"] in ("lora", "qlora")
