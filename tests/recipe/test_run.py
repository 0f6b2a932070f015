"""`zaomo run` on a folder of documents made here, with a data → kb → sft(lora) → eval recipe and the tiny model
as the LoRA base: the first run makes everything and the report; a second does nothing; a changed eval key
reruns eval only; an added document reruns data, kb and what follows; --dry-run says what and why without
running; --force reruns from a stage; a run killed during training resumes from its checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from recipe_docs import RECIPE, write_documents
from typer.testing import CliRunner

from zaomo.cli.main import app
from zaomo.utils.io import read_jsonl
from zaomo.workspace import Workspace

STAGES = ["data", "kb", "sft", "eval"]


def zaomo_run(ws: Path, *args: str) -> tuple[str, dict[str, str]]:
    r = CliRunner().invoke(app, ["run", "-w", str(ws), *args])
    assert r.exit_code == 0, r.output + repr(r.exception)
    if "--dry-run" in args:
        return r.output, {}
    rep = json.loads((ws / "run_report.json").read_text(encoding="utf-8"))
    return r.output, {s["label"]: s["status"] for s in rep["stages"]}


def test_run_is_incremental_and_reports_on_your_documents(recipe_ws):
    ws = recipe_ws()
    out, status = zaomo_run(ws)
    assert status == dict.fromkeys(STAGES, "ran")
    for p in ("data/clean/train.jsonl", "data/heldout/domain_qa.jsonl", "kb/default/chunks.jsonl",
              "models/lib-sft/model.safetensors", "models/lib-sft-adapter/adapter_model.safetensors",
              "run_report.html", "runs/recipe/state.json"):
        assert (ws / p).exists(), p
    rows = dict(map(tuple, json.loads((ws / "run_report.json").read_text(encoding="utf-8"))["rows"]))
    questions = read_jsonl(ws / "data/heldout/domain_qa.jsonl")
    n_q = len(questions)
    assert n_q >= 3
    train = [r["text"] for r in read_jsonl(ws / "data/clean/train.jsonl")]
    for q in questions:  # answers are spans of their sentence, and no sentence asked about is trained on
        assert q["answers"][0] in q["evidence"] and all(q["evidence"] not in t for t in train)
    closed = next(k for k in rows if k.startswith("domain QA accuracy, closed-book"))
    assert f"({n_q} questions)" in closed and rows[closed].endswith("%")
    assert rows["domain QA accuracy, with the knowledge base (the model's own answers)"].endswith("%")
    assert "quoted passage sentence" in rows["domain QA accuracy, with the knowledge base (unsupported answers → "
                                             "quoted evidence)"]
    assert rows["retrieval recall@5 (the answer's sentence among the top 5 chunks)"].split("%")[0] != "—"
    assert "adapter" in rows["sft (sft, lora): model"] and rows["sft: validation loss"][0].isdigit()
    refusal = rows["refusal on held-out harmful prompts: model alone / system (guard + model)"]
    assert rows["records read"].startswith("14 ") and all(x.strip().endswith("%") for x in refusal.split("/"))
    assert rows["serve it"] == f"zaomo serve -w {ws.resolve()} --model lib-sft --kb default"
    html = (ws / "run_report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in html and "closed-book" in html

    registry = Workspace.open(ws).registry
    runs, versions = len(registry.runs()), len(registry.models())
    model_mtime = (ws / "models/lib-sft/model.safetensors").stat().st_mtime_ns
    out, status = zaomo_run(ws)
    assert status == dict.fromkeys(STAGES, "up to date")
    assert (len(registry.runs()), len(registry.models())) == (runs, versions)  # no run started, no model made
    assert (ws / "models/lib-sft/model.safetensors").stat().st_mtime_ns == model_mtime

    _, status = zaomo_run(ws, "--set", "eval.max_new_tokens=6")  # a key only eval reads
    assert status == {"data": "up to date", "kb": "up to date", "sft": "up to date", "eval": "ran"}

    write_documents(ws / "docs", 1, seed=7, start=40)  # one more document
    out, _ = zaomo_run(ws, "--dry-run")
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") >= 4}
    assert "would run" in lines["data"] and "input changed: data.inputs[0] (docs)" in lines["data"]
    assert "would run" in lines["kb"] and "kb.sources[0]" in lines["kb"]
    assert "may run" in lines["sft"] and "reruns if data or kb writes" in lines["sft"]
    assert "would run" in lines["eval"] and "config changed: eval.max_new_tokens 6 → 8" in lines["eval"]
    assert json.loads((ws / "run_report.json").read_text(encoding="utf-8"))["stages"][0]["status"] == "up to date"
    _, status = zaomo_run(ws)
    assert status == dict.fromkeys(STAGES, "ran")
    assert "records read" in rows and json.loads((ws / "run_report.json").read_text(encoding="utf-8"))[
        "rows"][0][1].startswith("15 ")

    out, _ = zaomo_run(ws, "--dry-run", "--force", "kb")  # from kb on, whatever changed
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") >= 4}
    assert "up to date" in lines["data"]
    assert all("would run" in lines[s] and "forced (--force kb)" in lines[s] for s in ("kb", "sft", "eval"))
    _, status = zaomo_run(ws, "--force", "eval")
    assert status == {"data": "up to date", "kb": "up to date", "sft": "up to date", "eval": "ran"}
    r = CliRunner().invoke(app, ["run", "-w", str(ws), "--force", "sfft"])
    assert r.exit_code == 2 and "--force sfft: no such stage" in r.output and "data, kb, sft, eval" in r.output


def test_a_run_killed_during_training_resumes_from_its_checkpoint(recipe_ws):
    ws = recipe_ws(train={**RECIPE["train"], "max_steps": 30, "save_every": 5, "eval_every": 15},
                   pipeline=["data", {"sft": {"method": "lora", "drills": 16}}])
    exe = Path(sys.executable).parent / "zaomo"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "250"}
    proc = subprocess.Popen([str(exe), "run", "-w", str(ws)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=env, start_new_session=True)
    deadline = time.monotonic() + 240
    first = None
    while first is None:
        first = next(iter(ws.glob("runs/train-sft-*/checkpoints/step-*/state.json")), None)
        assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint within 240 s"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (ws / "models/lib-sft").exists()  # killed before the end of training
    run_dir = first.parents[2]

    r = subprocess.run([str(exe), "run", "-w", str(ws)], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert f"resumes the interrupted run {run_dir.name}" in " ".join(r.stdout.split())
    assert [p.name for p in ws.glob("runs/train-sft-*")] == [run_dir.name]  # the same run, continued
    log = (run_dir / "train.log").read_text(encoding="utf-8")
    assert f"resumed {run_dir.name} from step" in log
    status = {s["label"]: s["status"] for s in json.loads((ws / "run_report.json").read_text())["stages"]}
    assert status == {"data": "up to date", "sft": "ran"}
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
    assert steps[-1] == 30 and steps == sorted(steps) and len(steps) == len(set(steps))  # one curve, no step twice
    assert (ws / "models/lib-sft/model.safetensors").exists()
