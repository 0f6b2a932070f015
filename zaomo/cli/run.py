"""`zaomo run`: the recipe in zaomo.yaml, in order, skipping what is up to date, ending with the report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .common import ConfigOpt, SetOpt, WorkspaceOpt, console, friendly_errors, open_workspace

MARK = {"ran": "[green]ran[/green]", "up to date": "[dim]up to date[/dim]", "would run": "[yellow]would run[/yellow]",
        "may run": "[yellow]may run[/yellow]"}


def register(app: typer.Typer) -> None:
    @app.command("run")
    @friendly_errors
    def run_cmd(
        force: Annotated[str | None, typer.Option(help="rerun this stage (its name or kind) and every stage "
                                                       "after it")] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="print what would run and why; run nothing")] = False,
        workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None,
    ) -> None:
        """Run the recipe (`pipeline:` in zaomo.yaml) — data, tokenizer, pretrain, kb, sft, dpo, eval — skipping
        stages whose config and inputs are unchanged; ends with a report on your data (docs/run.md)."""
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from ..recipe import run_recipe

        ws = open_workspace(workspace, config, set_)
        if dry_run:
            res = run_recipe(ws, force, dry_run=True, progress=False, log=console.print)
        else:
            n = len(ws.cfg.pipeline)
            with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                          TextColumn("{task.completed}/{task.total} stages"), TimeElapsedColumn(),
                          console=console) as bar:
                task = bar.add_task("recipe", total=n)

                def on_stage(i: int, step, status: str) -> None:
                    done = i + (1 if status in ("done", "up to date") else 0)
                    bar.update(task, description=f"{step.label}: {status}", completed=done)

                res = run_recipe(ws, force, progress=True, log=bar.console.print, on_stage=on_stage)
        t = Table("stage", "", "why", "time", title="zaomo run" + (" --dry-run" if dry_run else ""))
        for o in res.outcomes:
            t.add_row(o.label, MARK.get(o.status, o.status), o.reason,
                      f"{o.seconds:.1f} s" if o.status == "ran" else "")
        console.print(t)
        if dry_run:
            return
        from ..recipe.report import table_rows

        r = Table("", "measured", title="report on your data")
        for k, v in table_rows(res.outcomes, res.seconds, res.serve_command):
            r.add_row(k, v)
        console.print(r)
        console.print(f"report: {res.report_html}")
        if res.serve_command:
            console.print(f"serve the result and its web page: [bold]{res.serve_command}[/bold]")
