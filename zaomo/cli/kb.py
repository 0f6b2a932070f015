"""`zaomo kb build|add|remove|list|query|eval`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .common import ConfigOpt, SetOpt, WorkspaceOpt, console, friendly_errors, open_workspace

NameOpt = Annotated[str | None, typer.Option("--name", "-n", help="knowledge base name (kb.name)")]


def register(app: typer.Typer) -> None:
    kb = typer.Typer(help="知识库: a knowledge base with BM25 retrieval and cited answers.", no_args_is_help=True)
    app.add_typer(kb, name="kb")

    def _load(ws, name):
        from ..kb import KnowledgeBase

        return KnowledgeBase.load(ws.kb_dir(name))

    @kb.command("build")
    @friendly_errors
    def build(name: NameOpt = None, workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None,
              set_: SetOpt = None) -> None:
        """Index kb.sources from scratch."""
        from ..kb import build_kb

        ws = open_workspace(workspace, config, set_)
        k = build_kb(ws, name)
        console.print(f"{len(k.documents())} documents, {len(k.chunks)} chunks → {k.path}")
        for p in getattr(k, "problems", []):
            console.print(f"[yellow]skipped[/yellow] {p}")

    @kb.command("add")
    @friendly_errors
    def add(paths: list[Path], name: NameOpt = None, workspace: WorkspaceOpt = Path("."),
            config: ConfigOpt = None, set_: SetOpt = None) -> None:
        """Add or update documents (by path)."""
        from ..safety import Guard

        ws = open_workspace(workspace, config, set_)
        k = _load(ws, name)
        added = k.add(paths, guard=Guard(ws.cfg.safety, ws.root))
        console.print(f"added {len(added)} documents ({sum(added.values())} chunks)")
        for p in getattr(k, "problems", []):
            console.print(f"[yellow]skipped[/yellow] {p}")

    @kb.command("remove")
    @friendly_errors
    def remove(doc_id: str, name: NameOpt = None, workspace: WorkspaceOpt = Path("."),
               config: ConfigOpt = None, set_: SetOpt = None) -> None:
        ws = open_workspace(workspace, config, set_)
        try:
            n = _load(ws, name).remove(doc_id)
        except KeyError as e:
            console.print(f"[red]{e.args[0]}[/red]")
            raise typer.Exit(2) from None
        console.print(f"removed {doc_id} ({n} chunks)")

    @kb.command("list")
    @friendly_errors
    def list_(name: NameOpt = None, workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None) -> None:
        ws = open_workspace(workspace, config, set_)
        k = _load(ws, name)
        for d in k.documents():
            console.print(d)

    @kb.command("query")
    @friendly_errors
    def query(text: str, k: Annotated[int, typer.Option(help="hits")] = 3, name: NameOpt = None,
              workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None) -> None:
        ws = open_workspace(workspace, config, set_)
        hits = _load(ws, name).search(text, k)
        if not hits:
            console.print("the knowledge base has nothing on this")
        for i, h in enumerate(hits, 1):
            console.print(f"[{i}] {h.source} ({h.score:.2f}) {h.text[:200]}", markup=False)

    @kb.command("eval")
    @friendly_errors
    def evaluate(k: Annotated[int, typer.Option(help="cut-off")] = 5, name: NameOpt = None,
                 workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None) -> None:
        """recall@k, MRR and nDCG@k from the gold doc_ids of eval.qa_file."""
        from ..kb.evaluate import retrieval_metrics
        from ..utils.io import read_jsonl

        ws = open_workspace(workspace, config, set_)
        m = retrieval_metrics(_load(ws, name), read_jsonl(ws.path(ws.cfg.eval.qa_file)), k)
        t = Table("metric", "value")
        for key, v in m.items():
            t.add_row(key, f"{v:.4f}" if isinstance(v, float) else str(v))
        console.print(t)
