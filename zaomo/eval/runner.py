"""`run_eval`: the tasks of `eval.tasks` on a local model or an endpoint, one report with its card."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..utils.env import package_versions
from ..utils.hashing import dir_hash, file_hash
from ..utils.io import iter_jsonl
from ..workspace import Workspace
from . import metrics as M
from .refusal import is_refusal

LETTERS = "ABCDEFGHIJ"


@dataclass
class EvalReport:
    run_id: str
    target: str
    metrics: dict[str, float] = field(default_factory=dict)
    items: dict[str, list[dict]] = field(default_factory=dict)
    card: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    html_path: Path | None = None


def _target(ws: Workspace, target: str | None):
    from .targets import EndpointTarget, LocalTarget

    t = target or ws.cfg.eval.target
    if t and str(t).startswith(("http://", "https://")):
        import os

        return EndpointTarget(str(t), api_key=os.environ.get(ws.cfg.eval.api_key_env))
    return LocalTarget(ws.resolve_model(t), ws.cfg.eval.batch_size, device=ws.cfg.project.device)


def eval_qa(tgt, items: list[dict], max_new_tokens: int, rag: Callable[[str], list[dict]] | None,
            ground: Callable[[str, str], str] | None = None) -> tuple[dict, list]:
    """Generative QA. With `ground` (the knowledge base's citation check), the scored answer is the grounded
    one and the model's own generation is scored too, as `accuracy_generated`."""
    convs = [rag(it["question"]) if rag else [{"role": "user", "content": it["question"]}] for it in items]
    raw = tgt.generate(convs, max_new_tokens)
    rows = []
    for it, g in zip(items, raw):
        golds = [str(a) for a in it["answers"]]
        p = ground(it["question"], g) if ground else g
        rows.append({"id": it["id"], "question": it["question"], "prediction": p, "generated": g, "answers": golds,
                     "correct": M.answer_recall(p, golds), "correct_generated": M.answer_recall(g, golds),
                     "em": M.exact_match(p, golds), "f1": M.f1(p, golds), "lang": it.get("lang")})
    n = max(1, len(rows))
    m = {"accuracy": sum(r["correct"] for r in rows) / n, "exact_match": sum(r["em"] for r in rows) / n,
         "f1": sum(r["f1"] for r in rows) / n, "n": len(rows)}
    if ground:
        m["accuracy_generated"] = sum(r["correct_generated"] for r in rows) / n
        m["grounded_share"] = sum(r["prediction"] != r["generated"] for r in rows) / n
    return m, rows


def _choice_prompt(it: dict, shots: list[dict]) -> str:
    def block(x: dict, with_answer: bool) -> str:
        opts = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(x["choices"]))
        return f"{x['question']}\n{opts}\n答案：" + (f"{_answer_letter(x)}\n\n" if with_answer else "")
    return "".join(block(s, True) for s in shots) + block(it, False)


def _answer_letter(it: dict) -> str:
    a = it["answer"]
    return LETTERS[a] if isinstance(a, int) else str(a).strip().upper()


def eval_choice(tgt, items: list[dict], mode: str = "letter", shots: int = 0) -> tuple[dict, list]:
    """Log-likelihood multiple choice: score each option letter (or its text) after the prompt."""
    ctxs, conts = [], []
    for it in items:
        few = [x for x in items if x is not it][:shots]
        prompt = _choice_prompt(it, few)
        for i, c in enumerate(it["choices"]):
            ctxs.append(prompt)
            conts.append(f" {LETTERS[i]}" if mode == "letter" else f" {c}")
    scores = tgt.loglikelihoods(ctxs, conts)
    rows = []
    by_subject: dict[str, list[float]] = {}
    pos = 0
    for it in items:
        k = len(it["choices"])
        s = scores[pos:pos + k]
        pos += k
        pick = LETTERS[max(range(k), key=lambda i: s[i])]
        ok = float(pick == _answer_letter(it))
        rows.append({"id": it["id"], "pick": pick, "answer": _answer_letter(it), "correct": ok, "scores": s,
                     "subject": it.get("subject", "all")})
        by_subject.setdefault(it.get("subject", "all"), []).append(ok)
    micro = sum(r["correct"] for r in rows) / max(1, len(rows))
    macro = statistics.mean(sum(v) / len(v) for v in by_subject.values()) if by_subject else 0.0
    m = {"accuracy": micro, "macro_accuracy": macro, "n": len(rows),
         **{f"subject.{k}": sum(v) / len(v) for k, v in by_subject.items()}}
    return m, rows


def builtin_safety_set() -> list[dict]:
    from ..demo.corpus import ADVERSARIAL, BENIGN

    adv = [{"id": f"builtin-adv-{i}", "prompt": p, "category": c, "lang": lang, "expected": "refuse"}
           for i, (c, lang, p) in enumerate(ADVERSARIAL)]
    ben = [{"id": f"builtin-ben-{i}", "prompt": p, "category": "benign", "lang": lang, "expected": "answer"}
           for i, (lang, p) in enumerate(BENIGN)]
    return adv + ben


def eval_safety(tgt, items: list[dict], max_new_tokens: int) -> tuple[dict, list]:
    preds = tgt.generate([[{"role": "user", "content": it["prompt"]}] for it in items], max_new_tokens)
    rows = [{"id": it["id"], "category": it.get("category"), "expected": it["expected"], "prediction": p,
             "refused": is_refusal(p)} for it, p in zip(items, preds)]
    adv = [r for r in rows if r["expected"] == "refuse"]
    ben = [r for r in rows if r["expected"] != "refuse"]
    refusal = sum(r["refused"] for r in adv) / max(1, len(adv))
    m = {"refusal_rate": refusal, "attack_success_rate": 1 - refusal if adv else 0.0,
         "over_refusal_rate": sum(r["refused"] for r in ben) / max(1, len(ben)), "n_adversarial": len(adv),
         "n_benign": len(ben)}
    cats: dict[str, list[bool]] = {}
    for r in adv:
        cats.setdefault(r["category"], []).append(r["refused"])
    m.update({f"refusal.{k}": sum(v) / len(v) for k, v in cats.items()})
    return m, rows


def run_eval(ws: Workspace, target: str | None = None, tasks: list[str] | None = None,
             rag: Callable[[str], list[dict]] | None = None, progress: bool = True,
             ground: Callable[[str, str], str] | None = None) -> EvalReport:
    cfg = ws.cfg.eval
    tasks = tasks or cfg.tasks
    unknown = set(tasks) - {"perplexity", "qa", "choice", "safety"}
    if unknown:
        raise ValueError(f"eval.tasks: unknown task(s) {sorted(unknown)}; available: perplexity, qa, choice, safety")
    tgt = _target(ws, target)
    run_id = ws.new_run_id("eval")
    out_dir = ws.eval_root / run_id
    t0 = time.perf_counter()
    rep = EvalReport(run_id, tgt.path)
    data_hashes: dict[str, str] = {}

    def items_of(p: str | None) -> list[dict]:
        if not p:
            return []
        f = ws.path(p)
        if not f.exists():
            return []
        data_hashes[str(p)] = file_hash(f)
        return list(iter_jsonl(f))

    if "perplexity" in tasks and tgt.kind == "local":
        f = ws.path(cfg.text_file) if cfg.text_file else ws.clean_dir / "val.jsonl"
        texts = [r["text"] for r in iter_jsonl(f)] if f.exists() else []
        if texts:
            data_hashes[str(f)] = file_hash(f)
            rep.metrics.update({f"perplexity.{k}": v for k, v in tgt.perplexity(texts).items()})
    if "qa" in tasks and (qa := items_of(cfg.qa_file)):
        m, rows = eval_qa(tgt, qa, cfg.max_new_tokens, rag, ground)
        rep.metrics.update({f"qa.{k}": v for k, v in m.items()})
        rep.items["qa"] = rows
    if "choice" in tasks and tgt.kind == "local" and (mc := items_of(cfg.choice_file)):
        m, rows = eval_choice(tgt, mc, cfg.choice_mode, cfg.shots)
        rep.metrics.update({f"choice.{k}": v for k, v in m.items()})
        rep.items["choice"] = rows
    if "safety" in tasks:
        sset = builtin_safety_set() + items_of(cfg.safety_file)
        m, rows = eval_safety(tgt, sset, cfg.max_new_tokens)
        rep.metrics.update({f"safety.{k}": v for k, v in m.items()})
        rep.items["safety"] = rows
    rep.card = {
        "target": tgt.path, "target_kind": tgt.kind,
        "model_hash": dir_hash(tgt.path) if tgt.kind == "local" and Path(tgt.path).is_dir() else None,
        "tasks": tasks, "mode": {"qa": ("open-book (rag)" if rag else "closed-book")
                                 + (", unsupported answers replaced by quoted evidence" if ground else ""), "choice": f"{cfg.choice_mode} "
                                 "log-likelihood", "perplexity": "non-overlapping windows of max_position_embeddings"},
        "prompts": {"qa": "chat template, user turn = question" + (" after retrieved passages" if rag else ""),
                    "choice": "question, lettered options, '答案：' then each letter scored"},
        "shots": cfg.shots, "chat_template": tgt.chat_template, "averaging": "micro (macro by subject also given)",
        "generation": {"max_new_tokens": cfg.max_new_tokens, "temperature": 0},
        "seed": ws.cfg.project.seed, "data": data_hashes, "versions": package_versions(),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    from .report import write_report

    rep.path, rep.html_path = write_report(out_dir, rep)
    ws.registry.start_run(run_id, "eval", seed=ws.cfg.project.seed, config=ws.cfg.model_dump(mode="json"),
                          versions=package_versions(), path=str(out_dir))
    ws.registry.finish_run(run_id, summary={k: v for k, v in rep.metrics.items() if isinstance(v, float)})
    return rep
