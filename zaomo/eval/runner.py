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
from .choice_template import LETTERS, answer_index, answer_text, choice_prompt
from .safety import builtin_safety_set, eval_safety, eval_safety_system

TASKS = ("perplexity", "qa", "choice", "safety", "judge", "speed")


@dataclass
class EvalReport:
    run_id: str
    target: str
    metrics: dict[str, float] = field(default_factory=dict)
    items: dict[str, list[dict]] = field(default_factory=dict)
    card: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # task → why it could not run on this target
    model: str | None = None  # the model reference evaluated (name, name:version, dir or endpoint)
    prompt: dict[str, Any] | None = None  # the prompt version the generation tasks ran under
    path: Path | None = None
    html_path: Path | None = None


def _target(ws: Workspace, target: str | None):
    from .targets import EndpointTarget, LocalTarget

    t = target or ws.cfg.eval.target
    if t and str(t).startswith(("http://", "https://")):
        import os

        return EndpointTarget(str(t), api_key=os.environ.get(ws.cfg.eval.api_key_env))
    return LocalTarget(ws.resolve_model(t), ws.cfg.eval.batch_size, device=ws.cfg.project.device,
                       dtype=ws.cfg.model.dtype)


LONG_REFERENCE_UNITS = 8  # a reference of at least this many characters (Chinese) / words is scored by ROUGE etc.


def _long_reference(it: dict, golds: list[str]) -> str | None:
    """The item's `reference` (a sentence or summary), else its longest answer when that is long enough for
    overlap metrics to mean something; None for short factoid answers."""
    if it.get("reference"):
        return str(it["reference"])
    longest = max(golds, key=len, default="")
    return longest if len(M.tokens(longest)) >= LONG_REFERENCE_UNITS else None


def eval_qa(tgt, items: list[dict], max_new_tokens: int, rag: Callable[[str], list[dict]] | None,
            ground: Callable[[str, str], str] | None = None) -> tuple[dict, list]:
    """Generative QA. With `ground` (the knowledge base's citation check), the scored answer is the grounded
    one and the model's own generation is scored too, as `accuracy_generated`. Items with a long reference
    (`reference`, or a long answer) also get ROUGE-1/2/L (characters for Chinese), BLEU (sacrebleu, 'zh'
    tokenizer for Chinese) and chrF; items with `keypoints` get key-point recall."""
    convs = [rag(it["question"]) if rag else [{"role": "user", "content": it["question"]}] for it in items]
    raw = tgt.generate(convs, max_new_tokens)
    rows = []
    for it, g in zip(items, raw):
        golds = [str(a) for a in it["answers"]]
        p = ground(it["question"], g) if ground else g
        row = {"id": it["id"], "question": it["question"], "prediction": p, "generated": g, "answers": golds,
               "correct": M.answer_recall(p, golds), "correct_generated": M.answer_recall(g, golds),
               "em": M.exact_match(p, golds), "f1": M.f1(p, golds), "lang": it.get("lang")}
        row["scores"] = {"accuracy": row["correct"], "exact_match": row["em"], "f1": row["f1"]}
        if ground:
            row["scores"]["accuracy_generated"] = row["correct_generated"]
        if (ref := _long_reference(it, golds)) is not None:
            row["reference"] = ref
            row["scores"].update(M.rouge(p, ref))
        if it.get("keypoints"):
            row["scores"]["keypoint_recall"] = M.keypoint_recall(p, [str(k) for k in it["keypoints"]])
        rows.append(row)
    n = max(1, len(rows))
    m = {"accuracy": sum(r["correct"] for r in rows) / n, "exact_match": sum(r["em"] for r in rows) / n,
         "f1": sum(r["f1"] for r in rows) / n, "n": len(rows)}
    if ground:
        m["accuracy_generated"] = sum(r["correct_generated"] for r in rows) / n
        m["grounded_share"] = sum(r["prediction"] != r["generated"] for r in rows) / n
    long = [r for r in rows if "reference" in r]
    m["n_long"] = len(long)
    if long:
        for k in ("rouge1", "rouge2", "rougeL"):
            m[k] = sum(r["scores"][k] for r in long) / len(long)
        preds, refs = [r["prediction"] for r in long], [r["reference"] for r in long]
        m["bleu"], m["chrf"] = M.bleu(preds, refs), M.chrf(preds, refs)
    if kp := [r["scores"]["keypoint_recall"] for r in rows if "keypoint_recall" in r["scores"]]:
        m["keypoint_recall"] = sum(kp) / len(kp)
    return m, rows


def _answer(it: dict) -> int:
    """The item's answer as an option index; a clear error for anything but exactly one valid letter/index."""
    i = answer_index(it.get("answer"), len(it.get("choices") or []))
    if i is None:
        raise ValueError(f"multiple-choice item {it.get('id')!r}: answer {it.get('answer')!r} is not exactly one of "
                         f"the option letters {', '.join(LETTERS[:len(it.get('choices') or [])])} (or a 0-based "
                         "index); fix the item's answer field")
    return i


def eval_choice(tgt, items: list[dict], mode: str = "letter", shots: int = 0, circular: bool = False,
                dev: dict[str, list[dict]] | None = None) -> tuple[dict, list]:
    """Log-likelihood multiple choice: score each option letter (or its text, length-normalised per character)
    after the prompt; shots show their answers in the same form (one template: choice_template). Shots come
    from the subject's dev examples, else from the first `shots` items of the subject, which are then not scored. `circular`: every rotation of the options is asked and an item counts
    only if all rotations are right (CircularEval), which removes the bias towards one letter."""
    dev = dev or {}
    for it in [*items, *(x for xs in dev.values() for x in xs)]:
        _answer(it)  # every answer (shots too) checked before any scoring
    pools: dict[str, list[dict]] = {}
    scored_items = []
    for it in items:
        subj = it.get("subject", "all")
        pool = pools.setdefault(subj, list(dev.get(subj, [])))
        if shots and subj not in dev and len(pool) < shots:
            pool.append(it)  # used as a shot, not scored
            continue
        scored_items.append(it)
    ctxs, conts, spans = [], [], []
    for it in scored_items:
        few = pools.get(it.get("subject", "all"), [])[:shots]
        k = len(it["choices"])
        answer = _answer(it)
        variants = []
        for r in range(k if circular else 1):
            order = [(i + r) % k for i in range(k)]  # option shown at position j is the original order[j]
            shown = dict(it, choices=[it["choices"][o] for o in order], answer=order.index(answer))
            prompt = choice_prompt(shown["question"], shown["choices"], few, mode)
            variants.append((len(ctxs), shown))
            for i in range(k):
                ctxs.append(prompt)
                conts.append(answer_text(shown["choices"], i, mode))
        spans.append(variants)
    scores = tgt.loglikelihoods(ctxs, conts)
    if mode == "full":  # per character, so long options are not penalised for their length
        scores = [sc / max(1, len(c.strip())) for sc, c in zip(scores, conts)]
    rows = []
    by_subject: dict[str, list[float]] = {}
    for it, variants in zip(scored_items, spans):
        k = len(it["choices"])
        oks, picks = [], []
        for start, shown in variants:
            s = scores[start:start + k]
            pick = max(range(k), key=lambda i: s[i])
            picks.append(LETTERS[pick])
            oks.append(pick == shown["answer"])
        first = scores[variants[0][0]:variants[0][0] + k]
        ok = float(all(oks))
        per_item = {"accuracy": ok, f"subject.{it.get('subject', 'all')}": ok}
        if circular:
            per_item["accuracy_first_order"] = float(oks[0])
        rows.append({"id": it["id"], "pick": picks[0], "answer": LETTERS[_answer(it)], "correct": ok,
                     "correct_first_order": float(oks[0]), "picks": picks, "option_logprobs": first,
                     "subject": it.get("subject", "all"), "scores": per_item})
        by_subject.setdefault(it.get("subject", "all"), []).append(ok)
    micro = sum(r["correct"] for r in rows) / max(1, len(rows))
    macro = statistics.mean(sum(v) / len(v) for v in by_subject.values()) if by_subject else 0.0
    m = {"accuracy": micro, "macro_accuracy": macro, "n": len(rows),
         **{f"subject.{k}": sum(v) / len(v) for k, v in by_subject.items()}}
    if circular:
        m["accuracy_first_order"] = sum(r["correct_first_order"] for r in rows) / max(1, len(rows))
    return m, rows


def _contamination_files(ws: Workspace) -> list[Path]:
    """eval.contamination_files resolved before any work is done, so a wrong path fails at once."""
    files = []
    for f in ws.cfg.eval.contamination_files:
        p = ws.clean_dir / "train.jsonl" if f == "auto" else ws.path(f)
        if p.exists():
            files.append(p)
        elif f != "auto":
            raise FileNotFoundError(f"eval.contamination_files: {p} does not exist; fix the path or set "
                                    "eval.contamination_files=[] to skip the contamination split")
    return files


def _contamination(rep: EvalReport, files: list[Path], qa_items: dict[str, list[dict]]) -> dict | None:
    """Clean vs contaminated scores for qa and choice against the model's training files."""
    if not files or not any(qa_items.values()):
        return None
    from .contamination import contaminated_ids, split_scores

    hit = contaminated_ids({k: v for k, v in qa_items.items() if v}, files)
    for task in ("qa", "choice"):
        if rep.items.get(task):
            flagged = {i for t, i in hit if t == task}
            for r in rep.items[task]:
                r["contaminated"] = str(r.get("id")) in flagged
            rep.metrics.update({f"{task}.{k}": v for k, v in split_scores(rep.items[task], flagged).items()})
    return {"files": [str(f) for f in files], "method": "13-gram overlap (characters for Chinese, words "
            "otherwise)", "contaminated": sorted(f"{t}:{i}" for t, i in hit)}


LOGLIK_TASKS = ("perplexity", "choice")


@dataclass
class _Inputs:
    """Every input file the tasks need, read before any model is loaded or queried."""
    texts: list[str] = field(default_factory=list)
    qa: list[dict] = field(default_factory=list)
    choice: list[dict] = field(default_factory=list)
    dev: dict[str, list[dict]] = field(default_factory=dict)
    judge: list[dict] = field(default_factory=list)
    safety: list[dict] = field(default_factory=list)
    speed_prompts: list[str] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)


def general_text_file(ws: Workspace) -> Path:
    """The held-out general text perplexity is measured on: eval.text_file, else the clean validation split."""
    return ws.path(ws.cfg.eval.text_file) if ws.cfg.eval.text_file else ws.clean_dir / "val.jsonl"


def _read_inputs(ws: Workspace, tasks: list[str]) -> _Inputs:
    """A task that is asked for but has no usable input is an error here, naming the setting and the fix —
    never a task silently missing from the report."""
    cfg, got = ws.cfg.eval, _Inputs()

    def need(task: str, key: str, value: str | None, fix: str) -> Path:
        if not value:
            raise ValueError(f"eval task '{task}' needs {key} ({fix}), or drop '{task}' from eval.tasks")
        p = ws.path(value)
        if not p.exists():
            raise FileNotFoundError(f"{key}: {p} does not exist (needed by eval task '{task}'); fix the path or "
                                    f"drop '{task}' from eval.tasks")
        got.hashes[str(value)] = file_hash(p) if p.is_file() else dir_hash(p)
        return p

    def items(task: str, key: str, value: str | None, fix: str) -> list[dict]:
        p = need(task, key, value, fix)
        rows = list(iter_jsonl(p))
        if not rows:
            raise ValueError(f"{key}: {p} has no items (needed by eval task '{task}')")
        return rows

    if "perplexity" in tasks:
        text_file = cfg.text_file or str(general_text_file(ws))  # the key as configured, for the report card
        f = need("perplexity", "eval.text_file", text_file, "JSONL with a text field; default: data.output_dir/"
                 "val.jsonl, written by `zaomo data`")
        got.texts = [r["text"] for r in iter_jsonl(f) if r.get("text")]
        if not got.texts:
            raise ValueError(f"eval.text_file: {f} has no texts (needed by eval task 'perplexity')")
    if "qa" in tasks:
        got.qa = items("qa", "eval.qa_file", cfg.qa_file, "JSONL of question and answers")
    if "choice" in tasks:
        from .choice_data import load_choice_sets

        f = need("choice", "eval.choice_file", cfg.choice_file, "JSONL or C-Eval/CMMLU/MMLU CSVs")
        got.choice, got.dev = load_choice_sets(f)
        if not got.choice:
            raise ValueError(f"eval.choice_file: {f} has no items to score (needed by eval task 'choice')")
    if "judge" in tasks:
        got.judge = items("judge", "eval.judge.file", cfg.judge.file or cfg.qa_file, "questions to judge")
    if "safety" in tasks and cfg.safety_file:
        from ..safety.policy_set import read_labelled

        f = need("safety", "eval.safety_file", cfg.safety_file, "safety prompts")
        got.safety = read_labelled(f, require_category=False)
    if "safety" in tasks and not cfg.safety_builtin and not got.safety:
        raise ValueError("eval task 'safety' has no prompts: set eval.safety_builtin=true or give eval.safety_file, "
                         "or drop 'safety' from eval.tasks")
    if "speed" in tasks:
        qa = ws.path(cfg.qa_file) if cfg.qa_file else None
        got.speed_prompts = [r["question"] for r in iter_jsonl(qa)] if qa and qa.exists() else []
    return got


def prompt_info(prompt: Any) -> dict[str, Any]:
    """What a report records of a prompt version: enough to tell versions apart and to find the row again."""
    return {"name": prompt.name, "version": prompt.version, "model": prompt.model, "text": prompt.text,
            "template": prompt.template}


def run_eval(ws: Workspace, target: str | None = None, tasks: list[str] | None = None,
             rag: Callable[[str], list[dict]] | None = None, progress: bool = True,
             ground: Callable[[str, str], str] | None = None, prompt: Any = None) -> EvalReport:
    """Run the tasks; every input is checked before any work. Against an endpoint, the log-likelihood tasks
    (perplexity, choice) cannot run: they are listed in `EvalReport.skipped` with the reason. `prompt` (a
    `records.PromptVersion`) is applied to every generated conversation (qa, judge, safety) as the server
    applies it, so a model × prompt pair is scored as it will be served; log-likelihood tasks read raw text."""
    cfg = ws.cfg.eval
    tasks = list(tasks or cfg.tasks)
    unknown = set(tasks) - set(TASKS)
    if unknown:
        raise ValueError(f"eval.tasks: unknown task(s) {sorted(unknown)}; available: {', '.join(TASKS)}")
    if "judge" in tasks and not cfg.judge.url:
        raise ValueError("eval task 'judge' needs eval.judge.url (an OpenAI-compatible endpoint of the judge model)")
    t = target or cfg.target
    endpoint = bool(t) and str(t).startswith(("http://", "https://"))
    if "speed" in tasks and not endpoint:
        raise ValueError("eval task 'speed' measures an endpoint: pass --target http://host:port/v1")
    skipped = {k: "needs log-likelihoods from a local model; an endpoint only generates text"
               for k in LOGLIK_TASKS if k in tasks and endpoint}
    train_files = _contamination_files(ws)
    inp = _read_inputs(ws, [k for k in tasks if k not in skipped])
    tgt = _target(ws, target)
    if prompt is not None:
        from .targets import PromptedTarget

        tgt = PromptedTarget(tgt, prompt.text, prompt.template)
    run_id = ws.new_run_id("eval")
    out_dir = ws.eval_root / run_id
    t0 = time.perf_counter()
    rep = EvalReport(run_id, tgt.path, skipped=skipped, model=str(t or ws.cfg.serve.model or tgt.path),
                     prompt=prompt_info(prompt) if prompt is not None else None)
    data_hashes = inp.hashes
    mc, dev = inp.choice, inp.dev

    if inp.texts:
        rep.metrics.update({f"perplexity.{k}": v for k, v in tgt.perplexity(inp.texts).items()})
    if inp.qa:
        m, rows = eval_qa(tgt, inp.qa, cfg.max_new_tokens, rag, ground)
        rep.metrics.update({f"qa.{k}": v for k, v in m.items()})
        rep.items["qa"] = rows
    if mc:
        m, rows = eval_choice(tgt, mc, cfg.choice_mode, cfg.shots, cfg.circular, dev)
        rep.metrics.update({f"choice.{k}": v for k, v in m.items()})
        rep.items["choice"] = rows
    if inp.judge:
        import os

        from .judge import Judge, eval_judge

        j = Judge(cfg.judge.url, cfg.judge.model, os.environ.get(cfg.judge.api_key_env))
        m, rows = eval_judge(tgt, inp.judge, j, cfg.max_new_tokens, cfg.judge.mode)
        rep.metrics.update({f"judge.{k}": v for k, v in m.items()})
        rep.items["judge"] = rows
    if "speed" in tasks:
        from .speed import measure_speed

        prompts = inp.speed_prompts or ["你好，请介绍一下你自己。"]
        prompts = (prompts * cfg.speed.requests)[:cfg.speed.requests]
        m = measure_speed(tgt.path, prompts, cfg.speed.concurrency, cfg.speed.max_tokens, tgt.model,
                          tgt.api_key)
        rep.metrics.update({f"speed.{k}": v for k, v in m.items()})
    if "safety" in tasks:
        from ..safety import Guard, is_chinese

        sset = (builtin_safety_set(per_group=cfg.safety_builtin_per_group) if cfg.safety_builtin else []) \
            + inp.safety
        m, rows = eval_safety(tgt, sset, cfg.max_new_tokens)
        rep.metrics.update({f"safety.{k}": v for k, v in m.items()})
        rep.items["safety"] = rows
        s_cfg = ws.cfg.safety
        guard = Guard(s_cfg, ws.root) if ws.cfg.serve.guard else None
        m, rows = eval_safety_system(tgt, sset, guard, cfg.max_new_tokens, [r["prediction"] for r in rows],
                                     lambda p: s_cfg.refusal_zh if is_chinese(p) else s_cfg.refusal_en)
        rep.metrics.update({f"safety_system.{k}": v for k, v in m.items()})
        rep.items["safety_system"] = rows
    contamination = _contamination(rep, train_files, qa_items={"qa": rep.items.get("qa", []), "choice": mc})
    rep.card = {
        "target": tgt.path, "target_kind": tgt.kind,
        "model_hash": dir_hash(tgt.path) if tgt.kind == "local" and Path(tgt.path).is_dir() else None,
        "tasks": tasks, "skipped": skipped, "mode": {"qa": ("open-book (rag)" if rag else "closed-book")
                                 + (", unsupported answers replaced by quoted evidence" if ground else ""), "choice": f"{cfg.choice_mode} "
                                 "log-likelihood", "perplexity": "sliding window of max_position_embeddings tokens, stride half of it, only new tokens "
                                 "scored; bits per character/byte over the scored tokens' text"},
        "prompts": {"qa": "chat template, user turn = question" + (" after retrieved passages" if rag else ""),
                    "choice": "question, lettered options, '答案：', then each option's ' A' (letter mode) or ' text' "
                    "(full mode) scored; shots end with their answer in the same form"},
        "shots": cfg.shots, "chat_template": tgt.chat_template, "model": rep.model,
        "prompt": {"name": prompt.name, "version": prompt.version, "applied_to": "qa, judge and safety "
                   "conversations (system text first; template on the user turn); not to perplexity or choice"}
        if prompt is not None else None,
        "qa_text_metrics": f"items with a `reference` or an answer of >= {LONG_REFERENCE_UNITS} characters (Chinese) / "
                           "words: ROUGE-1/2/L (characters for Chinese), corpus BLEU (sacrebleu, tokenize='zh' for "
                           "Chinese, else 13a) and chrF; items with `keypoints`: key-point recall",
        "averaging": "micro over items (choice.macro_accuracy: mean of per-subject accuracies)",
        "choice": {"mode": cfg.choice_mode, "circular": cfg.circular, "shots": cfg.shots,
                   "shot_source": "subject *_dev examples, else the first items of each subject (not scored)"},
        "judge": {"url": cfg.judge.url, "model": cfg.judge.model, "mode": cfg.judge.mode} if "judge" in tasks
        else None,
        "contamination": contamination,
        "safety": {"builtin": f"policy set, test split ({cfg.safety_builtin_per_group or 'all'} per category, "
                              "language and expectation)" if cfg.safety_builtin else None,
                   "user_file": cfg.safety_file, "refusal": "the reply declines in its opening (eval.refusal)",
                   "system": ("input guard (word lists, injection heuristics"
                              + (", classifier" if ws.cfg.safety.classifier.enabled else "")
                              + (", guard endpoint" if ws.cfg.safety.guard_endpoint.url else "")
                              + ") → model → output guard") if ws.cfg.serve.guard else "no guard (serve.guard=false)"}
        if "safety" in tasks else None,
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
