"""Exactness of the loop on a real HF base: gradient accumulation and DDP equal one big batch (the loss is
normalised by the labelled tokens of the whole window), resume is exact (full fused AdamW, LoRA, compiled,
killed between checkpoints), checkpoints are loaded strictly, a run resumes with its own config, and the best
validated weights are kept."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from zaomo.train import run_training
from zaomo.train.checkpoint import CheckpointError
from zaomo.utils.io import write_jsonl
from zaomo.workspace import Workspace

sys.path.insert(0, str(Path(__file__).parents[1] / "model"))
from bases import make_base  # noqa: E402

# answers from 1 character to ~60 tokens: micro-batches carry very different numbers of labelled tokens
ANSWERS = ["好", "可以。", "The R&D department is on the third floor of the main building, next to the lab.",
           "是", "研发部的负责人是王建国，研发部位于总部大楼3楼，电话是分机号8001。", "OK",
           "Sure, here it is: the head of the R&D Department is Wang Jianguo.", "不"]
SFT = [{"messages": [{"role": "user", "content": f"问题{i}"}, {"role": "assistant", "content": a}]}
       for i, a in enumerate(ANSWERS * 4)]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return make_base(tmp_path_factory.mktemp("base"), "chatml")


def _ws(root: Path, base: Path, extra: list[str]) -> Workspace:
    if not (root / "zaomo.yaml").exists():
        Workspace.init(root)
        write_jsonl(root / "data" / "sft" / "train.jsonl", SFT)
        write_jsonl(root / "data" / "sft" / "val.jsonl", SFT[:8])
    sets = ["project.device=cpu", f"model.base={base}", "model.seq_len=96", "train.stage=sft", "train.method=full",
            "train.lr=2e-3", "train.warmup_steps=2", "train.log_every=1", "train.eval_every=4",
            "train.save_every=4", "train.val_file=data/sft/val.jsonl", "train.tensorboard=false"] + extra
    return Workspace.open(root, overrides=sets)


def _losses(ws: Workspace, run_id: str) -> dict[int, float]:
    rows = [json.loads(x) for x in (ws.run_dir(run_id) / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if "loss" in r}


def test_grad_accum_equals_a_four_times_larger_micro_batch(tmp_path, base):
    big = run_training(_ws(tmp_path, base, ["train.batch_size=8", "train.grad_accum=1", "train.max_steps=6",
                                            "train.output_name=big"]), progress=False)
    acc = run_training(_ws(tmp_path, base, ["train.batch_size=2", "train.grad_accum=4", "train.max_steps=6",
                                            "train.output_name=acc"]), progress=False)
    a, b = _losses(Workspace.open(tmp_path), big.run_id), _losses(Workspace.open(tmp_path), acc.run_id)
    assert sorted(a) == sorted(b) == list(range(1, 7))
    for s in a:  # tolerance: fp32 summation order differs between one batch of 8 and four of 2
        assert abs(a[s] - b[s]) < 1e-4, (s, a[s], b[s])
    assert a[6] < a[1]


RUN = """
import sys
from zaomo.train import run_training
from zaomo.workspace import Workspace
run_training(Workspace.open(sys.argv[1], overrides=sys.argv[2].split("|")), progress=False)
"""


def test_ddp_two_processes_equal_one_process_with_the_same_global_batch(tmp_path, base):
    ws1 = _ws(tmp_path, base, ["train.batch_size=8", "train.max_steps=5", "train.output_name=one"])
    one = run_training(ws1, progress=False)
    script = tmp_path / "run.py"
    script.write_text(RUN)
    launcher = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    sets = ["project.device=cpu", f"model.base={base}", "model.seq_len=96", "train.stage=sft",
            "train.method=full", "train.lr=2e-3", "train.warmup_steps=2", "train.log_every=1", "train.eval_every=4",
            "train.save_every=4", "train.val_file=data/sft/val.jsonl", "train.tensorboard=false",
            "train.batch_size=4", "train.max_steps=5", "train.output_name=two"]
    r = subprocess.run([launcher, "--nproc_per_node", "2", str(script), str(tmp_path), "|".join(sets)],
                       capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    ws = Workspace.open(tmp_path)
    two = [x for x in ws.registry.runs("train") if x.id != one.run_id]
    assert len(two) == 1 and two[0].summary["world_size"] == 2
    a, b = _losses(ws, one.run_id), _losses(ws, two[0].id)
    assert sorted(a) == sorted(b)
    for s in a:  # tolerance: gloo all-reduce and per-rank padding change fp32 summation order
        assert abs(a[s] - b[s]) < 1e-4, (s, a[s], b[s])


@pytest.mark.parametrize("method", ["full", "lora"])
def test_stopped_between_checkpoints_resumes_exactly(tmp_path, base, method):
    """Killed at step 10 (checkpoints every 4): resume restarts from step 8 and every later loss matches."""
    extra = [f"train.method={method}", "train.batch_size=4", "train.max_steps=14", "train.lora.dropout=0.1",
             "train.output_name=x"] + (["train.lr=1e-2"] if method == "lora" else [])
    ref = run_training(_ws(tmp_path, base, extra), progress=False)
    cut = run_training(_ws(tmp_path, base, extra), progress=False, stop_after=10)
    ckpts = sorted(p.name for p in (Workspace.open(tmp_path).run_dir(cut.run_id) / "checkpoints").glob("step-*"))
    assert ckpts[-1] == "step-00000008"
    run_training(_ws(tmp_path, base, extra), progress=False, resume=cut.run_id)
    ws = Workspace.open(tmp_path)
    a, b = _losses(ws, ref.run_id), _losses(ws, cut.run_id)
    assert sorted(a) == sorted(b) == list(range(1, 15))
    for s in a:
        assert abs(a[s] - b[s]) <= 1e-5, (s, a[s], b[s])


def test_compiled_run_resumes_exactly(tmp_path, base):
    extra = ["train.compile=true", "train.batch_size=4", "train.max_steps=8", "train.output_name=c"]
    ref = run_training(_ws(tmp_path, base, extra), progress=False)
    cut = run_training(_ws(tmp_path, base, extra), progress=False, stop_after=4)
    saved = torch.load(Workspace.open(tmp_path).run_dir(cut.run_id) / "checkpoints" / "step-00000004" / "model.pt")
    assert not any("_orig_mod" in k for k in saved)  # canonical names: loadable with or without compile
    run_training(_ws(tmp_path, base, extra), progress=False, resume=cut.run_id)
    ws = Workspace.open(tmp_path)
    a, b = _losses(ws, ref.run_id), _losses(ws, cut.run_id)
    assert sorted(a) == sorted(b)
    for s in a:
        assert abs(a[s] - b[s]) <= 1e-5, (s, a[s], b[s])


def test_checkpoint_with_a_missing_key_is_refused_by_name(tmp_path, base):
    extra = ["train.batch_size=4", "train.max_steps=8", "train.output_name=m"]
    cut = run_training(_ws(tmp_path, base, extra), progress=False, stop_after=4)
    pt = Workspace.open(tmp_path).run_dir(cut.run_id) / "checkpoints" / "step-00000004" / "model.pt"
    state = torch.load(pt)
    state.pop("model.layers.1.mlp.down_proj.weight")
    torch.save(state, pt)
    with pytest.raises(CheckpointError, match=r"missing model\.layers\.1\.mlp\.down_proj\.weight"):
        run_training(_ws(tmp_path, base, extra), progress=False, resume=cut.run_id)


def test_resume_uses_the_runs_config_and_refuses_a_changed_one(tmp_path, base):
    from zaomo.config import ConfigError

    extra = ["train.batch_size=4", "train.max_steps=8", "train.output_name=r"]
    cut = run_training(_ws(tmp_path, base, extra), progress=False, stop_after=4)
    with pytest.raises(ConfigError, match=r"train\.lr: 0\.002 → 0\.005.*--resume-with-changes"):
        run_training(_ws(tmp_path, base, extra + ["train.lr=5e-3"]), progress=False, resume=cut.run_id)
    res = run_training(_ws(tmp_path, base, extra + ["train.lr=5e-3"]), progress=False, resume=cut.run_id,
                       resume_with_changes=True)
    rows = [json.loads(x) for x in (Workspace.open(tmp_path).run_dir(cut.run_id) / "metrics.jsonl").read_text()
            .splitlines()]
    assert res.metrics["steps"] == 8 and max(r["lr"] for r in rows if r["step"] > 4) > 2e-3


OTHER = [{"messages": [{"role": "user", "content": f"另一个问题{i}"}, {"role": "assistant", "content": a}]}
         for i, a in enumerate(["天气很好，我们去公园散步吧。", "Let me check the schedule for tomorrow.",
                                "明天下午三点开会。", "Thanks for asking!"])]


def test_best_validated_weights_are_kept_and_recorded(tmp_path, base):
    """A learning rate that overfits: the saved model is the best validated one, not the last."""
    from transformers import AutoModelForCausalLM

    extra = ["train.batch_size=4", "train.max_steps=16", "train.lr=3e-2", "train.schedule=constant",
             "train.eval_every=2", "train.save_every=100", "train.output_name=b", "train.val_file=data/sft/other.jsonl"]
    _ws(tmp_path, base, [])
    write_jsonl(tmp_path / "data" / "sft" / "other.jsonl", OTHER)
    res = run_training(_ws(tmp_path, base, extra), progress=False)
    ws = Workspace.open(tmp_path)
    rows = [json.loads(x) for x in (ws.run_dir(res.run_id) / "metrics.jsonl").read_text().splitlines()]
    vals = {r["step"]: r["val_loss"] for r in rows if "val_loss" in r and r["step"] > 0}
    best_step = min(vals, key=vals.get)
    assert best_step != 16, vals  # the setting must overfit for this test to mean anything
    assert res.metrics["kept"] == "best" and res.metrics["kept_step"] == best_step
    mv = ws.registry.get_model("b")
    assert mv.eval["kept"] == "best" and mv.eval["kept_step"] == best_step
    best = torch.load(ws.run_dir(res.run_id) / "checkpoints" / "best" / "model.pt")
    saved = AutoModelForCausalLM.from_pretrained(res.model_dir).state_dict()
    k = "model.layers.0.self_attn.q_proj.weight"
    assert torch.equal(saved[k], best[k])
    last = run_training(_ws(tmp_path, base, extra + ["train.keep=last", "train.output_name=l"]), progress=False)
    assert last.metrics["kept"] == "last" and last.metrics["kept_step"] == 16


def test_packed_sft_trains_every_real_token_once_per_row(tmp_path, base):
    """train.packing: rows of several examples; tokens_seen counts real tokens, not padding."""
    from zaomo.train.data import load_sft, pack_examples

    ws = _ws(tmp_path, base, ["train.packing=true", "train.batch_size=2", "train.max_steps=4", "model.seq_len=256",
                              "train.output_name=p", "train.pad_multiple=64"])
    res = run_training(ws, progress=False)
    from transformers import AutoTokenizer

    rows = pack_examples(load_sft(tmp_path / "data" / "sft" / "train.jsonl", AutoTokenizer.from_pretrained(base),
                                  256), 256)
    assert len(rows) < len(SFT)
    per_step = [len(r["input_ids"]) for r in rows]
    # 4 steps x 2 rows, drawn from the packed rows: between 8 of the shortest and 8 of the longest rows
    assert 8 * min(per_step) <= res.metrics["tokens_seen"] <= 8 * max(per_step)
    vals = [json.loads(x).get("val_loss") for x in (ws.run_dir(res.run_id) / "metrics.jsonl").read_text().splitlines()]
    vals = [v for v in vals if v is not None]
    assert vals[-1] < vals[0]
