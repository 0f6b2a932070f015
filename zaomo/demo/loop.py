"""The quickstart: the whole loop on the embedded demo corpus, on a CPU, with nothing to download.

This module sits above the stages (like the CLI): it only calls their public functions in order —
demo corpus → clean → tokenizer → pretrain → knowledge base → SFT → evaluate (closed- and open-book)
— and writes one table and one HTML report of what it measured.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..config import ZaomoConfig, apply_overrides, validate
from ..eval.summary import data_summary as _data_summary
from ..eval.summary import embed_png as _img
from ..eval.summary import fmt as _fmt
from ..eval.summary import param_count as _param_count
from ..eval.summary import tokenizer_summary as _tokenizer_summary
from ..utils.io import atomic_write_json, atomic_write_text, iter_jsonl, write_jsonl
from ..workspace import Workspace

# The recipe: sized so the whole loop fits in ~10 minutes on 2 CPU cores.
QUICKSTART_OVERRIDES = [
    "project.name=handbook",
    "project.device=cpu",
    "data.inputs=[data/raw]",
    "data.split.val_ratio=0.15",
    "tokenizer.vocab_size=3000",
    "model.preset=tiny",
    "model.hidden_size=192",
    "model.num_layers=4",
    "model.num_heads=6",
    "model.num_kv_heads=2",
    "model.intermediate_size=512",
    "model.seq_len=256",
    "train.batch_size=8",
    "train.warmup_steps=30",
    "train.eval_every=100",
    "train.save_every=100",
    "train.log_every=20",
    "kb.sources=[data/raw/handbook]",
    "kb.top_k=1",
    "kb.context_tokens=200",
    "eval.max_new_tokens=32",
]
# Pretraining puts the handbook's facts into the weights (the closed-book questions need them). On 19 documents
# validation loss is lowest near step 100 of this schedule and rises after (5.64 at 100, 6.58 at 200, 7.09 at
# 300): early stopping ends the run at the first rise and the best validated weights are kept. (Shorter schedules
# reach a lower validation loss sooner, but stop before the facts are learned: 100 steps in all gave 21.7% on the
# held-out questions after SFT, 120 steps keeping step 60 gave 11.7%.)
PRETRAIN = ["train.stage=pretrain", "train.method=full", "train.lr=2e-3", "train.max_steps=300",
            "train.early_stopping_patience=1", "train.keep=best", "train.output_name=handbook-base"]
SFT = ["train.stage=sft", "train.method=full", "train.lr=1e-3", "train.max_steps=600",
       "train.output_name=handbook-chat", "train.warmup_steps=20", "train.batch_size=16"]


@dataclass
class QuickstartResult:
    workspace: str
    seconds: float
    data: dict[str, Any] = field(default_factory=dict)
    tokenizer: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    report_html: str = ""
    serve_command: str = ""
    machine: dict[str, Any] = field(default_factory=dict)


def _with(ws: Workspace, overrides: list[str]) -> None:
    """Apply overrides to the workspace config in memory (validated as a whole)."""
    ws.cfg = validate(apply_overrides(ws.cfg.model_dump(mode="json"), overrides), "quickstart")


def _rag_sft_records(kb: Any, records: list[dict], tokenizer: Any, budget: int, k: int) -> list[dict]:
    """Open-book copies of the SFT pairs: the same question with retrieved passages in the prompt,
    so the model learns to read the knowledge base's prompt format (the one serving uses)."""
    from ..kb.prompt import build_rag_messages

    out = []
    for r in records:
        msgs = r["messages"]
        users = [m for m in msgs if m["role"] == "user"]
        if len(users) != 1 or msgs[-1]["role"] != "assistant":
            continue
        question = users[0]["content"]
        hits = kb.search(question, k)
        prompt = build_rag_messages(question, hits, tokenizer=tokenizer, budget_tokens=budget)
        out.append({"id": f"{r['id']}-rag", "messages": prompt + [msgs[-1]]})
    return out


def _drill_records(drills: list[dict], tokenizer: Any, budget: int) -> list[dict]:
    from ..kb.prompt import build_rag_messages

    return [{"id": d["id"], "messages": build_rag_messages(d["question"], d["passages"], tokenizer=tokenizer,
                                                           budget_tokens=budget)
             + [{"role": "assistant", "content": d["answer"]}]} for d in drills]


def run_quickstart(root: str | Path, seed: int = 0, progress: bool = True,
                   log: Callable[[str], None] = print, overrides: list[str] | None = None,
                   drills: int = 1500, threads: int | None = None) -> QuickstartResult:
    """The loop, seeded, on a pinned number of torch threads with deterministic kernels: two runs on one
    machine print the same table (the table names the machine, since kernels differ between CPUs)."""
    from ..utils.env import deterministic

    with deterministic(seed, threads) as machine:
        return _run_quickstart(root, seed, progress, log, overrides, drills, machine)


def _run_quickstart(root: str | Path, seed: int, progress: bool, log: Callable[[str], None],
                    overrides: list[str] | None, drills: int, machine: dict[str, Any]) -> QuickstartResult:
    from ..data import run_pipeline
    from ..demo import write_demo
    from ..demo.corpus import reading_drills
    from ..eval import run_eval
    from ..kb import build_kb
    from ..kb.evaluate import retrieval_metrics
    from ..model.load import load_model
    from ..model.tokenizer import train_tokenizer
    from ..train import run_training

    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    root = Path(root)
    ws = Workspace.init(root, ZaomoConfig())
    extra = list(overrides or [])  # the user's --set wins over every stage's recipe
    _with(ws, QUICKSTART_OVERRIDES + [f"project.seed={seed}"] + extra)
    ws.save_config()

    @contextmanager
    def step(name: str) -> Iterator[None]:
        start = time.perf_counter()
        log(f"[bold cyan]▶ {name}[/bold cyan]")
        yield
        timings[name] = round(time.perf_counter() - start, 1)

    with step("demo corpus"):
        # no refusal pairs in the SFT mix: trained with them, this 1.8 M-parameter model refused 75% of benign
        # prompts (it cannot tell a harmful request from an unfamiliar one), so refusing is left to the guard —
        # the system's job — and the table reports the model alone and the system (guard + model) side by side
        manifest = write_demo(ws.root, seed=seed, refusals=False)

    with step("data: clean, filter, dedup, split"):
        report = run_pipeline(ws, progress=progress)

    with step("tokenizer: byte-level BPE"):
        tok_dir = train_tokenizer(ws)

    with step("pretrain a tiny Llama from scratch"):
        _with(ws, PRETRAIN + extra)
        base = run_training(ws, progress=progress)

    with step("knowledge base: BM25 over the handbook"):
        kb = build_kb(ws)

    with step("safety: train the guard's classifier"):
        from ..safety.classifier import SafetyClassifier, training_data

        sdata = training_data(ws.cfg.safety.classifier, ws.root)
        SafetyClassifier.train(sdata.train, meta={"sources": sdata.sources}).save(
            ws.path(ws.cfg.safety.classifier.path))

    with step("SFT on the QA pairs (closed- and open-book)"):
        _, tokenizer = load_model(base.model_dir, device="cpu")
        sft_src = list(iter_jsonl(ws.root / "data" / "sft" / "train.jsonl"))
        closed = [r for r in sft_src if not r.get("open_book")]  # reading-comprehension pairs only with passages
        sft_all = closed + _rag_sft_records(kb, sft_src, tokenizer, ws.cfg.kb.context_tokens, ws.cfg.kb.top_k)
        sft_all += _drill_records(reading_drills(seed, drills), tokenizer, ws.cfg.kb.context_tokens)
        sft_train = ws.root / "data" / "sft" / "train_mixed.jsonl"
        write_jsonl(sft_train, sft_all)
        sft_val = ws.root / "data" / "sft" / "val.jsonl"
        write_jsonl(sft_val, sft_all[:: max(1, len(sft_all) // 40)])
        _with(ws, SFT + [f"train.init_from={base.model_dir}", f"train.train_file={sft_train}",
                         f"train.val_file={sft_val}"] + extra)
        sft = run_training(ws, progress=progress)

    def rag(question: str) -> list[dict]:
        from ..kb.prompt import build_rag_messages

        return build_rag_messages(question, kb.search(question, ws.cfg.kb.top_k), tokenizer=tokenizer,
                                  budget_tokens=ws.cfg.kb.context_tokens)

    def grounded(question: str, generated: str) -> str:
        from ..kb.answer import ground

        return ground(question, generated, kb.search(question, ws.cfg.kb.top_k))[0]

    with step("evaluate: pretrained, SFT, SFT + knowledge base"):
        ev_base = run_eval(ws, target=str(base.model_dir), tasks=["perplexity", "qa"], progress=progress)
        ev_sft = run_eval(ws, target=str(sft.model_dir), tasks=["perplexity", "qa", "choice", "safety"],
                          progress=progress)
        ev_rag = run_eval(ws, target=str(sft.model_dir), tasks=["qa"], rag=rag, progress=progress,
                          ground=grounded if ws.cfg.kb.unsupported == "quote" else None)
        qa_items = list(iter_jsonl(ws.path(ws.cfg.eval.qa_file)))
        retrieval = retrieval_metrics(kb, qa_items, k=5)

    mv = ws.registry.get_model("handbook-chat")
    if mv is not None:
        ws.registry.set_model_status(mv.id, "promoted", eval=ev_sft.metrics)
    ws.cfg = validate(apply_overrides(ws.cfg.model_dump(mode="json"), [
        "serve.model=handbook-chat", f"serve.kb={ws.cfg.kb.name}"]), "quickstart")
    ws.save_config()

    res = QuickstartResult(
        workspace=str(ws.root), seconds=round(time.perf_counter() - t0, 1), timings=timings,
        data=_data_summary(report),
        tokenizer=_tokenizer_summary(tok_dir),
        model={"parameters": _param_count(sft.model_dir), "base": str(base.model_dir), "chat": str(sft.model_dir),
               "pretrain_run": base.run_id, "sft_run": sft.run_id},
        metrics={
            "val_perplexity": ev_base.metrics.get("perplexity.ppl"),
            "sft_val_perplexity": ev_sft.metrics.get("perplexity.ppl"),
            "qa_pretrained": ev_base.metrics.get("qa.accuracy"),
            "qa_sft": ev_sft.metrics.get("qa.accuracy"),
            # the model's own open-book answers are the headline; the system's accuracy after the KB replaced
            # unsupported answers with a quoted passage sentence is reported beside it, never instead of it
            "qa_sft_kb": ev_rag.metrics.get("qa.accuracy_generated", ev_rag.metrics.get("qa.accuracy")),
            "qa_sft_kb_quoted": ev_rag.metrics.get("qa.accuracy") if "qa.accuracy_generated" in ev_rag.metrics
            else None,
            "kb_quoted_share": ev_rag.metrics.get("qa.grounded_share"),
            "choice_sft": ev_sft.metrics.get("choice.accuracy"),
            # the model alone, and the system a user meets: input guard (word lists, classifier) → model → output
            # guard; both on the policy set's held-out prompts, per language too
            **{f"{who}{k}": ev_sft.metrics.get(f"{prefix}{k}")
               for who, prefix in (("", "safety."), ("system_", "safety_system."))
               for k in ("refusal_rate", "attack_success_rate", "over_refusal_rate", "refusal.zh", "refusal.en",
                         "over_refusal.zh", "over_refusal.en", "n_adversarial", "n_benign")},
            "refusal_rate_adversarial": ev_sft.metrics.get("safety.refusal_rate"),
            "retrieval_recall@5": retrieval.get("recall@5", retrieval.get("recall@k")),
            "qa_items": len(qa_items),
            "demo_seed": seed,
            "noise_planted": getattr(manifest, "noise", None),
        },
        serve_command=f"zaomo serve -w {ws.root}", machine=machine,
    )
    res.report_html = str(write_report(ws, res, base.run_id, sft.run_id,
                                       {"pretrained": ev_base, "sft": ev_sft, "sft_kb": ev_rag}))
    atomic_write_json(ws.root / "quickstart.json", asdict(res))
    return res


def write_report(ws: Workspace, res: QuickstartResult, pre_run: str, sft_run: str,
                 evals: dict[str, Any]) -> Path:
    """One self-contained HTML page: the table, the loss curves, links to each stage's own report."""
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in table_rows(res))
    links = []
    for label, ev in evals.items():
        p = getattr(ev, "html_path", None) or getattr(ev, "path", None)
        if p:
            links.append(f'<li>{label}: <a href="{html.escape(str(p))}">{html.escape(str(p))}</a></li>')
    data_html = ws.clean_dir / "report.html"
    if data_html.exists():
        links.append(f'<li>data report: <a href="{data_html}">{data_html}</a></li>')
    page = f"""<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>zaomo quickstart</title>
<style>body{{font-family:system-ui,'WenQuanYi Micro Hei',sans-serif;max-width:960px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse}}td{{border:1px solid #ccc;padding:4px 10px}}</style></head><body>
<h1>造模 zaomo quickstart</h1><p>workspace: <code>{html.escape(res.workspace)}</code> — {res.seconds} s in total</p>
<table>{rows}</table>
<h2>Pretraining loss</h2>{_img(ws.runs_dir / pre_run / "plots" / "loss.png")}
<h2>SFT loss</h2>{_img(ws.runs_dir / sft_run / "plots" / "loss.png")}
<h2>Stage reports</h2><ul>{''.join(links)}</ul>
<p>Serve it with its web page: <code>{html.escape(res.serve_command)}</code></p></body></html>"""
    out = ws.root / "quickstart_report.html"
    atomic_write_text(out, page)
    return out


def _by_lang(m: dict[str, Any], total: str, per: str) -> str:
    if m.get(total) is None:
        return "—"
    return f"{_fmt(m.get(total), True)}  (zh {_fmt(m.get(per + '.zh'), True)}, en {_fmt(m.get(per + '.en'), True)})"


def _machine(card: dict[str, Any]) -> str:
    if not card:
        return "—"
    return (f"{card.get('cpu')}, {card.get('cores')} cores, torch {card.get('torch')} on "
            f"{card.get('torch_threads')} threads, {card.get('cpu_kernels')} kernels")


def table_rows(res: QuickstartResult) -> list[tuple[str, str]]:
    d, m = res.data, res.metrics
    dropped = d.get("dropped") or {}
    rows: list[tuple[str, str]] = [
        ("records read", _fmt(d.get("read"))),
        ("records kept", _fmt(d.get("kept"))),
    ]
    rows += [(f"  dropped: {reason}", str(n)) for reason, n in sorted(dropped.items(), key=lambda x: -x[1])]
    if d.get("deduplicated") is not None:
        rows.append(("  removed as duplicates", _fmt(d.get("deduplicated"))))
    rows += [
        ("tokenizer vocabulary", _fmt(res.tokenizer.get("vocab_size"))),
        ("model parameters", f"{res.model.get('parameters', 0) / 1e6:.2f} M"),
        ("validation perplexity (pretrained)", _fmt(m.get("val_perplexity"))),
        (f"QA accuracy, pretrained ({m.get('qa_items')} held-out)", _fmt(m.get("qa_pretrained"), True)),
        ("QA accuracy, SFT", _fmt(m.get("qa_sft"), True)),
        ("QA accuracy, SFT + knowledge base (the model's own open-book answers)", _fmt(m.get("qa_sft_kb"), True)
         + (f"  (with quoted evidence: {_fmt(m.get('qa_sft_kb_quoted'), True)}, "
            f"{_fmt(m.get('kb_quoted_share'), True)} of answers replaced by a quoted passage sentence)"
            if m.get("qa_sft_kb_quoted") is not None else "")),
        ("retrieval recall@5", _fmt(m.get("retrieval_recall@5"), True)),
        ("multiple choice, SFT", _fmt(m.get("choice_sft"), True)),
        (f"refusal on held-out harmful prompts ({m.get('n_adversarial')}), model alone",
         _by_lang(m, "refusal_rate", "refusal")),
        (f"over-refusal on held-out benign prompts ({m.get('n_benign')}), model alone",
         _by_lang(m, "over_refusal_rate", "over_refusal")),
        ("refusal, system (guard + model)", _by_lang(m, "system_refusal_rate", "system_refusal")),
        ("over-refusal, system (guard + model)", _by_lang(m, "system_over_refusal_rate", "system_over_refusal")),
        ("total time", f"{res.seconds:.0f} s"),
        ("machine", _machine(res.machine)),
        ("serve it", res.serve_command),
    ]
    return rows
