"""The serving guard's input layers on held-out prompts: word lists (+ injection rules) alone, the classifier
alone, and both as the guard runs them — harmful prompts blocked and benign prompts passed, by category and by
language, and the latency of one request through each.

    python benchmarks/bench_guard.py [--extra my_labelled.jsonl] [--threshold 0.6] [--repeat 3] [--out guard.json]

The prompts are the built-in safety set's test split (zaomo/safety/data, split=test: prompts the classifier is
not trained on), plus the split=test rows of --extra files. The classifier is trained here on the train split
(and --extra's train rows), exactly as `zaomo safety train` does; its training time is printed too. Latency is
per request, single-threaded, the median (p50) and 95th percentile over every prompt and --repeat passes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--extra", action="append", default=[], help="your labelled JSONL (split=train/test rows)")
    ap.add_argument("--threshold", type=float, default=None, help="default threshold on P(unsafe)")
    ap.add_argument("--repeat", type=int, default=3, help="timing passes over the prompts")
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    a = ap.parse_args()

    from zaomo.config.safety import SafetyConfig
    from zaomo.safety import Guard
    from zaomo.safety.classifier import SafetyClassifier, training_data
    from zaomo.safety.evaluate import layer_quality
    from zaomo.utils.env import cpu_model

    cls = {"train_files": [os.path.abspath(f) for f in a.extra]}
    if a.threshold is not None:
        cls["threshold"] = a.threshold
    cfg = SafetyConfig(classifier=cls)
    data = training_data(cfg.classifier)
    t0 = time.perf_counter()
    clf = SafetyClassifier.train(data.train, meta={"sources": data.sources})
    train_s = time.perf_counter() - t0
    guard = Guard(cfg, classifier=clf)
    items = data.test
    runs = layer_quality(guard, items)
    for _ in range(max(0, a.repeat - 1)):  # more timing passes; the verdicts do not change
        for r, again in zip(runs, layer_quality(guard, items)):
            r.ms += again.ms

    names = [r.name for r in runs]
    first = runs[0].rates
    print(f"# guard layers on {len(items)} held-out prompts ({first.n_harmful} harmful, {first.n_benign} benign); "
          f"{cpu_model()}, {os.cpu_count()} cores, {dt.date.today()}")
    print(f"classifier: trained on {len(data.train)} prompts in {train_s:.1f} s; threshold "
          f"{cfg.classifier.threshold:g}, per category {cfg.classifier.thresholds}\n")
    w = max(len(n) for n in names) + 2
    head = f"{'':40s}" + "".join(f"{n:>{w}s}" for n in names)
    print(head)
    print("-" * len(head))

    def row(label: str, values: list[str]) -> None:
        print(f"{label:40s}" + "".join(f"{v:>{w}s}" for v in values))

    def pct(x: float) -> str:
        return f"{100 * x:.1f}%"

    row(f"harmful blocked (n={first.n_harmful})", [pct(r.rates.block) for r in runs])
    row(f"benign passed (n={first.n_benign})", [pct(r.rates.pass_) for r in runs])

    def near(r) -> float:  # benign prompts that share a harmful category's words (all but 'general')
        d = [v for k, v in r.rates.by_category.items() if k != "general" and "pass" in v]
        return sum(v["pass"] * v["n_benign"] for v in d) / max(1, sum(v["n_benign"] for v in d))

    n_near = sum(v["n_benign"] for k, v in first.by_category.items() if k != "general" and "pass" in v)
    row(f"  of which near misses passed (n={n_near})", [pct(near(r)) for r in runs])
    for lang, d in first.by_lang.items():
        row(f"{lang}: harmful blocked (n={d['n_harmful']})", [pct(r.rates.by_lang[lang]["block"]) for r in runs])
        row(f"{lang}: benign passed (n={d['n_benign']})", [pct(r.rates.by_lang[lang]["pass"]) for r in runs])
    for cat, d in sorted(first.by_category.items()):
        if "block" in d:
            row(f"{cat}: blocked (n={d['n_harmful']})", [pct(r.rates.by_category[cat]["block"]) for r in runs])
        if "pass" in d:
            row(f"{cat if cat == 'general' else cat + ' near misses'}: passed (n={d['n_benign']})",
                [pct(r.rates.by_category[cat]["pass"]) for r in runs])
    row("latency p50 (ms per request)", [f"{r.latency(50):.2f}" for r in runs])
    row("latency p95 (ms per request)", [f"{r.latency(95):.2f}" for r in runs])
    if a.out:
        out = {"date": str(dt.date.today()), "cpu": cpu_model(), "cores": os.cpu_count(), "prompts": len(items),
               "train_prompts": len(data.train), "train_s": train_s, "threshold": cfg.classifier.threshold,
               "thresholds": cfg.classifier.thresholds,
               "layers": {r.name: {"block": r.rates.block, "pass": r.rates.pass_, "by_lang": r.rates.by_lang,
                                   "by_category": r.rates.by_category, "p50_ms": r.latency(50),
                                   "p95_ms": r.latency(95), "missed": r.rates.missed,
                                   "false_blocks": r.rates.false_blocks} for r in runs}}
        with open(a.out, "w", encoding="utf-8") as f:
            json.dump(out, f, ensure_ascii=False, indent=2)


if __name__ == "__main__":
    main()
