"""`compare`: deltas between two reports with bootstrap confidence intervals over the per-item results,
and a regression gate (metric → largest allowed drop) that the feedback loop uses before promoting."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOWER_IS_BETTER = ("ppl", "perplexity.bits_per_char", "attack_success_rate", "over_refusal_rate")


@dataclass
class Comparison:
    passed: bool
    deltas: dict[str, tuple[float, float, float, float, float]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def load_report(r: Any) -> dict:
    if isinstance(r, dict):
        return r
    if hasattr(r, "metrics"):
        return {"metrics": r.metrics, "items": r.items}
    p = Path(r)
    if p.is_dir():
        p = p / "report.json"
    if not p.exists():
        raise FileNotFoundError(f"no eval report at {p}")
    return json.loads(p.read_text(encoding="utf-8"))


def _bootstrap(old: list[float], new: list[float], n: int, seed: int = 0) -> tuple[float, float]:
    if not old or not new or n <= 0:
        return float("nan"), float("nan")
    rng = random.Random(seed)
    diffs = []
    for _ in range(n):
        a = sum(rng.choice(old) for _ in old) / len(old)
        b = sum(rng.choice(new) for _ in new) / len(new)
        diffs.append(b - a)
    diffs.sort()
    return diffs[int(0.025 * n)], diffs[min(n - 1, int(0.975 * n))]


def compare(old: Any, new: Any, gates: dict[str, float] | None = None, bootstrap: int = 1000) -> Comparison:
    o, n = load_report(old), load_report(new)
    om, nm = o["metrics"], n["metrics"]
    cmp = Comparison(True)
    for k in sorted(set(om) & set(nm)):
        if not isinstance(om[k], (int, float)) or not isinstance(nm[k], (int, float)):
            continue
        task, _, metric = k.partition(".")
        lo = hi = float("nan")
        if metric == "accuracy" and task in o.get("items", {}) and task in n.get("items", {}):
            lo, hi = _bootstrap([r["correct"] for r in o["items"][task]], [r["correct"] for r in n["items"][task]],
                                bootstrap)
        cmp.deltas[k] = (float(om[k]), float(nm[k]), float(nm[k]) - float(om[k]), lo, hi)
    for k, allowed in (gates or {}).items():
        if k not in cmp.deltas:
            cmp.passed = False
            cmp.failures.append(f"{k}: missing from one of the reports")
            continue
        old_v, new_v, delta, _, _ = cmp.deltas[k]
        worse = delta if any(k.endswith(s) for s in LOWER_IS_BETTER) else -delta
        if worse > allowed:
            cmp.passed = False
            cmp.failures.append(f"{k}: {old_v:.4f} → {new_v:.4f} is worse by {worse:.4f} > allowed {allowed}")
    return cmp
