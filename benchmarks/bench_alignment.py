"""Alignment stages on the demo: what each one learns, and DPO's speed beside TRL's DPOTrainer.

`--part quality` (CPU, a few minutes): the demo corpus → clean → tokenizer → a tiny base (hidden 64, 2 layers,
60 pretraining steps); the demo's preference pairs split 80/20 at random (seeded). DPO, ORPO, SimPO and KTO
(LoRA, 30 steps) each report their validation loss and their own held-out margin before and after; a reward model
(full, 60 steps) reports pairwise accuracy on the held-out pairs, overall and per kind (a fact pair: the right
value against a wrong one; a refusal pair: refusing a harmful request against complying). GRPO with an
exact-match reward on a key → digit lookup (the same recipe as tests/train/test_alignment_stages.py) reports the
mean sampled reward of its first and last five steps.

`--part forgetting`: the tiny quickstart workspace (the settings of tests/feedback/test_iterate.py); six new facts
as corrections; `zaomo iterate` (40 full-SFT steps, lr 3e-3, no SFT replay) with general_share 0 and 0.5: held-out
bits per character and multiple-choice accuracy of the current version and of each candidate.

`--part speed`: DPO on the same model (hidden 256, 4 layers) and pairs, batch 8, reference log-probs precomputed
on both sides, fp32 eager: TRL's DPOTrainer, then zaomo's loop, pairs per second over the steps after warm-up.

    python benchmarks/bench_alignment.py --part quality
    python benchmarks/bench_alignment.py --part forgetting
    python benchmarks/bench_alignment.py --part speed --steps 30
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

BASE = ["project.device=cpu", "tokenizer.vocab_size=600", "model.preset=tiny", "model.hidden_size=64",
        "model.num_layers=2", "model.num_heads=4", "model.num_kv_heads=2", "model.intermediate_size=128",
        "model.seq_len=128", "train.batch_size=8", "train.warmup_steps=5", "train.log_every=1", "train.eval_every=10",
        "train.save_every=10", "train.lr=3e-3", "data.split.val_ratio=0.2"]


def _rows(root: Path, run_id: str) -> list[dict]:
    return [json.loads(x) for x in (root / "runs" / run_id / "metrics.jsonl").read_text().splitlines()]


def demo_base(root: Path, extra: list[str], steps: int) -> Path:
    from zaomo.data import run_pipeline
    from zaomo.demo import write_demo
    from zaomo.model.tokenizer import train_tokenizer
    from zaomo.train import run_training
    from zaomo.utils.io import read_jsonl, write_jsonl
    from zaomo.workspace import Workspace

    Workspace.init(root)
    write_demo(root)
    run_pipeline(Workspace.open(root, overrides=BASE + extra), progress=False)
    train_tokenizer(Workspace.open(root, overrides=BASE + extra))
    res = run_training(Workspace.open(root, overrides=BASE + extra + [
        "train.stage=pretrain", f"train.max_steps={steps}", "train.output_name=base"]), progress=False)
    prefs = read_jsonl(root / "data" / "prefs" / "train.jsonl")
    random.Random(0).shuffle(prefs)
    cut = int(len(prefs) * 0.8)
    write_jsonl(root / "data" / "prefs" / "t.jsonl", prefs[:cut])
    write_jsonl(root / "data" / "prefs" / "v.jsonl", prefs[cut:])
    return res.model_dir


def quality() -> None:
    from zaomo.eval.reward import RewardScorer, pairwise_accuracy
    from zaomo.train import run_training
    from zaomo.utils.io import read_jsonl, write_jsonl
    from zaomo.workspace import Workspace

    root = Path(tempfile.mkdtemp(prefix="zaomo-align-")) / "ws"
    base = demo_base(root, [], 60)
    held = read_jsonl(root / "data" / "prefs" / "v.jsonl")
    print(f"demo pairs: {len(read_jsonl(root / 'data' / 'prefs' / 't.jsonl'))} train, {len(held)} held out "
          f"({sum(p['chosen'].startswith(('抱歉', 'Sorry')) for p in held)} refusal pairs)")
    common = ["train.method=lora", "train.max_steps=30", f"train.init_from={base}", "train.lr=2e-3",
              "train.train_file=data/prefs/t.jsonl", "train.val_file=data/prefs/v.jsonl"]
    own = {"dpo": "val_reward_margin", "orpo": "val_log_odds", "simpo": "val_reward_margin", "kto": "val_reward_good"}
    for stage, key in own.items():
        t0 = time.perf_counter()
        res = run_training(Workspace.open(root, overrides=BASE + common + [f"train.stage={stage}",
                                                                          f"train.output_name={stage}"]),
                           progress=False)
        vals = [r for r in _rows(root, res.run_id) if "val_loss" in r]
        acc = f"  held-out reward accuracy {vals[0].get('val_reward_acc', float('nan')):.2f} → " \
              f"{vals[-1].get('val_reward_acc', float('nan')):.2f}" if "val_reward_acc" in vals[-1] else \
              f"  reward of bad answers {vals[0]['val_reward_bad']:+.3f} → {vals[-1]['val_reward_bad']:+.3f}"
        print(f"{stage:6s} val loss {vals[0]['val_loss']:.4f} → {vals[-1]['val_loss']:.4f}   {key} "
              f"{vals[0].get(key, 0.0):+.3f} → {vals[-1][key]:+.3f}{acc}   ({time.perf_counter() - t0:.0f} s)")
    res = run_training(Workspace.open(root, overrides=BASE + [
        "train.stage=reward", "train.method=full", "train.max_steps=60", f"train.init_from={base}",
        "train.output_name=rm", "train.lr=1e-3", "train.train_file=data/prefs/t.jsonl",
        "train.val_file=data/prefs/v.jsonl"]), progress=False)
    scorer = RewardScorer.load(res.model_dir)
    refusal = [p for p in held if p["chosen"].startswith(("抱歉", "Sorry"))]
    facts = [p for p in held if p not in refusal]
    out = {}
    for name, rows in (("all", held), ("fact pairs", facts), ("refusal pairs", refusal)):
        f = root / "data" / "prefs" / f"rm-{len(out)}.jsonl"
        write_jsonl(f, rows)
        out[name] = pairwise_accuracy(scorer, f) if rows else {"pairwise_accuracy": float("nan"), "pairs": 0}
    print("reward model (full, 60 steps): held-out pairwise accuracy " + ", ".join(
        f"{k} {v['pairwise_accuracy']:.1%} ({int(v['pairs'])})" for k, v in out.items()))
    grpo(root.parent / "grpo")


def grpo(root: Path) -> None:
    """The test's lookup task, from the tiny conftest-style model."""
    from zaomo.config.model import ModelConfig
    from zaomo.model.build import build_model
    from zaomo.model.load import save_model
    from zaomo.model.tokenizer import train_bpe
    from zaomo.train import run_training
    from zaomo.utils.io import write_jsonl
    from zaomo.workspace import Workspace

    texts = ["研发部的负责人是王建国。研发部位于总部大楼3楼。", "The head of the R&D Department is Wang Jianguo.",
             "你好！有什么可以帮你？", "Hello, how can I help you today?", "抱歉，这个请求我无法协助。"] * 20
    tok = train_bpe(iter(texts), 400, root / "tok", min_frequency=1, model_max_length=256)
    model_dir = save_model(build_model(ModelConfig(preset="tiny", seq_len=256), tok, seed=0), tok, root / "model")
    ws = root / "ws"
    Workspace.init(ws)
    answer = {k: str((3 * k + 1) % 10) for k in range(4)}
    write_jsonl(ws / "data" / "sft" / "warm.jsonl", [
        {"messages": [{"role": "user", "content": f"lookup {k}"}, {"role": "assistant", "content": d}]}
        for k in answer for d in [str(i) for i in range(10)] + [answer[k]] * 30])
    write_jsonl(ws / "data" / "grpo" / "train.jsonl", [{"prompt": f"lookup {k}", "answer": a} for k, a in answer.items()])
    common = ["project.device=cpu", "train.log_every=1", "model.seq_len=64", "train.lr=3e-3"]
    w = run_training(Workspace.open(ws, overrides=common + [
        "train.stage=sft", f"train.init_from={model_dir}", "train.max_steps=100", "train.batch_size=16",
        "train.output_name=warm", "train.train_file=data/sft/warm.jsonl", "train.eval_every=100",
        "train.warmup_steps=0"]), progress=False)
    t0 = time.perf_counter()
    res = run_training(Workspace.open(ws, overrides=common + [
        "train.stage=grpo", f"train.init_from={w.model_dir}", "train.max_steps=30", "train.batch_size=4",
        "train.output_name=grpo", "train.val_file=data/grpo/train.jsonl", "train.eval_every=10",
        "train.warmup_steps=5", "train.schedule=constant", "train.grpo.num_generations=8",
        "train.grpo.max_new_tokens=4"]), progress=False)
    rows = _rows(ws, res.run_id)
    r = [x["reward"] for x in rows if "reward" in x]
    print(f"GRPO lookup (4 keys, 8 samples each, 30 steps, {time.perf_counter() - t0:.0f} s): mean sampled reward "
          f"first 5 steps {sum(r[:5]) / 5:.3f}, last 5 steps {sum(r[-5:]) / 5:.3f}")


def forgetting() -> None:
    from zaomo.demo.loop import run_quickstart
    from zaomo.feedback.iterate import iterate, promote
    from zaomo.records import Feedback
    from zaomo.workspace import Workspace

    fast = ["train.max_steps=4", "model.hidden_size=64", "model.num_layers=2", "model.num_heads=4",
            "model.intermediate_size=128", "eval.max_new_tokens=8", "train.eval_every=2"]
    root = Path(tempfile.mkdtemp(prefix="zaomo-forget-")) / "ws"
    run_quickstart(root, progress=False, log=lambda *_: None, overrides=fast, drills=20)
    facts = [("Zeta 实验室的负责人是谁？", "Zeta 实验室的负责人是欧阳青。"),
             ("Who leads the Zeta Lab?", "The Zeta Lab is led by Ouyang Qing."),
             ("Zeta 实验室在哪一层？", "Zeta 实验室在 9 楼。"), ("Which floor is the Zeta Lab on?", "The Zeta Lab is on floor 9."),
             ("Zeta 项目什么时候启动？", "Zeta 项目于 2027 年 3 月启动。"),
             ("When does Project Zeta launch?", "Project Zeta launches in March 2027.")]
    for share in (0.0, 0.5):
        ws = Workspace.open(root)
        first = ws.registry.models("handbook-chat")[0]
        promote(ws, f"handbook-chat:{first.version}")  # each candidate starts from the same version
        with ws.registry.session.begin() as s:
            for q, a in facts:
                s.add(Feedback(messages=[{"role": "user", "content": q}], answer="不知道", rating=-1, correction=a))
        r = iterate(ws, steps=40, lr=3e-3, tasks=["choice"], replay=0, general_share=share, progress=False)
        d = r.comparison.deltas
        print(f"general_share {share}: mix {r.data_mix}; bits/char {d['perplexity.bits_per_char'][0]:.4f} → "
              f"{d['perplexity.bits_per_char'][1]:.4f}; choice {d['choice.accuracy'][0]:.3f} → "
              f"{d['choice.accuracy'][1]:.3f}; {'promoted' if r.promoted else 'rejected: ' + '; '.join(r.comparison.failures)}")


def speed(steps: int, warmup: int) -> None:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import DPOConfig, DPOTrainer

    from zaomo.train import run_training
    from zaomo.utils.io import read_jsonl
    from zaomo.workspace import Workspace

    torch.set_num_threads(os.cpu_count() or 1)
    big = ["model.hidden_size=256", "model.num_layers=4", "model.intermediate_size=688", "model.num_heads=4",
           "model.num_kv_heads=4"]
    root = Path(tempfile.mkdtemp(prefix="zaomo-dpo-speed-")) / "ws"
    base = demo_base(root, big, 5)
    pairs = read_jsonl(root / "data" / "prefs" / "train.jsonl")
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base)
    data = [{"prompt": p["prompt"], "chosen": [{"role": "assistant", "content": p["chosen"]}],
             "rejected": [{"role": "assistant", "content": p["rejected"]}]} for p in pairs]
    stamps: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            stamps.append(time.perf_counter())

    args = DPOConfig(output_dir=str(root / "trl"), per_device_train_batch_size=8, max_steps=steps, beta=0.1,
                     learning_rate=1e-5, report_to=[], use_cpu=True, precompute_ref_log_probs=True,
                     logging_steps=1000, save_strategy="no", max_length=128, lr_scheduler_type="constant",
                     dataloader_num_workers=0)
    trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(data), processing_class=tok,
                         callbacks=[Clock()])
    trainer.train()
    trl_rate = (len(stamps) - warmup) * 8 / (stamps[-1] - stamps[warmup - 1])
    res = run_training(Workspace.open(root, overrides=BASE + big + [
        "train.stage=dpo", "train.method=full", f"train.max_steps={steps}", f"train.init_from={base}",
        "train.output_name=dpo-speed", "train.lr=1e-5", "train.eval_every=100000", "train.save_every=100000",
        "train.warmup_steps=0", "train.val_file=data/prefs/v.jsonl", f"train.log_every={warmup}",
        "train.tensorboard=false"]), progress=False)  # logged as rarely as TRL's side is (logging_steps=1000)
    rows = {r["step"]: r for r in _rows(root, res.run_id) if "elapsed_s" in r}
    ours = (steps - warmup) * 8 / (rows[steps]["elapsed_s"] - rows[warmup]["elapsed_s"])

    print(f"DPO, full, fp32, batch 8, hidden 256 × 4 layers, {steps} steps (rate over steps {warmup + 1}–{steps}):")
    print(f"  zaomo       {ours:7.1f} pairs/s")
    print(f"  TRL {__import__('trl').__version__:7s} {trl_rate:7.1f} pairs/s   zaomo/TRL = {ours / trl_rate:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["quality", "forgetting", "speed", "all"], default="all")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    a = ap.parse_args()
    if a.part in ("quality", "all"):
        quality()
    if a.part in ("forgetting", "all"):
        forgetting()
    if a.part in ("speed", "all"):
        speed(a.steps, a.warmup)


if __name__ == "__main__":
    main()
