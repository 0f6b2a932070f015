"""The GPU scripts run every case at tiny shapes on CPU (`--smoke`), so a lent GPU's few minutes are not spent
finding a broken script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> list[dict]:
    r = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-3000:])
    return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]


def test_bench_train_gpu_smoke_runs_every_case():
    rows = _run("benchmarks/bench_train_gpu.py", "--smoke", "--case", "all")
    assert {r["case"] for r in rows} >= {"minimind", "124m", "lora-1b", "qlora-1b"}
    assert all(r["zaomo_tokens_per_s"] > 0 for r in rows if "zaomo_tokens_per_s" in r)


def test_gpu_check_smoke_runs_every_case():
    rows = _run("scripts/gpu_check.py", "--smoke", "--case", "all")
    by = {r["case"]: r for r in rows}
    assert by["lora"]["ok"] and by["qlora"]["ok"] and by["qlora"]["export_dtype"] == "bfloat16"
    assert by["fsdp"]["ok"] is None and by["zero3"]["ok"] is None  # skipped on CPU, with the reason
