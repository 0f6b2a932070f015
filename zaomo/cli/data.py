"""`zaomo data run|crawl|report|convert`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from .common import ConfigOpt, SetOpt, WorkspaceOpt, console, friendly_errors, open_workspace


def register(app: typer.Typer) -> None:
    data = typer.Typer(help="数据准备: clean, deduplicate, decontaminate and split.", no_args_is_help=True)
    app.add_typer(data, name="data")

    @data.command("run")
    @friendly_errors
    def run(workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None) -> None:
        """Read data.inputs, clean them, write splits, report and quarantine."""
        from ..data import run_pipeline

        ws = open_workspace(workspace, config, set_)
        r = run_pipeline(ws)
        t = Table("", "records", title="zaomo data run")
        for k in ("read", "kept", "train", "val", "test", "quarantined", "deduplicated"):
            t.add_row(k, str(getattr(r, k)))
        for k, v in sorted(r.dropped.items(), key=lambda x: -x[1]):
            t.add_row(f"  dropped: {k}", str(v))
        for k, v in r.masked.items():
            t.add_row(f"  PII masked: {k}", str(v))
        console.print(t)
        console.print(f"report: {r.paths['report_html']}\nquarantine: {r.paths['quarantine']}")

    @data.command("crawl")
    @friendly_errors
    def crawl(urls: list[str] = typer.Argument(None, help="start URLs (added to data.crawl.seeds)"),
              workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None) -> None:
        """Crawl politely (robots.txt, per-host delay, same site, depth limit) into WARC; resumable."""
        from ..data.crawl import FRONTIER, Crawler

        ws = open_workspace(workspace, config, set_)
        cfg = ws.cfg.data.crawl
        seeds = list(dict.fromkeys([*cfg.seeds, *(urls or [])]))
        if not seeds:
            raise typer.BadParameter("give a start URL, or set data.crawl.seeds", param_hint="URLS")
        out = ws.path(cfg.output)
        rep = Crawler(cfg, out, log=lambda m: console.print(f"[yellow]{m}[/yellow]")).run(seeds)
        t = Table("", "URLs", title="zaomo data crawl")
        for k in ("fetched", "duplicates", "robots_blocked", "off_site", "errors", "queued"):
            t.add_row(k, str(getattr(rep, k)))
        console.print(t)
        console.print(f"WARC: {', '.join(rep.warc) or '—'}\nfrontier: {out / FRONTIER} "
                      f"(run again to resume)")

    @data.command("report")
    def report(workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None) -> None:
        """Print the path of the last data report."""
        ws = open_workspace(workspace, config, set_)
        p = ws.clean_dir / "report.html"
        if not p.exists():
            console.print("[red]no report yet: run `zaomo data run`[/red]")
            raise typer.Exit(2)
        console.print(str(p))

    @data.command("convert")
    @friendly_errors
    def convert(src: Path, dst: Path) -> None:
        """Convert chat data (Alpaca / ShareGPT / OpenAI messages JSONL) to zaomo's messages JSONL."""
        from ..data.formats import to_messages
        from ..utils.io import InputError, iter_jsonl, write_jsonl

        out = []
        for n, rec in enumerate(iter_jsonl(src), 1):
            try:
                out.append({**to_messages(rec), "id": rec.get("id", f"{src.stem}-{n}")})
            except ValueError as e:
                raise InputError(src, n, str(e)) from None
        console.print(f"wrote {write_jsonl(dst, out)} records to {dst}")


