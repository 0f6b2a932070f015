"""`zaomo feedback export`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .common import ConfigOpt, SetOpt, WorkspaceOpt, console, friendly_errors, open_workspace


def register(app: typer.Typer) -> None:
    fb = typer.Typer(help="反馈: turn ratings and corrections into training data.", no_args_is_help=True)
    app.add_typer(fb, name="feedback")

    @fb.command("export")
    @friendly_errors
    def export(workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None) -> None:
        """New feedback → data/feedback/sft.jsonl and dpo.jsonl (cleaned, decontaminated)."""
        from ..feedback.export import export_feedback

        ws = open_workspace(workspace, config, set_)
        r = export_feedback(ws)
        console.print(f"{r.counts}\nSFT: {r.sft_path}\nDPO: {r.dpo_path}\nrejected: {r.quarantine_path}")

    models = typer.Typer(help="Model versions: list, promote, roll back.", invoke_without_command=True)
    app.add_typer(models, name="models")

    @models.callback()
    def list_models(ctx: typer.Context, workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None,
                    set_: SetOpt = None) -> None:
        """List model versions with status and lineage (parent, run)."""
        if ctx.invoked_subcommand:
            return
        ws = open_workspace(workspace, config, set_)
        t = Table("name", "version", "status", "path", "parent", "run", "created")
        by_id = {m.id: m for m in ws.registry.models()}
        for m in by_id.values():
            parent = by_id.get(m.parent_id) if m.parent_id else None
            t.add_row(m.name, str(m.version), m.status, m.path, f"{parent.name}:{parent.version}" if parent else "",
                      m.run_id or "", str(m.created_at)[:19])
        console.print(t)

    @models.command("promote")
    @friendly_errors
    def promote_cmd(ref: str, workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None) -> None:
        """Serve NAME:VERSION from now on (a running server picks it up)."""
        from ..feedback.iterate import promote

        mv = promote(open_workspace(workspace, config, set_), ref)
        console.print(f"promoted {mv.name}:{mv.version} ({mv.path})")

    @models.command("rollback")
    @friendly_errors
    def rollback_cmd(name: str, workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None) -> None:
        """Serve the version that was served before the current one."""
        from ..feedback.iterate import rollback

        mv = rollback(open_workspace(workspace, config, set_), name)
        console.print(f"rolled back: {mv.name}:{mv.version} is served again")

    @app.command()
    @friendly_errors
    def iterate(
        name: Annotated[str | None, typer.Option(help="model name (default: serve.model)")] = None,
        method: Annotated[str | None, typer.Option(help="sft | lora | dpo | orpo | simpo | kto (default feedback.method)")] = None,
        steps: Annotated[int | None, typer.Option(help="optimizer steps (default feedback.steps)")] = None,
        lr: Annotated[float | None, typer.Option(help="learning rate (default feedback.lr)")] = None,
        data: Annotated[list[Path] | None, typer.Option("--data", help="more SFT files to train with the feedback "
                                                        "(default feedback.extra_data), e.g. data/sft/kg.jsonl")] = None,
        workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None,
    ) -> None:
        """Feedback → train a candidate → evaluate against the current version → promote only if the gate passes."""
        from ..feedback.iterate import iterate as run_iterate

        ws = open_workspace(workspace, config, set_)
        r = run_iterate(ws, name, method, steps, lr, data=[str(p) for p in data] if data else None)
        t = Table("metric", "current", "candidate", "delta")
        for k, (o, n, d, _lo, _hi) in r.comparison.deltas.items():
            t.add_row(k, f"{o:.4f}", f"{n:.4f}", f"{d:+.4f}")
        console.print(t)
        c = r.candidate
        if r.promoted:
            console.print(f"[green]promoted[/green] {c['name']}:{c['version']} (from {r.current['version']})")
        else:
            console.print(f"[red]not promoted[/red] {c['name']}:{c['version']}: " + "; ".join(r.comparison.failures))
            raise typer.Exit(1)
