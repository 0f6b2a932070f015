"""The one loop: every stage and method lowers validation loss on tiny data; exact resume; LoRA export."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from zaomo.demo import write_demo
from zaomo.model.load import load_model
from zaomo.model.tokenizer import train_tokenizer
from zaomo.train import run_training
from zaomo.utils.io import write_jsonl
from zaomo.workspace import Workspace

BASE = ["project.device=cpu", "tokenizer.vocab_size=600", "model.preset=tiny", "model.hidden_size=64",
        "model.num_layers=2", "model.num_heads=4", "model.num_kv_heads=2", "model.intermediate_size=128",
        "model.seq_len=128", "train.batch_size=8", "train.warmup_steps=5", "train.log_every=1", "train.eval_every=10",
        "train.save_every=10", "train.lr=3e-3", "data.split.val_ratio=0.2"]


def _ws(root, extra=()):
    ws = Workspace.open(root, overrides=BASE + list(extra))
    return ws


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """Demo corpus → clean → tokenizer → a tiny pretrained base (shared by the tests below)."""
    from zaomo.data import run_pipeline

    root = tmp_path_factory.mktemp("ws")
    Workspace.init(root)
    write_demo(root)
    ws = _ws(root)
    run_pipeline(ws, progress=False)
    train_tokenizer(ws)
    res = run_training(_ws(root, ["train.stage=pretrain", "train.max_steps=30", "train.output_name=base"]),
                       progress=False)
    return root, res


def _vals(run_dir):
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["val_loss"] for r in rows if "val_loss" in r]


def test_pretrain_lowers_val_loss_and_saves_a_standard_model(pretrained):
    root, res = pretrained
    vals = _vals(root / "runs" / res.run_id)
    assert vals[-1] < vals[0]
    from transformers import AutoModelForCausalLM, AutoTokenizer

    m = AutoModelForCausalLM.from_pretrained(res.model_dir)
    tok = AutoTokenizer.from_pretrained(res.model_dir)
    assert m.config.model_type == "llama" and tok.chat_template
    gen = json.loads((res.model_dir / "generation_config.json").read_text())
    assert tok.convert_tokens_to_ids("<|im_end|>") in gen["eos_token_id"]
    assert (root / "runs" / res.run_id / "plots" / "loss.png").stat().st_size > 1000


def test_tensorboard_events_match_metrics_jsonl(pretrained):
    ea_mod = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    root, res = pretrained
    run_dir = root / "runs" / res.run_id
    acc = ea_mod.EventAccumulator(str(run_dir / "tensorboard"))
    acc.Reload()
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    want_val = [(r["step"], r["val_loss"]) for r in rows if "val_loss" in r]
    got_val = [(e.step, e.value) for e in acc.Scalars("val/loss")]
    assert [s for s, _ in got_val] == [s for s, _ in want_val]
    assert [v for _, v in got_val] == pytest.approx([v for _, v in want_val], rel=1e-6)  # float32 there
    assert [e.step for e in acc.Scalars("train/loss")] == [r["step"] for r in rows if "loss" in r]


@pytest.mark.parametrize("method", ["full", "lora", "prefix"])
def test_sft_methods_lower_val_loss(pretrained, method):
    root, base = pretrained
    extra = ["train.stage=sft", f"train.method={method}", "train.max_steps=20", f"train.init_from={base.model_dir}",
             f"train.output_name=sft-{method}", "train.lr=" + ("1e-2" if method == "prefix" else "3e-3")]
    res = run_training(_ws(root, extra), progress=False)
    vals = _vals(root / "runs" / res.run_id)
    assert vals[-1] < vals[0], vals


def test_dpo_lowers_val_loss(pretrained):
    """Held-out preference pairs of a consistent kind (refuse vs comply) get a lower DPO loss."""
    from zaomo.utils.io import read_jsonl

    root, base = pretrained
    prefs = read_jsonl(root / "data" / "prefs" / "train.jsonl")
    refusals = [p for p in prefs if p["chosen"].startswith(("抱歉", "Sorry"))]
    held = refusals[::3]
    write_jsonl(root / "data" / "prefs" / "t.jsonl", [p for p in prefs if p not in held])
    write_jsonl(root / "data" / "prefs" / "v.jsonl", held)
    extra = ["train.stage=dpo", "train.method=lora", "train.max_steps=20", f"train.init_from={base.model_dir}",
             "train.output_name=dpo", "train.lr=2e-3", "train.train_file=data/prefs/t.jsonl",
             "train.val_file=data/prefs/v.jsonl"]
    res = run_training(_ws(root, extra), progress=False)
    vals = _vals(root / "runs" / res.run_id)
    assert vals[-1] < vals[0], vals


def test_sft_masks_everything_but_assistant_turns(pretrained):
    from zaomo.train.data import IGNORE, encode_chat

    _, base = pretrained
    _, tok = load_model(base.model_dir, device="cpu")
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "问一"},
            {"role": "assistant", "content": "答一"}, {"role": "user", "content": "问二"},
            {"role": "assistant", "content": "答二"}]
    ex = encode_chat(tok, msgs, 512)
    learned = tok.decode([t for t, lab in zip(ex["input_ids"], ex["labels"]) if lab != IGNORE])
    assert learned == "答一<|im_end|>答二<|im_end|>"


def test_lora_merged_export_matches_adapter_logits(pretrained, tmp_path):
    root, base = pretrained
    res = run_training(_ws(root, ["train.stage=sft", "train.method=lora", "train.max_steps=5",
                                  f"train.init_from={base.model_dir}", "train.output_name=lora-x"]), progress=False)
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base.model_dir), res.adapter_dir).eval()
    merged = AutoModelForCausalLM.from_pretrained(res.model_dir).eval()  # plain transformers, no peft
    x = torch.randint(0, 500, (2, 32))
    with torch.no_grad():
        diff = (adapter(input_ids=x).logits - merged(input_ids=x).logits).abs().max().item()
    assert diff < 1e-4  # tolerance: float32 re-association of W + BA


def test_qlora_without_a_pretrained_base_is_refused(pretrained):
    from zaomo.config import ConfigError

    root, _ = pretrained
    with pytest.raises(ConfigError, match="model.base nor train.init_from"):
        _ws(root, ["train.method=qlora"])


RESUME_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import zaomo.train.loop as loop
    from zaomo.workspace import Workspace
    root, overrides, resume, kill_at = sys.argv[1], sys.argv[2].split("|"), sys.argv[3] or None, int(sys.argv[4])
    if kill_at:
        write = loop.MetricsLog.write
        def write_then_die(self, row):
            write(self, row)
            if row.get("step") == kill_at:  # between two checkpoints: die the hardest way, mid-run
                os.kill(os.getpid(), signal.SIGKILL)
        loop.MetricsLog.write = write_then_die
    loop.run_training(Workspace.open(root, overrides=overrides), progress=False, resume=resume)
""")


def test_sigkill_and_resume_gives_identical_losses(pretrained, tmp_path):
    """SIGKILL a run between two checkpoints (step 14; checkpoints every 4), resume it, and compare every step
    with an uninterrupted run: the steps after the last checkpoint are redone exactly."""
    root, base = pretrained
    common = BASE + ["train.stage=sft", "train.method=lora", "train.max_steps=24", "train.save_every=4",
                     f"train.init_from={base.model_dir}", "train.lora.dropout=0.1"]
    ref = run_training(_ws(root, common + ["train.output_name=ref"]), progress=False)
    ref_rows = {r["step"]: r["loss"] for r in map(json.loads, (root / "runs" / ref.run_id / "metrics.jsonl")
                                                 .read_text().splitlines()) if "loss" in r}
    script = tmp_path / "run.py"
    script.write_text(RESUME_SCRIPT)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    runs_before = set((root / "runs").iterdir())
    killed = subprocess.run([sys.executable, str(script), str(root), "|".join(common + ["train.output_name=killed"]),
                             "", "14"], env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    (killed_dir,) = [p for p in (root / "runs").iterdir() if p not in runs_before]
    assert max(int(p.name.split("-")[1]) for p in (killed_dir / "checkpoints").glob("step-*")) == 12
    resumed = subprocess.run([sys.executable, str(script), str(root), "|".join(common + ["train.output_name=killed"]),
                              killed_dir.name, "0"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    rows = {r["step"]: r["loss"] for r in map(json.loads, (killed_dir / "metrics.jsonl").read_text().splitlines())
            if "loss" in r}
    assert sorted(rows) == sorted(ref_rows)
    for step, loss in ref_rows.items():
        assert abs(rows[step] - loss) <= 1e-5, (step, rows[step], loss)


def test_bad_sft_data_names_file_and_line(pretrained):
    from zaomo.utils.io import InputError

    root, base = pretrained
    bad = root / "data" / "sft" / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}\n'
                   '{"messages": [{"role": "user", "content": "only a question"}]}\n', encoding="utf-8")
    with pytest.raises(InputError) as e:
        run_training(_ws(root, ["train.stage=sft", f"train.init_from={base.model_dir}", "train.max_steps=1",
                                "train.train_file=data/sft/bad.jsonl"]), progress=False)
    assert f"{bad}:2" in str(e.value) and "no assistant turn" in str(e.value)
