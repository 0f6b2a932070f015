"""`compare`: deltas between two reports with 95% bootstrap confidence intervals, and a regression gate
(metric → largest allowed worsening) that the feedback loop uses before promoting.

The interval is a *paired* bootstrap over the per-item scores when both reports scored the same item ids (the
usual case: one eval set, two models): resampling the per-item differences removes the between-item variance
that an unpaired bootstrap keeps, so a real 3-point drop on 300 items is seen as one. Otherwise (different or
missing ids) the two reports are resampled independently.

A gate on metric M with tolerance t fails when M got worse by more than t (in M's direction, see
`directions`) and — when M has a confidence interval — the whole interval lies on the worse side of zero,
i.e. the regression is beyond the tolerance and is not noise. Metrics without per-item results (perplexity,
latency, TTFT, …) are gated on the point estimate."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .directions import direction, worsening


@dataclass
class Comparison:
    passed: bool
    # metric → (old, new, delta, ci_low, ci_high); the CI is NaN where there are no per-item scores
    deltas: dict[str, tuple[float, float, float, float, float]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    methods: dict[str, str] = field(default_factory=dict)  # metric → "paired" | "unpaired" (bootstrap)
    unknown: list[str] = field(default_factory=list)  # metrics in both reports with no known direction


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


def item_scores(report: dict, metric: str) -> list[tuple[Any, float]]:
    """(item id, score) of every item behind `metric` ("task.name"): the rows' "scores" entries, or "correct"
    for an accuracy in reports written before rows carried scores."""
    task, _, name = metric.partition(".")
    out = []
    for r in report.get("items", {}).get(task, []):
        scores = r.get("scores")
        if scores is not None:
            v = scores.get(name)
        else:
            v = r.get("correct") if name == "accuracy" else None
        if v is not None:
            out.append((r.get("id"), float(v)))
    return out


def bootstrap_ci(old: list[tuple[Any, float]], new: list[tuple[Any, float]], n: int,
                 seed: int = 0) -> tuple[float, float, str]:
    """95% CI of mean(new) − mean(old): paired over the item ids when both sides have the same unique ids."""
    if not old or not new or n <= 0:
        return float("nan"), float("nan"), ""
    rng = np.random.default_rng(seed)
    o_ids, n_ids = [i for i, _ in old], [i for i, _ in new]
    paired = None not in o_ids and len(set(o_ids)) == len(o_ids) and set(o_ids) == set(n_ids) \
        and len(set(n_ids)) == len(n_ids)
    if paired:
        nv = dict(new)
        d = np.array([nv[i] - v for i, v in old])
        diffs = d[rng.integers(0, len(d), size=(n, len(d)))].mean(1)
    else:
        a, b = np.array([v for _, v in old]), np.array([v for _, v in new])
        diffs = (b[rng.integers(0, len(b), size=(n, len(b)))].mean(1)
                 - a[rng.integers(0, len(a), size=(n, len(a)))].mean(1))
    lo, hi = np.quantile(diffs, [0.025, 0.975])
    return float(lo), float(hi), "paired" if paired else "unpaired"


def compare(old: Any, new: Any, gates: dict[str, float] | None = None, bootstrap: int = 1000) -> Comparison:
    o, n = load_report(old), load_report(new)
    om, nm = o["metrics"], n["metrics"]
    cmp = Comparison(True)
    for k in gates or {}:
        worsening(k, 0.0)  # a gate on a metric with no direction is a configuration error, raised up front
    for k in sorted(set(om) & set(nm)):
        if not isinstance(om[k], (int, float)) or not isinstance(nm[k], (int, float)):
            continue
        if direction(k) is None:
            cmp.unknown.append(k)
        lo, hi, method = bootstrap_ci(item_scores(o, k), item_scores(n, k), bootstrap)
        cmp.deltas[k] = (float(om[k]), float(nm[k]), float(nm[k]) - float(om[k]), lo, hi)
        if method:
            cmp.methods[k] = method
    for k, allowed in (gates or {}).items():
        if k not in cmp.deltas:
            cmp.passed = False
            cmp.failures.append(f"{k}: missing from one of the reports")
            continue
        old_v, new_v, delta, lo, hi = cmp.deltas[k]
        worse = worsening(k, delta)
        if worse <= allowed:
            continue
        if lo == lo:  # a CI: fail only when all of it is on the worse side of zero
            worse_lo, worse_hi = sorted((worsening(k, lo), worsening(k, hi)))
            if worse_lo <= 0:
                continue
            ci = f", 95% CI of the change [{lo:+.4f}, {hi:+.4f}] ({cmp.methods[k]}) excludes 0"
        else:
            ci = " (no per-item results: point estimate)"
        cmp.passed = False
        cmp.failures.append(f"{k}: {old_v:.4f} → {new_v:.4f} is worse by {worse:.4f} > allowed {allowed}{ci}")
    return cmp
