"""DDP with two CPU processes (gloo) launched by torchrun: one run, one model, both ranks stepping.
(`accelerate launch --cpu` starts one process unless MPI is set up for multi-CPU; torchrun is in torch.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from zaomo.data import run_pipeline
from zaomo.demo import write_demo
from zaomo.model.tokenizer import train_tokenizer
from zaomo.workspace import Workspace


@pytest.mark.skipif(sys.platform == "win32", reason="gloo launch test is for POSIX")
def test_ddp_two_cpu_processes(tmp_path):
    ws = Workspace.open(Workspace.init(tmp_path).root, overrides=["tokenizer.vocab_size=600",
                                                                 "data.split.val_ratio=0.2"])
    write_demo(ws.root)
    run_pipeline(ws, progress=False)
    train_tokenizer(ws)
    launcher = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    sets = ["project.device=cpu", "model.preset=tiny", "model.seq_len=128", "train.max_steps=6",
            "train.batch_size=4", "train.eval_every=3", "train.save_every=3", "train.log_every=1",
            "train.output_name=ddp"]
    cmd = [launcher, "--nproc_per_node", "2", "-m", "zaomo.cli.main", "train", "-w", str(tmp_path)]
    for s in sets:
        cmd += ["--set", s]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[:3000])
    runs = Workspace.open(tmp_path).registry.runs("train")
    assert len(runs) == 1 and runs[0].status == "done" and runs[0].summary["world_size"] == 2
    assert (tmp_path / "models" / "ddp" / "model.safetensors").exists()
    assert len(list((tmp_path / "runs").iterdir())) == 1
