"""`zaomo` — the entry point. Each stage registers its commands from its own module."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import __version__
from ..workspace import Workspace
from .common import ConfigOpt, SetOpt, WorkspaceOpt, console, open_workspace

app = typer.Typer(
    name="zaomo",
    help="造模 zaomo — make your own LLM: plan → data → tokenizer/model → train → eval → kb → serve → feedback.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def version() -> None:
    """Print zaomo's version."""
    console.print(f"zaomo {__version__}")


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="workspace folder to create")] = Path("."),
    force: Annotated[bool, typer.Option(help="overwrite an existing zaomo.yaml")] = False,
) -> None:
    """Create a workspace with a commented zaomo.yaml and the standard folders."""
    ws = Workspace.init(directory, force=force)
    console.print(f"workspace ready: {ws.root}\nconfig: {ws.config_path} (every key documented)")


@app.command()
def runs(workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None) -> None:
    """List the runs recorded in the workspace."""
    from rich.table import Table

    ws = open_workspace(workspace, config, set_)
    t = Table("id", "kind", "stage", "method", "status", "seed", "summary")
    for r in ws.registry.runs():
        summary = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in
                            list((r.summary or {}).items())[:4])
        t.add_row(r.id, r.kind, r.stage or "", r.method or "", r.status, str(r.seed or ""), summary)
    console.print(t)


def _register_stages() -> None:
    import importlib

    for name in ("plan", "data", "train", "eval", "kb", "serve", "feedback", "quickstart"):
        try:
            mod = importlib.import_module(f"zaomo.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"zaomo.cli.{name}":
                continue
            raise
        mod.register(app)


_register_stages()

if __name__ == "__main__":
    app()
