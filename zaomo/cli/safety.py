"""`zaomo safety train` and `zaomo safety check`: the guard's classifier, and what every layer says of a text."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .common import ConfigOpt, SetOpt, WorkspaceOpt, console, friendly_errors, open_workspace


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def register(app: typer.Typer) -> None:
    sf = typer.Typer(help="安全: train the guard's safety classifier; check a text against every guard layer.",
                     no_args_is_help=True)
    app.add_typer(sf, name="safety")

    @sf.command("train")
    @friendly_errors
    def train(
        out: Annotated[Path | None, typer.Option(help="where to save (default: safety.classifier.path)")] = None,
        workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None,
    ) -> None:
        """Train the safety classifier on the built-in policy set's train split plus safety.classifier.train_files,
        save it, and print block/pass rates on the held-out prompts (split=test)."""
        import time

        from ..safety import Guard
        from ..safety.classifier import SafetyClassifier, training_data
        from ..safety.evaluate import layer_quality

        ws = open_workspace(workspace, config, set_)
        cfg = ws.cfg.safety.classifier
        data = training_data(cfg, ws.root)
        t0 = time.perf_counter()
        clf = SafetyClassifier.train(data.train, meta={"sources": data.sources})
        secs = time.perf_counter() - t0
        path = clf.save(ws.path(out or cfg.path))
        labels = ", ".join(f"{k} {v}" for k, v in sorted(clf.meta["labels"].items()))
        console.print(f"trained on {len(data.train)} prompts ({labels}) in {secs:.1f} s → {path}")
        if not data.test:
            console.print("[yellow]no held-out prompts (split=test) to measure on[/yellow]")
            return
        guard = Guard(ws.cfg.safety, ws.root, classifier=clf)
        runs = layer_quality(guard, data.test)
        t = Table("held-out prompts", *(r.name for r in runs), title=f"{len(data.test)} held-out prompts "
                  f"(threshold {cfg.threshold:g}" + (f", per category {cfg.thresholds}" if cfg.thresholds else "") + ")")
        first = runs[0].rates
        t.add_row(f"harmful blocked (n={first.n_harmful})", *(_pct(r.rates.block) for r in runs))
        t.add_row(f"benign passed (n={first.n_benign})", *(_pct(r.rates.pass_) for r in runs))
        for lang in first.by_lang:
            t.add_row(f"  {lang}: blocked / passed", *(f"{_pct(r.rates.by_lang[lang]['block'])} / "
                                                       f"{_pct(r.rates.by_lang[lang]['pass'])}" for r in runs))
        for cat, d in sorted(first.by_category.items()):
            for kind in ("block", "pass"):
                if kind in d:
                    t.add_row(f"  {cat}: {'blocked' if kind == 'block' else 'passed'}",
                              *(_pct(r.rates.by_category[cat][kind]) for r in runs))
        t.add_row("latency p50 / p95 (ms)", *(f"{r.latency(50):.2f} / {r.latency(95):.2f}" for r in runs))
        console.print(t)

    @sf.command("check")
    @friendly_errors
    def check(
        text: Annotated[str, typer.Argument(help="the text to check")],
        where: Annotated[str, typer.Option(help="input (a prompt), output (an answer) or data (cleaning)")] = "input",
        workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None,
    ) -> None:
        """Run every guard layer on a text (even after one refuses) and print each verdict with its scores."""
        import json

        from ..safety import Guard

        if where not in ("input", "output", "data"):
            raise ValueError(f"--where must be input, output or data; got {where!r}")
        ws = open_workspace(workspace, config, set_)
        g = Guard(ws.cfg.safety, ws.root).check(text, where=where, every_layer=True)
        t = Table("layer", "verdict", "details", title=f"guard ({where})")
        for name, layer in g.layers.items():
            details = {k: v for k, v in layer.items() if k not in ("verdict", "flagged")}
            t.add_row(name, layer.get("verdict", ""), json.dumps(details, ensure_ascii=False))
        pii = [f"{f.category}: {f.match}" for f in g.findings if f.kind == "pii"]
        if pii:
            t.add_row("pii", "mask", ", ".join(pii))
        console.print(t)
        console.print(f"action: [bold]{g.action}[/bold]" + (f" — {g.reason}" if g.reason else ""))
        if g.text != text:
            console.print(f"text: {g.text}")
        if not g.allowed:
            console.print(f"answer: {g.refusal(ws.cfg.safety, text)}")
