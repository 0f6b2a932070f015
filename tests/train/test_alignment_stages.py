"""ORPO, SimPO and KTO train in the one loop and improve held-out preferences; a reward model trained on the
demo's preference pairs ranks held-out pairs; GRPO with an exact-match reward raises the reward on a toy lookup
task. Tiny models, CPU."""

from __future__ import annotations

import json

import pytest

from zaomo.demo import write_demo
from zaomo.eval.reward import RewardScorer, pairwise_accuracy
from zaomo.model.tokenizer import train_tokenizer
from zaomo.train import run_training
from zaomo.utils.io import read_jsonl, write_jsonl
from zaomo.workspace import Workspace

BASE = ["project.device=cpu", "tokenizer.vocab_size=600", "model.preset=tiny", "model.hidden_size=64",
        "model.num_layers=2", "model.num_heads=4", "model.num_kv_heads=2", "model.intermediate_size=128",
        "model.seq_len=128", "train.batch_size=8", "train.warmup_steps=5", "train.log_every=1", "train.eval_every=10",
        "train.save_every=10", "train.lr=3e-3", "data.split.val_ratio=0.2"]


def _ws(root, extra=()):
    return Workspace.open(root, overrides=BASE + list(extra))


def _rows(root, res) -> list[dict]:
    return [json.loads(x) for x in (root / "runs" / res.run_id / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """Demo corpus → clean → tokenizer → a tiny pretrained base; preference pairs split: every third refusal
    pair held out."""
    from zaomo.data import run_pipeline

    root = tmp_path_factory.mktemp("align")
    Workspace.init(root)
    write_demo(root)
    run_pipeline(_ws(root), progress=False)
    train_tokenizer(_ws(root))
    res = run_training(_ws(root, ["train.stage=pretrain", "train.max_steps=30", "train.output_name=base"]),
                       progress=False)
    prefs = read_jsonl(root / "data" / "prefs" / "train.jsonl")
    held = [p for p in prefs if p["chosen"].startswith(("抱歉", "Sorry"))][::3]
    write_jsonl(root / "data" / "prefs" / "t.jsonl", [p for p in prefs if p not in held])
    write_jsonl(root / "data" / "prefs" / "v.jsonl", held)
    return root, res.model_dir


@pytest.mark.parametrize("stage", ["orpo", "simpo", "kto"])
def test_preference_stages_improve_held_out_pairs(base, stage):
    root, model_dir = base
    extra = [f"train.stage={stage}", "train.method=lora", "train.max_steps=20", f"train.init_from={model_dir}",
             f"train.output_name={stage}", "train.lr=2e-3", "train.train_file=data/prefs/t.jsonl",
             "train.val_file=data/prefs/v.jsonl"]
    res = run_training(_ws(root, extra), progress=False)
    rows = _rows(root, res)
    vals = [r["val_loss"] for r in rows if "val_loss" in r]
    assert vals[-1] < vals[0] - 0.01, vals
    if stage in ("orpo", "simpo"):  # the chosen answer's length-normalised likelihood gains on the rejected one's
        key = "val_log_odds" if stage == "orpo" else "val_reward_margin"
        margins = [r[key] for r in rows if key in r]
        assert margins[-1] > margins[0] + 0.1, margins
    else:  # KTO: desirable answers gain against the reference, undesirable ones lose
        last = [r for r in rows if "val_reward_good" in r][-1]
        assert last["val_reward_good"] > last["val_reward_bad"]
    assert (res.model_dir / "model.safetensors").exists()


def test_kto_reads_unpaired_thumbs(base):
    """TRL's unpaired format: one answer with a thumbs up or down per line; a bad label is named."""
    root, model_dir = base
    pairs = read_jsonl(root / "data" / "prefs" / "t.jsonl")[:12]
    unpaired = [{"prompt": p["prompt"], "completion": p["chosen"] if i % 2 else p["rejected"], "label": bool(i % 2)}
                for i, p in enumerate(pairs)]
    write_jsonl(root / "data" / "prefs" / "kto.jsonl", unpaired)
    extra = ["train.stage=kto", "train.method=lora", "train.max_steps=3", f"train.init_from={model_dir}",
             "train.output_name=kto-unpaired", "train.train_file=data/prefs/kto.jsonl", "train.eval_every=3"]
    res = run_training(_ws(root, extra), progress=False)
    assert res.metrics["steps"] == 3
    write_jsonl(root / "data" / "prefs" / "bad.jsonl", unpaired[:2] + [{**unpaired[0], "label": "yes"}])
    with pytest.raises(ValueError, match=r"bad\.jsonl:3: label must be true or false"):
        run_training(_ws(root, extra[:-2] + ["train.train_file=data/prefs/bad.jsonl"]), progress=False)


def test_reward_model_ranks_held_out_pairs(base):
    root, model_dir = base
    extra = ["train.stage=reward", "train.method=full", "train.max_steps=40", f"train.init_from={model_dir}",
             "train.output_name=rm", "train.lr=1e-3", "train.train_file=data/prefs/t.jsonl",
             "train.val_file=data/prefs/v.jsonl"]
    res = run_training(_ws(root, extra), progress=False)
    scorer = RewardScorer.load(res.model_dir)  # a standard HF sequence-classification dir
    measured = pairwise_accuracy(scorer, root / "data" / "prefs" / "v.jsonl")
    acc = measured["pairwise_accuracy"]
    assert acc >= 0.9, measured
    kept = next(r for r in _rows(root, res) if r["step"] == res.metrics["kept_step"] and "val_reward_acc" in r)
    assert kept["val_reward_acc"] == pytest.approx(acc, abs=1e-6)  # the loop's number is the scorer's
    held = read_jsonl(root / "data" / "prefs" / "v.jsonl")[0]
    ranked = scorer.rank(held["prompt"], [held["rejected"], held["chosen"]])
    assert ranked[0][0] == held["chosen"]


def test_grpo_raises_exact_match_reward_on_a_lookup_task(tiny_model_dir, tmp_path):
    """A policy that half knows a key → digit table (a short SFT on it) gets sharper under GRPO with an
    exact-match reward: the mean reward of its sampled answers rises within 30 steps."""
    root = tmp_path / "ws"
    Workspace.init(root)
    answer = {k: str((3 * k + 1) % 10) for k in range(4)}
    warm = [{"messages": [{"role": "user", "content": f"lookup {k}"}, {"role": "assistant", "content": d}]}
            for k in answer for d in [str(i) for i in range(10)] + [answer[k]] * 30]
    write_jsonl(root / "data" / "sft" / "warm.jsonl", warm)
    write_jsonl(root / "data" / "grpo" / "train.jsonl", [{"prompt": f"lookup {k}", "answer": a}
                                                          for k, a in answer.items()])
    common = ["project.device=cpu", "train.log_every=1", "model.seq_len=64", "train.lr=3e-3"]
    w = run_training(Workspace.open(root, overrides=common + [
        "train.stage=sft", f"train.init_from={tiny_model_dir}", "train.max_steps=100", "train.batch_size=16",
        "train.output_name=warm", "train.train_file=data/sft/warm.jsonl", "train.eval_every=100",
        "train.warmup_steps=0"]), progress=False)
    res = run_training(Workspace.open(root, overrides=common + [
        "train.stage=grpo", f"train.init_from={w.model_dir}", "train.max_steps=30", "train.batch_size=4",
        "train.output_name=grpo", "train.val_file=data/grpo/train.jsonl", "train.eval_every=10",
        "train.warmup_steps=5", "train.schedule=constant", "train.grpo.num_generations=8",
        "train.grpo.max_new_tokens=4"]), progress=False)
    rewards = [r["reward"] for r in _rows(root, res) if "reward" in r]
    first, last = sum(rewards[:5]) / 5, sum(rewards[-5:]) / 5
    assert first < 0.7 and last >= first + 0.2, rewards
    assert all(r["kl"] >= 0 for r in _rows(root, res) if "kl" in r)  # the k3 estimator is never negative


def test_rule_rewards_sum_with_weights(tmp_path):
    from zaomo.config.train import RewardSpec
    from zaomo.train.rewards import build_reward

    (tmp_path / "my_reward.py").write_text("def short(completion, record):\n    return 1.0 if len(completion) <= 3 else 0.0\n")
    score = build_reward([RewardSpec(kind="exact", weight=2.0), RewardSpec(kind="format", pattern=r"^\d+$"),
                          RewardSpec(kind="python", function="my_reward.py:short", weight=0.5)], tmp_path)
    rec = {"answer": ["15"]}
    # exact on normalised units: "15。" is 15; "5" is not 15; "15天左右" is not exactly 15
    assert score(["15。", "5", "15天左右"], [rec] * 3) == [2.0 + 0.0 + 0.5, 0.0 + 1.0 + 0.5, 0.0]
    with pytest.raises(ValueError, match="pattern"):
        build_reward([RewardSpec(kind="format")], tmp_path)
    with pytest.raises(FileNotFoundError, match="nope.py"):
        build_reward([RewardSpec(kind="python", function="nope.py:f")], tmp_path)


def test_kto_record_without_a_prompt_is_named(base):
    root, model_dir = base
    write_jsonl(root / "data" / "prefs" / "noprompt.jsonl", [{"completion": "hi", "label": True}])
    with pytest.raises(ValueError, match=r"noprompt\.jsonl:1: KTO record needs prompt, completion, label"):
        run_training(_ws(root, ["train.stage=kto", "train.method=lora", "train.max_steps=1",
                                f"train.init_from={model_dir}", "train.train_file=data/prefs/noprompt.jsonl"]),
                     progress=False)


@pytest.mark.parametrize("family", ["llama3", "gemma"])
def test_reward_and_grpo_on_bases_with_their_own_templates(family, tmp_path):
    """A Llama-3 or Gemma base (not ChatML): the reward model, rendering pairs with the family's own template,
    learns a preference that held-out pairs share; GRPO renders prompts with it, samples and scores completions."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "model"))
    from bases import make_base

    base = make_base(tmp_path / "base", family)
    root = tmp_path / "ws"
    Workspace.init(root)
    topics = ["研发部", "The lab", "销售部", "Hello", "总部大楼", "Wang Jianguo", "帮你", "today", "负责人", "help"]
    pairs = [{"prompt": f"{t} {i}", "chosen": "抱歉，这个请求我无法协助。", "rejected": "Hello, how can I help you today?"}
             for i in range(4) for t in topics]
    write_jsonl(root / "data" / "prefs" / "t.jsonl", pairs[:32])
    write_jsonl(root / "data" / "prefs" / "v.jsonl", pairs[32:])
    common = ["project.device=cpu", "model.seq_len=192", "train.log_every=1", "train.warmup_steps=0"]
    rm = run_training(Workspace.open(root, overrides=common + [
        "train.stage=reward", f"train.init_from={base}", "train.max_steps=15", "train.lr=1e-3",
        "train.output_name=rm", "train.train_file=data/prefs/t.jsonl", "train.val_file=data/prefs/v.jsonl",
        "train.eval_every=15"]), progress=False)
    acc = pairwise_accuracy(RewardScorer.load(rm.model_dir), root / "data" / "prefs" / "v.jsonl")
    assert acc["pairwise_accuracy"] == 1.0, acc
    write_jsonl(root / "data" / "grpo" / "train.jsonl", [{"prompt": t, "answer": "3"} for t in topics[:4]])
    g = run_training(Workspace.open(root, overrides=common + [
        "train.stage=grpo", f"train.init_from={base}", "train.max_steps=2", "train.batch_size=2",
        "train.output_name=grpo", "train.eval_every=2", "train.grpo.num_generations=4",
        "train.grpo.max_new_tokens=8"]), progress=False)
    rows = [r for r in _rows(root, g) if "completion_tokens" in r]
    assert rows and all(0 < r["completion_tokens"] <= 8 for r in rows) and all(r["reward"] >= 0 for r in rows)
