"""`zaomo eval` and `zaomo eval compare`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .common import ConfigOpt, SetOpt, WorkspaceOpt, console, friendly_errors, open_workspace


def register(app: typer.Typer) -> None:
    ev = typer.Typer(help="评估: evaluate a model or endpoint; compare two reports.", invoke_without_command=True)
    app.add_typer(ev, name="eval")

    @ev.callback()
    @friendly_errors
    def evaluate(
        ctx: typer.Context,
        target: Annotated[str | None, typer.Option(help="model dir/name or http(s) endpoint")] = None,
        tasks: Annotated[str | None, typer.Option(
            help="comma-separated: perplexity,qa,choice,safety,judge,speed")] = None,
        harness: Annotated[str | None, typer.Option(
            help="lm-evaluation-harness tasks (comma-separated) on the target model, instead of zaomo's")] = None,
        harness_include: Annotated[Path | None, typer.Option(help="folder of local lm-eval task YAMLs")] = None,
        shots: Annotated[int | None, typer.Option(help="few-shot examples (harness tasks)")] = None,
        kb: Annotated[str | None, typer.Option(help="answer QA open-book from this knowledge base")] = None,
        prompt: Annotated[str | None, typer.Option(help="generate under this prompt version: NAME (its promoted "
                                                  "version) or NAME:VER; the report names it")] = None,
        workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None,
    ) -> None:
        """Evaluate; prints the metrics and the HTML report path."""
        if ctx.invoked_subcommand:
            return
        from ..eval import run_eval

        ws = open_workspace(workspace, config, set_)
        if harness:
            import json

            from ..eval.harness import run_harness
            from ..model.load import pick_device

            res = run_harness(ws.resolve_model(target or ws.cfg.eval.target), harness.split(","),
                              harness_include, device=pick_device(ws.cfg.project.device),
                              batch_size=ws.cfg.eval.batch_size, num_fewshot=shots, dtype=ws.cfg.model.dtype)
            out = ws.eval_root / "harness.json"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(res, ensure_ascii=False, indent=2), encoding="utf-8")
            t = Table("task", "metric", "value", title="lm-evaluation-harness")
            for task, ms in res.items():
                for k, v in ms.items() if task != "_config" else []:
                    t.add_row(task, k, f"{v:.4f}" if isinstance(v, float) else str(v))
            console.print(t)
            console.print(f"results: {out}")
            return
        rag = None
        if kb:
            from ..kb import KnowledgeBase
            from ..kb.prompt import build_rag_messages

            base = KnowledgeBase.load(ws.kb_dir(kb))

            def rag(q: str) -> list[dict]:
                return build_rag_messages(q, base.search(q, ws.cfg.kb.top_k), budget_tokens=ws.cfg.kb.context_tokens)
        pv = None
        if prompt:
            from ..feedback.prompts import resolve

            pv = resolve(ws, prompt)
        rep = run_eval(ws, target, tasks.split(",") if tasks else None, rag=rag, prompt=pv)
        t = Table("metric", "value", title=f"eval {rep.run_id}" + (f" · prompt {pv.name}:{pv.version}" if pv else ""))
        for k, v in rep.metrics.items():
            t.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
        console.print(t)
        for task, why in rep.skipped.items():
            console.print(f"[yellow]{task} skipped:[/yellow] {why}")
        console.print(f"report: {rep.html_path}")

    @ev.command("reward")
    @friendly_errors
    def reward(
        model: Annotated[str, typer.Option(help="reward model dir or registered name (train.stage=reward)")],
        pairs: Annotated[Path | None, typer.Option(help="held-out preference pairs (JSONL)")] = None,
        prompt: Annotated[str | None, typer.Option(help="rank --answer texts for this prompt instead")] = None,
        answer: Annotated[list[str] | None, typer.Option(help="an answer to rank (repeat)")] = None,
        workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None,
    ) -> None:
        """A reward model's pairwise accuracy on preference pairs, or its ranking of answers to a prompt."""
        from ..eval.reward import RewardScorer, pairwise_accuracy

        ws = open_workspace(workspace, config, set_)
        scorer = RewardScorer.load(ws.resolve_model(model))
        if prompt:
            t = Table("rank", "score", "answer", title=prompt)
            for i, (a, sc) in enumerate(scorer.rank(prompt, answer or []), 1):
                t.add_row(str(i), f"{sc:.3f}", a)
            console.print(t)
            return
        res = pairwise_accuracy(scorer, pairs or ws.root / "data" / "prefs" / "val.jsonl")
        console.print(f"pairwise accuracy {res['pairwise_accuracy']:.1%} on {int(res['pairs'])} pairs "
                      f"(mean margin {res['mean_margin']:.3f})")

    @ev.command("compare")
    @friendly_errors
    def compare_cmd(old: Path, new: Path, workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None,
                    set_: SetOpt = None) -> None:
        """Deltas with bootstrap CIs (paired over item ids when both reports share them); exits 1 when a gate
        in eval.gates is crossed beyond its tolerance with a CI on the worse side of zero."""
        from ..eval.compare import compare
        from ..eval.directions import direction

        ws = open_workspace(workspace, config, set_)
        c = compare(old, new, ws.cfg.eval.gates, ws.cfg.eval.bootstrap)
        t = Table("metric", "better", "old", "new", "delta", "95% CI")
        for k, (o, n, d, lo, hi) in c.deltas.items():
            ci = "" if lo != lo else f"[{lo:+.3f}, {hi:+.3f}] {c.methods.get(k, '')}"
            t.add_row(k, direction(k) or "?", f"{o:.4f}", f"{n:.4f}", f"{d:+.4f}", ci)
        console.print(t)
        if c.unknown:
            console.print(f"[yellow]no direction known (not gateable):[/yellow] {', '.join(c.unknown)}")
        if not c.passed:
            for f in c.failures:
                console.print(f"[red]gate failed:[/red] {f}")
            raise typer.Exit(1)
        console.print("[green]all gates passed[/green]")
