"""The report of a recipe run, on the user's own data: the quickstart's table (records kept and dropped by
reason, tokens, parameters or adapter size, each trained stage's validation loss, domain QA accuracy per
route, retrieval recall, safety, time per stage, the command that serves the result) as run_report.json and
one self-contained run_report.html with each training stage's loss curve. Skipped stages report their last
success, so the table always describes what is in the workspace."""

from __future__ import annotations

import html
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..config.pipeline import TRAIN_STAGES
from ..eval.summary import PAGE_STYLE, embed_png, fmt, rows_html
from ..utils.io import atomic_write_json, atomic_write_text
from ..workspace import Workspace
from .pipeline import Step


def serve_command(ws: Workspace, steps: list[Step]) -> str | None:
    trained = [s for s in steps if s.kind in TRAIN_STAGES]
    model = trained[-1].cfg.train.output_name if trained else ws.cfg.model.base
    if not model:
        return None
    kb = f" --kb {ws.cfg.kb.name}" if any(s.kind == "kb" for s in steps) else ""
    return f"zaomo serve -w {ws.root} --model {model}{kb}"


def _pct(v: Any) -> str:
    return fmt(v, True)


def _questions(dom: dict[str, Any]) -> str:
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(dom.get("kinds", {}).items(), key=lambda x: -x[1]))
    text = f"{dom.get('questions', 0)} from {dom.get('heldout_records', 0)} held-out ({dom.get('split')}) records"
    text += f" — cloze {dom.get('cloze', 0)}" + (f" ({kinds})" if kinds else "")
    if dom.get("written") or dom.get("written_rejected"):
        text += f", written by the generator {dom.get('written', 0)} ({sum(dom.get('written_rejected', {}).values())}" \
                " rejected)"
    return text


def table_rows(outcomes: list[Any], seconds: float, serve: str | None) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for o in outcomes:
        r = o.result or {}
        if o.kind == "data" and r:
            d = r.get("data", {})
            rows += [("records read", f"{fmt(d.get('read'))} ({fmt(d.get('documents'))} documents)"),
                     ("records kept", f"{fmt(d.get('kept'))} (train {fmt(d.get('train'))}, val {fmt(d.get('val'))}"
                                      f", test {fmt(d.get('test'))})")]
            for reason, n in sorted((d.get("dropped") or {}).items(), key=lambda x: -x[1]):
                rows.append((f"  dropped: {reason}", str(n)))
            if d.get("deduplicated") is not None:
                rows.append(("  removed as duplicates", fmt(d.get("deduplicated"))))
            if d.get("train_chars") is not None:
                rows.append(("characters in the clean training split", f"{d['train_chars']:,}"))
            rows.append(("domain questions (held out, never trained on)", _questions(r.get("domain", {}))))
        elif o.kind == "tokenizer" and r:
            rows.append(("tokenizer vocabulary", fmt(r.get("vocab_size"))))
            if r.get("train_tokens") is not None:
                rows.append(("tokens in the clean training split", f"{r['train_tokens']:,}"))
        elif o.kind == "kb" and r:
            rows.append((f"knowledge base '{r.get('name')}'", f"{r.get('documents')} documents, {r.get('chunks')} "
                                                              "chunks"))
        elif o.kind in TRAIN_STAGES and r:
            size = f"{r.get('parameters', 0) / 1e6:.2f} M parameters"
            if r.get("adapter_parameters") is not None:
                size += (f"; adapter {r['adapter_parameters'] / 1e3:.1f} k parameters, "
                         f"{r.get('adapter_bytes', 0) / 1e6:.2f} MB")
            rows.append((f"{o.label} ({o.kind}, {r.get('method')}): model", size))
            rows.append((f"{o.label}: validation loss", f"{fmt(r.get('val_loss'))} ({r.get('kept') or 'last'} "
                         f"weights of {r.get('steps')} steps, {fmt(r.get('tokens_seen'))} tokens seen)"
                         + (f"; resumed {r['resumed']}" if r.get("resumed") else "")))
            if r.get("drills") is not None:
                rows.append((f"{o.label}: training examples", f"{r.get('sft_examples')} ({r.get('drills')} reading "
                             f"drills x 2, {r.get('chat_examples')} of your chat data)"))
        elif o.kind == "eval" and r:
            n = r.get("questions", 0)
            who = f" ({r['model']})" if r.get("model") else ""
            rows.append((f"domain QA accuracy, closed-book{who} ({n} questions)", _pct(r.get("closed"))))
            rows.append(("domain QA accuracy, with the knowledge base (the model's own answers)",
                         _pct(r.get("kb_own"))))
            quoted = _pct(r.get("kb_quoted"))
            if r.get("quoted_share") is not None:
                quoted += f" ({_pct(r['quoted_share'])} of answers replaced by a quoted passage sentence)"
            rows.append(("domain QA accuracy, with the knowledge base (unsupported answers → quoted evidence)",
                         quoted))
            for origin, acc in (r.get("closed_by_origin") or {}).items() if len(r.get("origins", {})) > 1 else []:
                rows.append((f"  {origin} questions: closed-book / KB own / KB quoted",
                             f"{_pct(acc)} / {_pct((r.get('kb_own_by_origin') or {}).get(origin))} / "
                             f"{_pct((r.get('kb_quoted_by_origin') or {}).get(origin))}"))
            if r.get("contaminated") is not None:
                rows.append(("  questions overlapping the training split (13-gram check)", fmt(int(r["contaminated"]))))
            ret = r.get("retrieval") or {}
            rows.append(("retrieval recall@5 (the answer's sentence among the top 5 chunks)",
                         _pct(ret.get("recall@5")) + (f" (MRR {ret['mrr']:.2f})" if "mrr" in ret else "")))
            if r.get("perplexity") is not None:
                rows.append(("validation perplexity (final model)", fmt(r.get("perplexity"))))
            rows.append(("refusal on held-out harmful prompts: model alone / system (guard + model)",
                         f"{_pct(r.get('refusal_rate'))} / {_pct(r.get('system_refusal_rate'))}"))
            rows.append(("over-refusal on held-out benign prompts: model alone / system (guard + model)",
                         f"{_pct(r.get('over_refusal_rate'))} / {_pct(r.get('system_over_refusal_rate'))}"))
            for task, why in (r.get("skipped") or {}).items():
                rows.append((f"  not measured: {task}", why))
    for o in outcomes:
        took = f"{o.seconds:.1f} s"
        rows.append((f"time: {o.label}", took if o.status == "ran" else f"up to date ({took} when it last ran)"))
    rows.append(("total time (this run)", f"{seconds:.0f} s"))
    rows.append(("serve it", serve or "— (no model: add a training stage or set model.base)"))
    return rows


def write_report(ws: Workspace, steps: list[Step], res: Any) -> tuple[Path, Path]:
    rows = table_rows(res.outcomes, res.seconds, res.serve_command)
    curves, links = "", []
    for o in res.outcomes:
        r = o.result or {}
        if o.kind in TRAIN_STAGES and r.get("loss_plot"):
            curves += f"<h2>{html.escape(o.label)}: loss</h2>{embed_png(ws.path(r['loss_plot']))}"
        for key in ("report_html", "report_closed", "report_kb"):
            if r.get(key):
                links.append(f'<li>{html.escape(o.label)} ({key.removeprefix("report_") or "report"}): '
                             f'<a href="{html.escape(str(r[key]))}">{html.escape(str(r[key]))}</a></li>')
    recipe = " → ".join(s.label for s in steps)
    page = f"""<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>zaomo run</title>
<style>{PAGE_STYLE}</style></head><body><h1>造模 zaomo run</h1>
<p>workspace <code>{html.escape(str(ws.root))}</code> · recipe <code>{html.escape(recipe)}</code></p>
<table>{rows_html(rows)}</table>{curves}<h2>Stage reports</h2><ul>{''.join(links)}</ul>
<p>Serve it: <code>{html.escape(res.serve_command or '—')}</code></p></body></html>"""
    hpath, jpath = ws.root / "run_report.html", ws.root / "run_report.json"
    atomic_write_text(hpath, page)
    atomic_write_json(jpath, {"workspace": str(ws.root), "recipe": [s.label for s in steps], "rows": rows,
                              "seconds": res.seconds, "serve_command": res.serve_command,
                              "stages": [asdict(o) for o in res.outcomes]})
    return hpath, jpath
