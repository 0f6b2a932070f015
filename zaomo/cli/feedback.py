"""`zaomo feedback export`."""

from __future__ import annotations

from pathlib import Path

import typer

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
