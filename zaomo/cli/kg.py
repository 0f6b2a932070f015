"""`zaomo kg import|show|stats`: knowledge-graph triples → KB documents, SFT pairs and held-out QA."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from .common import ConfigOpt, SetOpt, WorkspaceOpt, console, friendly_errors, open_workspace


def register(app: typer.Typer) -> None:
    kg = typer.Typer(help="知识图谱: import triples (CSV/TSV, JSONL, N-Triples, Turtle) into the KB and SFT data.",
                     no_args_is_help=True)
    app.add_typer(kg, name="kg")

    @kg.command("import")
    @friendly_errors
    def import_(files: Annotated[list[Path], typer.Argument(help="triple files (.csv .tsv .jsonl .nt .ttl)")],
                kb: Annotated[bool, typer.Option(help="update the knowledge base (kg.kb)")] = True,
                workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None) -> None:
        """Import triples; prints the diff against the stored graph and what was regenerated."""
        from ..data.kg.importer import import_graph

        ws = open_workspace(workspace, config, set_)
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("reading triples", total=len(files))

            def on_file(path: Path, n: int) -> None:
                bar.update(task, advance=1, description=f"{path.name}: {n} triples")

            res = import_graph(ws, files, on_file)
            d = res.diff.counts
            console.print(f"graph: {res.triples} triples, {res.entities} entities — added {d['added']}, "
                          f"changed {d['changed']}, removed {d['removed']}")
            console.print(f"documents: {len(res.upsert)} written, {len(res.removed_docs)} removed → {res.paths['docs']}")
            if kb and ws.cfg.kg.kb and (res.upsert or res.removed_docs):
                from ..kb import update_kb

                bar.update(task, description="updating the knowledge base")
                done = update_kb(ws, res.upsert, res.removed_docs)
                console.print(f"knowledge base {ws.kb_dir()}: {done['chunks_added']} chunks re-indexed, "
                              f"{done['chunks_dropped']} dropped ({done['chunks']} in all)")
        c = res.counts
        console.print(f"SFT pairs: {c['sft']} ({c['facts']} facts, {c['multi_hop']} two-edge, "
                      f"{c['not_in_graph']} not-in-graph) → {res.paths['sft']}")
        console.print(f"held-out QA: {c['heldout']} → {res.paths['qa']}")
        for b in res.quarantined[:10]:
            console.print(f"[yellow]quarantined[/yellow] {b.source}:{b.line or '?'}: {b.reason}", markup=True)
        if res.quarantined:
            console.print(f"[yellow]{len(res.quarantined)} bad row(s)[/yellow] → {res.paths['quarantine']}")

    @kg.command("stats")
    @friendly_errors
    def stats(workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None) -> None:
        """Entities, triples and predicates of the stored graph."""
        from ..data.kg.importer import load_graph

        g = load_graph(open_workspace(workspace, config, set_))
        t = Table("predicate", "triples")
        for p in sorted({x.predicate for x in g.triples}):
            t.add_row(p, str(sum(x.predicate == p for x in g.triples)))
        console.print(f"{len(g.entities())} entities, {len(g.triples)} triples")
        console.print(t)

    @kg.command("show")
    @friendly_errors
    def show(entity: Annotated[str, typer.Argument(help="entity id or name (any language)")],
             workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None) -> None:
        """An entity's document as the knowledge base holds it."""
        from ..data.kg.documents import render
        from ..data.kg.importer import load_graph
        from ..data.kg.phrasing import Phrasing

        ws = open_workspace(workspace, config, set_)
        g = load_graph(ws)
        found = next((e for e in g.entities() if entity in (e, g.name(e, "zh"), g.name(e, "en"))), None)
        if found is None:
            console.print(f"[red]no entity {entity!r} in the graph; see `zaomo kg stats`[/red]")
            raise typer.Exit(2)
        console.print(render(g, found, Phrasing(ws.cfg.kg)), markup=False)
