"""`zaomo quickstart` — the whole loop on the embedded demo, on this machine, with nothing to download."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .common import SetOpt, console, friendly_errors


def register(app: typer.Typer) -> None:
    @app.command()
    @friendly_errors
    def quickstart(
        directory: Annotated[Path, typer.Argument(help="workspace folder to create")] = Path("quickstart-ws"),
        seed: Annotated[int, typer.Option(help="demo corpus and training seed")] = 0,
        threads: Annotated[int | None, typer.Option(help="torch threads (default: torch's, i.e. the cores); "
                                                    "the same count gives the same table")] = None,
        set_: SetOpt = None,
    ) -> None:
        """Write the demo corpus, then clean → tokenizer → pretrain → KB → SFT → eval; print one table."""
        from ..demo.loop import run_quickstart, table_rows

        res = run_quickstart(directory, seed=seed, log=console.print, overrides=set_, threads=threads)
        t = Table("", "measured", title="zaomo quickstart")
        for k, v in table_rows(res):
            t.add_row(k, v)
        console.print(t)
        console.print(f"report: {res.report_html}")
        console.print(f"serve the model and its web page: [bold]{res.serve_command}[/bold]")
