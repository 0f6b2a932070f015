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
    docs: Annotated[Path | None, typer.Option(help="your documents (a folder or file): written into the new "
                                                   "zaomo.yaml as data.inputs and kb.sources")] = None,
) -> None:
    """Create a workspace with a commented zaomo.yaml and the standard folders; then `zaomo run`."""
    from ..config import ZaomoConfig

    cfg = ZaomoConfig()
    if docs is not None:
        if not docs.exists():
            console.print(f"[red]--docs {docs}: no such file or folder[/red]")
            raise typer.Exit(2)
        if (Path(directory) / "zaomo.yaml").exists() and not force:
            console.print(f"[red]{directory}/zaomo.yaml exists: --docs only writes a new one (add --force to "
                          "overwrite it, or edit data.inputs and kb.sources)[/red]")
            raise typer.Exit(2)
        src = str(docs.resolve())
        cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"inputs": [src]}),
                                     "kb": cfg.kb.model_copy(update={"sources": [src]})})
    ws = Workspace.init(directory, cfg, force=force)
    where = f"documents: {docs.resolve()}" if docs is not None else f"put your documents in {ws.raw_dir}"
    console.print(f"workspace ready: {ws.root}\nconfig: {ws.config_path} (every key documented)\n"
                  f"{where}; then: zaomo run -w {ws.root}")


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

    for name in ("plan", "data", "train", "eval", "safety", "kb", "kg", "serve", "feedback", "prompts", "quickstart",
                 "run"):
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
