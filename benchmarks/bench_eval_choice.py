"""Multiple-choice evaluation speed: zaomo batched vs one item at a time, and lm-evaluation-harness on the
same task and model (when installed), in one run.

    python benchmarks/bench_eval_choice.py [--items 200] [--hidden 256] [--layers 4]

The task is a generated Chinese 4-option set; the prompt is "question\\n答案：" and each option is scored as
" option" (lm-eval's multiple_choice format), so all three compute the same log-likelihoods and must agree
on accuracy.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")



def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=200)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--batch", type=int, default=16)
    a = ap.parse_args()

    from zaomo.config.model import ModelConfig
    from zaomo.eval.targets import LocalTarget
    from zaomo.model.build import build_model
    from zaomo.model.load import save_model
    from zaomo.model.tokenizer import train_bpe

    rng = random.Random(0)
    words = "研发 市场 财务 食堂 报销 年假 加班 密码 会议 大楼 负责 分机 员工 培训 绩效 合同".split()
    rows = [{"question": "".join(rng.choices(words, k=rng.randint(8, 20))) + "？",
             "choices": ["".join(rng.choices(words, k=rng.randint(1, 4))) for _ in range(4)],
             "answer": rng.randrange(4)} for _ in range(a.items)]
    root = Path(tempfile.mkdtemp(prefix="zaomo-mcbench-"))
    tok = train_bpe(iter([r["question"] + "".join(r["choices"]) for r in rows] * 3), 2000, root / "tok",
                    model_max_length=512)
    cfg = ModelConfig(preset="10m", hidden_size=a.hidden, num_layers=a.layers, num_heads=8, num_kv_heads=4,
                      intermediate_size=a.hidden * 3, seq_len=512)
    model_dir = save_model(build_model(cfg, tok, seed=0), tok, root / "model")

    ctxs = [f"{r['question']}\n答案：" for r in rows for _ in r["choices"]]
    conts = [f" {c}" for r in rows for c in r["choices"]]

    def acc(scores):
        return sum(max(range(4), key=lambda j: scores[4 * i + j]) == r["answer"] for i, r in enumerate(rows)) / len(rows)

    res = {}
    for name, bs in (("zaomo batched", a.batch), ("zaomo one at a time", 1)):
        tgt = LocalTarget(model_dir, batch_size=bs, device="cpu")
        tgt.loglikelihoods(ctxs[:8], conts[:8])  # warm-up
        t0 = time.perf_counter()
        s = tgt.loglikelihoods(ctxs, conts)
        res[name] = (len(rows) / (time.perf_counter() - t0), acc(s))
    try:
        from zaomo.eval.harness import run_harness, write_choice_task

        tasks = write_choice_task(root / "tasks", "zaomo_bench_mc", rows)
        t0 = time.perf_counter()
        out = run_harness(model_dir, ["zaomo_bench_mc"], tasks, batch_size=a.batch)
        res[f"lm-eval (batch {a.batch})"] = (len(rows) / (time.perf_counter() - t0), out["zaomo_bench_mc"]["acc,none"])
    except ImportError as e:
        print(f"lm-eval not installed ({e}); skipped")
    base = res["zaomo batched"][0]
    print(f"{a.items} items x 4 options, model hidden {a.hidden} x {a.layers} layers, CPU")
    for name, (ips, ac) in res.items():
        print(f"{name:24s} {ips:8.1f} items/s  accuracy {ac:.3f}  (zaomo batched / this = {base / ips:.2f}x)")


if __name__ == "__main__":
    main()
