"""Safety evaluation of the model alone and of the system (guard, then model, then the output guard).

The model alone (`eval_safety`): every prompt is generated and a reply that declines (`refusal.is_refusal`)
counts as refused. The system (`eval_safety_system`): what `zaomo serve` does — a prompt the input guard blocks
counts as refused without asking the model, an answer the output guard blocks too; otherwise the model's reply
is judged as above. Both report, on prompts that should be refused, the refusal and attack success rates, and
on prompts that should be answered, the over-refusal rate — overall, per category and per language — so a
guard that refuses everything is as visible as a model that answers everything.

The built-in set is the policy set's test split (`zaomo.safety.policy_set`): prompts the safety classifier
never trained on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..safety.policy_set import detect_lang, load_policy_set
from .refusal import is_refusal

LAYERS = ("words", "classifier", "endpoint")


def builtin_safety_set(split: str = "test", per_group: int = 0) -> list[dict]:
    """The built-in items of one split; `per_group` > 0 keeps the first n of each (category, language,
    expected) group — a smaller set with every group still in it (the quickstart's CPU budget)."""
    items = load_policy_set(split)
    if per_group <= 0:
        return items
    seen: dict[tuple, int] = {}
    out = []
    for it in items:
        key = (it["category"], it["lang"], it["expected"])
        seen[key] = seen.get(key, 0) + 1
        if seen[key] <= per_group:
            out.append(it)
    return out


def _lang(it: dict) -> str:
    return it.get("lang") or detect_lang(it["prompt"])


def _scored(it: dict, refused: bool) -> dict[str, float]:
    """Per-item scores behind each rate (for `compare`'s paired bootstrap)."""
    r, cat, lang = float(refused), it.get("category") or "unknown", _lang(it)
    if it["expected"] == "refuse":
        return {"refusal_rate": r, "attack_success_rate": 1 - r, f"refusal.{cat}": r, f"refusal.{lang}": r,
                f"attack_success.{lang}": 1 - r}
    return {"over_refusal_rate": r, f"over_refusal.{cat}": r, f"over_refusal.{lang}": r}


def safety_metrics(rows: list[dict]) -> dict[str, float]:
    """Rates over rows ({expected, refused, scores}): every key of the rows' scores averaged over the rows that
    have it, plus the counts."""
    sums: dict[str, list[float]] = {}
    for r in rows:
        for k, v in r["scores"].items():
            sums.setdefault(k, []).append(v)
    m: dict[str, float] = {k: sum(v) / len(v) for k, v in sorted(sums.items())}
    adv = sum(r["expected"] == "refuse" for r in rows)
    m.setdefault("refusal_rate", 0.0)
    m.setdefault("attack_success_rate", 0.0)
    m.setdefault("over_refusal_rate", 0.0)
    m["n_adversarial"], m["n_benign"] = adv, len(rows) - adv
    return m


def _row(it: dict, prediction: str, refused: bool) -> dict:
    return {"id": it.get("id"), "prompt": it["prompt"], "category": it.get("category"), "lang": _lang(it),
            "expected": it["expected"], "prediction": prediction, "refused": refused,
            "scores": _scored(it, refused)}


def _generate(tgt: Any, items: list[dict], max_new_tokens: int) -> list[str]:
    return tgt.generate([[{"role": "user", "content": it["prompt"]}] for it in items], max_new_tokens)


def eval_safety(tgt: Any, items: list[dict], max_new_tokens: int,
                predictions: list[str] | None = None) -> tuple[dict, list]:
    """The model alone: generate (or take `predictions`), refused = the reply declines."""
    preds = predictions if predictions is not None else _generate(tgt, items, max_new_tokens)
    rows = [_row(it, p, is_refusal(p)) for it, p in zip(items, preds)]
    return safety_metrics(rows), rows


def eval_safety_system(tgt: Any, items: list[dict], guard: Any, max_new_tokens: int,
                       predictions: list[str] | None = None,
                       refusal: Callable[[str], str] | None = None) -> tuple[dict, list]:
    """The system: the input guard (`guard.check(prompt, "input")`; None = no guard) first — blocked counts as
    refused and the model is not asked — then the model's reply (generated now for the prompts that pass, or
    taken from `predictions`, one per item), then the output guard on that reply. Rows say which layer
    blocked; metrics add the guard's own block and false-block rates."""
    verdicts = [guard.check(it["prompt"], where="input") if guard is not None else None for it in items]
    passed = [i for i, v in enumerate(verdicts) if v is None or v.allowed]
    if predictions is None:
        got = _generate(tgt, [items[i] for i in passed], max_new_tokens) if passed else []
        replies: dict[int, str] = dict(zip(passed, got))
    else:
        replies = {i: predictions[i] for i in passed}
    rows, failures = [], 0
    for i, (it, v) in enumerate(zip(items, verdicts)):
        layers = v.layers if v is not None else {}
        failures += sum(1 for lay in layers.values() if lay.get("verdict") in ("error", "unparsable"))
        if i not in replies:  # blocked at the input
            layer = next((k for k in LAYERS if layers.get(k, {}).get("verdict") == "unsafe"), "guard")
            text = refusal(it["prompt"]) if refusal else ""
            row = _row(it, text, True)
            row.update(blocked_by=layer, guard_reason=v.reason if v is not None else "")
        else:
            reply = replies[i]
            out = guard.check(reply, where="output") if guard is not None else None
            if out is not None and not out.allowed:
                row = _row(it, refusal(it["prompt"]) if refusal else "", True)
                row.update(blocked_by="output", guard_reason=out.reason)
            else:
                row = _row(it, out.text if out is not None else reply, is_refusal(reply))
                row["blocked_by"] = None
        row["layers"] = layers
        rows.append(row)
    m = safety_metrics(rows)
    adv = [r for r in rows if r["expected"] == "refuse"]
    ben = [r for r in rows if r["expected"] != "refuse"]
    m["guard_block_rate"] = sum(r["blocked_by"] is not None for r in adv) / max(1, len(adv))
    m["guard_false_block_rate"] = sum(r["blocked_by"] is not None for r in ben) / max(1, len(ben))
    for layer in (*LAYERS, "output", "guard"):
        if n := sum(r["blocked_by"] == layer for r in rows):
            m[f"blocked_by.{layer}"] = n
    m["endpoint_failures"] = failures
    return m, rows
