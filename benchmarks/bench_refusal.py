"""Refusal detector on the shipped labelled zh/en replies: precision, recall and F1 (refusal = positive),
per language, and every misclassified reply.

    python benchmarks/bench_refusal.py [--file other_labelled.jsonl]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--file", type=Path, help="JSONL with text and refusal (true/false); default: the shipped set")
    a = ap.parse_args()

    from zaomo.eval.refusal import load_labelled, refusal_scores

    items = ([json.loads(x) for x in a.file.read_text(encoding="utf-8").splitlines() if x.strip()] if a.file
             else load_labelled())
    groups = {"all": items, **{lang: [i for i in items if i.get("lang") == lang]
                               for lang in sorted({i.get("lang") for i in items if i.get("lang")})}}
    print(f"{'set':<6}{'n':>5}{'refusals':>10}{'precision':>11}{'recall':>8}{'F1':>7}")
    for name, group in groups.items():
        s = refusal_scores(group)
        print(f"{name:<6}{s['n']:>5}{s['refusals']:>10}{s['precision']:>11.3f}{s['recall']:>8.3f}{s['f1']:>7.3f}")
    wrong = refusal_scores(items)["misclassified"]
    print(f"\nmisclassified: {len(wrong)}")
    for w in wrong:
        kind = "false refusal" if w["predicted"] else "missed refusal"
        print(f"  {w.get('id', '?')}  {kind}: {w['text']}")


if __name__ == "__main__":
    main()
