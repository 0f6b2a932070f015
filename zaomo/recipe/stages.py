"""What each kind of pipeline step does — only calls to the stages' public functions, plus the two things a
recipe over one's own documents adds: the held-out domain question set (made in the data step, kept out of
training), and SFT reading drills made from the training documents. Each returns a JSON summary that the
state keeps for the report."""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..utils.hashing import bucket
from ..utils.io import iter_jsonl, read_jsonl, write_jsonl
from ..workspace import Workspace
from .pipeline import Step

Log = Callable[[str], None]


def run_step(ws: Workspace, step: Step, progress: bool, log: Log, fresh: bool = False) -> dict[str, Any]:
    """Run one step with its own config; `fresh` starts training anew instead of resuming a killed run."""
    sws = replace(ws, cfg=step.cfg)
    if step.kind == "data":
        return _data(sws, progress, log)
    if step.kind == "tokenizer":
        return _tokenizer(sws)
    if step.kind == "kb":
        return _kb(sws)
    if step.kind == "eval":
        return _eval(sws, step, progress, log)
    return _train(sws, step, progress, log, fresh)


def _data(ws: Workspace, progress: bool, log: Log) -> dict[str, Any]:
    from ..data import run_pipeline
    from ..eval.summary import data_summary

    rep = run_pipeline(ws, progress=progress)
    d = data_summary(rep) | {"documents": rep.documents, "train": rep.train, "val": rep.val, "test": rep.test}
    domain = build_domain_set(ws, log)
    if moved := domain["decontaminated"]:  # held-out questions' sentences removed from the training split
        dropped = dict(d.get("dropped") or {})
        dropped["decontaminate"] = dropped.get("decontaminate", 0) + moved
        d.update(dropped=dropped, kept=d["kept"] - moved, train=d["train"] - moved,
                 quarantined=d["quarantined"] + moved)
    train = ws.clean_dir / "train.jsonl"
    d["train_chars"] = sum(len(r["text"]) for r in iter_jsonl(train) if isinstance(r.get("text"), str))
    return {"data": d, "domain": domain, "report_html": rep.paths.get("report_html")}


def build_domain_set(ws: Workspace, log: Log) -> dict[str, Any]:
    """Cloze questions (and, with eval.generator, written ones) over the held-out split, then the training
    split decontaminated against their evidence sentences. A sentence that overlaps more than one training
    record is boilerplate repeated across documents: its question is dropped instead of those records."""
    from ..data.decontam import NgramIndex, overlapping_lines, remove_lines
    from ..data.report import amend_counts
    from ..eval.cloze import cloze_items

    cfg = ws.cfg.eval
    held = ws.clean_dir / f"{cfg.cloze.split}.jsonl"
    records = [r for r in iter_jsonl(held) if isinstance(r.get("text"), str)] if held.exists() else []
    items = cloze_items(records, cfg.cloze.questions, cfg.cloze.per_document, cfg.cloze.min_context,
                        ws.cfg.project.seed)
    written: list[dict] = []
    rejected: dict[str, int] = {}
    if cfg.generator.url and records:
        from ..eval.qa_writer import written_items
        from ..eval.targets import EndpointTarget

        g = cfg.generator
        endpoint = EndpointTarget(g.url, g.model, os.environ.get(g.api_key_env), g.timeout_s)
        written, rejected = written_items(records, endpoint, g.questions)
    index = NgramIndex()
    for it in items + written:
        index.add(it["id"], it["evidence"])
    train = ws.clean_dir / "train.jsonl"
    hits = overlapping_lines(train, index) if train.exists() else {}
    repeated = {i for i, n in Counter(i for ids in hits.values() for i in ids).items() if n > 1}
    keep = [it for it in items + written if it["id"] not in repeated]
    reasons = {line: f"overlaps held-out question(s) {', '.join(sorted(set(ids) - repeated)[:5])} "
                     f"({cfg.cloze.file})" for line, ids in hits.items() if set(ids) - repeated}
    moved = remove_lines(train, reasons, ws.quarantine_path) if reasons else 0
    if moved:
        amend_counts(ws.clean_dir, "train", "decontaminate", moved)
    write_jsonl(ws.path(cfg.cloze.file), keep)
    if not keep:
        log(f"[yellow]no domain questions could be made from the {len(records)} {cfg.cloze.split} records: raise "
            f"data.split.{cfg.cloze.split}_ratio or lower eval.cloze.min_context[/yellow]")
    return {"questions": len(keep), "cloze": sum(it["origin"] == "cloze" for it in keep),
            "written": sum(it["origin"] == "generator" for it in keep), "written_rejected": rejected,
            "repeated_dropped": len(repeated), "decontaminated": moved, "heldout_records": len(records),
            "split": cfg.cloze.split, "file": cfg.cloze.file,
            "kinds": dict(Counter(it.get("kind", "") for it in keep))}


def count_tokens(tokenizer_dir: str | Path, path: Path, batch: int = 512) -> int:
    """Tokens of a JSONL split's texts (without repeats) under the tokenizer that will train on them."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    n, buf = 0, []
    for r in iter_jsonl(path):
        if isinstance(r.get("text"), str):
            buf.append(r["text"])
        if len(buf) >= batch:
            n += sum(len(x) for x in tok(buf, add_special_tokens=False)["input_ids"])
            buf = []
    if buf:
        n += sum(len(x) for x in tok(buf, add_special_tokens=False)["input_ids"])
    return n


def _tokenizer(ws: Workspace) -> dict[str, Any]:
    from ..eval.summary import tokenizer_summary
    from ..model.tokenizer import train_tokenizer

    out = train_tokenizer(ws)
    summary = tokenizer_summary(out)
    train = ws.clean_dir / "train.jsonl"
    if train.exists():
        summary["train_tokens"] = count_tokens(out, train)
    return summary


def _kb(ws: Workspace) -> dict[str, Any]:
    from ..kb import build_kb

    kb = build_kb(ws)
    problems = list(getattr(kb, "problems", []))
    return {"name": ws.cfg.kb.name, "documents": len(kb.documents()), "chunks": len(kb.chunks),
            "skipped": len(problems), "skipped_examples": problems[:5]}


def resumable(ws: Workspace, step: Step) -> tuple[str, str] | None:
    """(run id, checkpoint) of the newest unfinished training run with exactly this step's config (a run killed
    or interrupted part-way): resuming it continues where it stopped, with the same data order."""
    from ..train.checkpoint import latest_checkpoint

    want = step.cfg.model_dump(mode="json")
    for run in reversed(ws.registry.runs("train")):
        if run.status != "done" and run.config == want:
            last = latest_checkpoint(ws.runs_dir / run.id / "checkpoints")
            if last is not None:
                return run.id, last.name
    return None


def _train(ws: Workspace, step: Step, progress: bool, log: Log, fresh: bool) -> dict[str, Any]:
    from ..eval.summary import param_count
    from ..train import run_training

    made: dict[str, Any] = {}
    if step.kind == "sft":
        made = write_sft_data(ws, step, log)
    found = None if fresh else resumable(ws, step)
    resume = found[0] if found else None
    r = run_training(ws, progress=progress, resume=resume)
    m = r.metrics
    out: dict[str, Any] = {
        "run_id": r.run_id, "method": ws.cfg.train.method, "model_dir": _rel(ws, r.model_dir),
        "model_name": ws.cfg.train.output_name, "version": m.get("model_version"),
        "val_loss": m.get("best_val_loss") if m.get("kept") == "best" and m.get("best_val_loss") is not None
        else m.get("val_loss"), "kept": m.get("kept"), "final_train_loss": m.get("final_train_loss"),
        "steps": m.get("steps"), "tokens_seen": m.get("tokens_seen"), "parameters": param_count(r.model_dir),
        "resumed": resume, "loss_plot": _rel(ws, ws.runs_dir / r.run_id / "plots" / "loss.png"), **made}
    if r.adapter_dir is not None:
        out["adapter_dir"] = _rel(ws, r.adapter_dir)
        out["adapter_parameters"] = param_count(r.adapter_dir)
        out["adapter_bytes"] = sum(f.stat().st_size for f in Path(r.adapter_dir).glob("*.safetensors"))
    return out


def _rel(ws: Workspace, p: str | Path) -> str:
    p = Path(p)
    return str(p.relative_to(ws.root)) if p.is_absolute() and p.is_relative_to(ws.root) else str(p)


def _tokenizer_for(ws: Workspace):
    from transformers import AutoTokenizer

    from ..train.model_init import base_path

    src = base_path(ws) or str(ws.tokenizer_dir)
    return AutoTokenizer.from_pretrained(src)


def write_sft_data(ws: Workspace, step: Step, log: Log) -> dict[str, Any]:
    """The SFT file this step trains on: the user's chat data, then reading drills — cloze questions over
    sentences of the training split, asked closed-book and with knowledge-base passages in the serving prompt
    (the passage holding the answer always among them; passages from held-out documents never), answered
    with the blanked span and, open-book, its citation."""
    from ..data.formats import to_messages

    recs: list[dict] = []
    if step.chat_data:
        for n, r in enumerate(iter_jsonl(ws.path(step.chat_data)), 1):
            recs.append({**to_messages(r), "id": str(r.get("id", f"chat-{n}"))})
    n_chat, n_drills = len(recs), 0
    if step.drills:
        drills = _drills(ws, step)
        recs += drills
        n_drills = len(drills) // 2
    write_jsonl(ws.path(ws.cfg.train.train_file), recs)
    if not recs:
        raise ValueError(f"{step.where}: no SFT examples: the training split has no sentence with a checkable "
                         "span, and there is no chat data (data/sft/train.jsonl)")
    return {"sft_examples": len(recs), "chat_examples": n_chat, "drills": n_drills}


def _drills(ws: Workspace, step: Step) -> list[dict]:
    from ..data.decontam import NgramIndex
    from ..eval.cloze import cloze_items
    from ..kb.evaluate import holds
    from ..kb.prompt import build_rag_messages

    cfg = ws.cfg
    train = [r for r in iter_jsonl(ws.clean_dir / "train.jsonl") if isinstance(r.get("text"), str)]
    per_doc = max(cfg.eval.cloze.per_document, math.ceil(2 * step.drills / max(1, len(train))))
    items = cloze_items(train, step.drills, per_doc, cfg.eval.cloze.min_context, cfg.project.seed, "drill")
    held = NgramIndex()
    domain = ws.path(cfg.eval.cloze.file)
    for it in read_jsonl(domain) if domain.exists() else []:
        held.add(it["id"], it["evidence"])
    kb = None
    if "knowledge base" in step.inputs:
        from ..kb import KnowledgeBase

        kb = KnowledgeBase.load(ws.kb_dir())
    tok = _tokenizer_for(ws)
    texts = {r["id"]: r["text"] for r in train}
    k, budget = cfg.kb.top_k, cfg.kb.context_tokens
    out = []
    for it in items:
        q, a, ev = it["question"], it["answers"][0], it["evidence"]
        out.append({"id": f"{it['id']}-closed", "messages": [{"role": "user", "content": q},
                                                              {"role": "assistant", "content": a}]})
        passages = [h.text for h in kb.search(q, k)] if kb is not None else []
        passages = [p for p in passages if not held.overlaps(p)]
        gold = next((i for i, p in enumerate(passages) if holds(p, ev)), None)
        if gold is None:  # the retriever missed: the sentence in its own words' neighbourhood goes in
            passages = passages[:max(0, k - 1)]
            gold = bucket(it["id"], len(passages) + 1)
            passages.insert(gold, _window(texts.get(it["record_id"], ev), ev))
        msgs = build_rag_messages(q, passages, tokenizer=tok, budget_tokens=budget)
        if not holds(msgs[0]["content"], ev):  # cut by the token budget: the answer's passage first, or alone
            passages.insert(0, passages.pop(gold))
            gold = 0
            msgs = build_rag_messages(q, passages, tokenizer=tok, budget_tokens=budget)
            if not holds(msgs[0]["content"], ev):
                passages[0] = ev
                msgs = build_rag_messages(q, passages, tokenizer=tok, budget_tokens=budget)
        out.append({"id": f"{it['id']}-open", "messages": msgs + [{"role": "assistant",
                                                                  "content": f"{a}[{gold + 1}]"}]})
    return out


def _window(text: str, sentence: str, chars: int = 240) -> str:
    """The sentence with the text around it, about `chars` long."""
    i = text.find(sentence)
    if i < 0:
        return sentence
    pad = max(0, (chars - len(sentence)) // 2)
    return text[max(0, i - pad):i + len(sentence) + pad].strip()


def _eval(ws: Workspace, step: Step, progress: bool, log: Log) -> dict[str, Any]:
    """Domain QA closed-book and with the knowledge base (the model's own answers, and with unsupported ones
    replaced by quoted evidence), retrieval recall, safety and perplexity where asked (eval.tasks); with no
    model, retrieval and quoted evidence alone."""
    from ..eval import run_eval
    from ..eval.metrics import answer_recall
    from ..kb.answer import best_sentence
    from ..kb.evaluate import retrieval_metrics

    cfg = ws.cfg
    domain = ws.path(cfg.eval.cloze.file)
    items = read_jsonl(domain) if domain.exists() else []
    origin = {it["id"]: it.get("origin", "cloze") for it in items}
    out: dict[str, Any] = {"questions": len(items), "origins": dict(Counter(origin.values())), "skipped": {}}
    kb = None
    if "knowledge base" in step.inputs:
        from ..kb import KnowledgeBase

        kb = KnowledgeBase.load(ws.kb_dir())
        out["retrieval"] = retrieval_metrics(kb, items, k=5) if items else {}
    else:
        out["skipped"]["knowledge base"] = "no kb stage in the pipeline (and no kb/ built)"
    if not step.model:
        if kb is not None and items:
            hits = [kb.search(it["question"], cfg.kb.top_k) for it in items]
            out["kb_quoted"] = sum(answer_recall(best_sentence(it["question"], h)[1], it["answers"])
                                   for it, h in zip(items, hits)) / len(items)
        out["skipped"]["model"] = "no model in the pipeline (add a training stage or set model.base)"
        return out
    target = str(ws.path(step.model)) if ws.path(step.model).exists() else step.model
    out["model"] = step.model
    sws = replace(ws, cfg=cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"qa_file": str(domain)})}))
    tasks = ["qa"] if items else []
    for t in ("perplexity", "safety"):
        if t in cfg.eval.tasks:
            tasks.append(t)
    if "choice" in cfg.eval.tasks:
        if cfg.eval.choice_file and ws.path(cfg.eval.choice_file).exists():
            tasks.append("choice")
        else:
            out["skipped"]["choice"] = f"no multiple-choice set at {cfg.eval.choice_file}"
    if "perplexity" in tasks and not (ws.clean_dir / "val.jsonl").exists():
        tasks.remove("perplexity")
    if not items:
        out["skipped"]["qa"] = "no domain questions (see the data step)"
    closed = run_eval(sws, target=target, tasks=tasks, progress=progress) if tasks else None
    m = closed.metrics if closed else {}
    out.update({"closed": m.get("qa.accuracy"), "perplexity": m.get("perplexity.ppl"),
                "refusal_rate": m.get("safety.refusal_rate"), "over_refusal_rate": m.get("safety.over_refusal_rate"),
                "system_refusal_rate": m.get("safety_system.refusal_rate"),
                "system_over_refusal_rate": m.get("safety_system.over_refusal_rate"),
                "choice": m.get("choice.accuracy"), "report_closed": str(closed.html_path) if closed else None,
                "contaminated": m.get("qa.n_contaminated")})
    if closed and "qa" in closed.items:
        out["closed_by_origin"] = _by_origin(closed.items["qa"], origin, "correct")
    if kb is not None and items:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(target)

        def rag(question: str) -> list[dict]:
            from ..kb.prompt import build_rag_messages

            return build_rag_messages(question, kb.search(question, cfg.kb.top_k), tokenizer=tok,
                                      budget_tokens=cfg.kb.context_tokens)

        def grounded(question: str, generated: str) -> str:
            from ..kb.answer import ground

            return ground(question, generated, kb.search(question, cfg.kb.top_k))[0]

        quote = cfg.kb.unsupported == "quote"
        ev = run_eval(sws, target=target, tasks=["qa"], rag=rag, progress=progress, ground=grounded if quote else None)
        em = ev.metrics
        out.update({"kb_own": em.get("qa.accuracy_generated", em.get("qa.accuracy")),
                    "kb_quoted": em.get("qa.accuracy") if quote else None,
                    "quoted_share": em.get("qa.grounded_share"), "report_kb": str(ev.html_path)})
        out["kb_own_by_origin"] = _by_origin(ev.items["qa"], origin, "correct_generated")
        if quote:
            out["kb_quoted_by_origin"] = _by_origin(ev.items["qa"], origin, "correct")
    return out


def _by_origin(rows: list[dict], origin: dict[str, str], key: str) -> dict[str, float]:
    groups: dict[str, list[float]] = {}
    for r in rows:
        groups.setdefault(origin.get(str(r["id"]), "cloze"), []).append(float(r[key]))
    return {k: sum(v) / len(v) for k, v in groups.items()}
