"""`zaomo prompts`: the versioned prompt library (add, list, show, diff, eval, promote, rollback)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .common import ConfigOpt, SetOpt, WorkspaceOpt, console, friendly_errors, open_workspace


def register(app: typer.Typer) -> None:
    pr = typer.Typer(help="提示词: versioned system prompts — add, evaluate, promote, roll back.",
                     no_args_is_help=True)
    app.add_typer(pr, name="prompts")

    @pr.command("add")
    @friendly_errors
    def add(
        name: str,
        file: Annotated[Path | None, typer.Option("--file", "-f", help="read the system prompt from this file")] = None,
        text: Annotated[str | None, typer.Option("--text", "-t", help="the system prompt")] = None,
        template: Annotated[str | None, typer.Option(help="user-turn template with {input}, e.g. '简洁回答：{input}'")] = None,
        model: Annotated[str | None, typer.Option(help="the served model name it belongs to (default: any)")] = None,
        note: Annotated[str | None, typer.Option(help="why this version")] = None,
        workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None,
    ) -> None:
        """Register the next version of NAME as a candidate; `zaomo prompts promote NAME:VER` serves it."""
        from ..feedback.prompts import add_prompt, read_text

        body = read_text(file, text) if (file is not None or text is not None or template is None) else None
        pv = add_prompt(open_workspace(workspace, config, set_), name, body, template, model, note)
        console.print(f"added {pv.name}:{pv.version} (candidate); serve it with: zaomo prompts promote "
                      f"{pv.name}:{pv.version}")

    @pr.command("list")
    @friendly_errors
    def list_cmd(name: Annotated[str | None, typer.Argument(help="only this prompt")] = None,
                 workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None) -> None:
        """Prompt versions with status, model, parent and evaluation."""
        ws = open_workspace(workspace, config, set_)
        rows = ws.registry.prompts(name)
        by_id = {p.id: p for p in rows}
        t = Table("name", "version", "status", "model", "parent", "eval", "note", "created")
        for p in rows:
            parent = by_id.get(p.parent_id) if p.parent_id else None
            ev = ", ".join(f"{k}={v:.3f}" for k, v in list((p.eval or {}).get("metrics", {}).items())[:3])
            t.add_row(p.name, str(p.version), p.status, p.model or "(any)", f"{parent.version}" if parent else "",
                      ev, (p.note or "")[:40], str(p.created_at)[:19])
        console.print(t)

    @pr.command("show")
    @friendly_errors
    def show(ref: str, as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
             workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None) -> None:
        """One version (NAME for the promoted one, else the newest; NAME:VER for that one)."""
        from ..feedback.prompts import describe, resolve

        d = describe(resolve(open_workspace(workspace, config, set_), ref))
        if as_json:
            console.print_json(json.dumps(d, ensure_ascii=False))
            return
        console.print(f"{d['name']}:{d['version']} {d['status']} model={d['model'] or '(any)'} "
                      f"created={d['created_at']}" + (f" note={d['note']}" if d["note"] else ""), markup=False)
        console.print(d["text"] or "(no system text)", markup=False)
        if d["template"]:
            console.print(f"template: {d['template']}", markup=False)
        if d["eval"]:
            console.print(f"eval: {json.dumps(d['eval'], ensure_ascii=False)}", markup=False)

    @pr.command("diff")
    @friendly_errors
    def diff_cmd(a: str, b: str, workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None,
                 set_: SetOpt = None) -> None:
        """Unified diff of two versions (NAME:A NAME:B)."""
        from ..feedback.prompts import diff

        console.print(diff(open_workspace(workspace, config, set_), a, b) or "(no difference)", markup=False)

    @pr.command("eval")
    @friendly_errors
    def eval_cmd(
        ref: str,
        model: Annotated[str | None, typer.Option(help="model dir/name or endpoint (default: the prompt's model, "
                                                 "else serve.model)")] = None,
        tasks: Annotated[str | None, typer.Option(help="comma-separated generation tasks: qa,judge,safety")] = None,
        workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None,
    ) -> None:
        """Evaluate a model × prompt pair and store the summary on the prompt version."""
        from ..feedback.prompts import eval_prompt

        r = eval_prompt(open_workspace(workspace, config, set_), ref, model, tasks.split(",") if tasks else None)
        t = Table("metric", "value", title=f"{r.prompt.name}:{r.prompt.version} × {r.report.model}")
        for k, v in r.report.metrics.items():
            t.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
        console.print(t)
        console.print(f"report: {r.report.html_path}")

    @pr.command("promote")
    @friendly_errors
    def promote_cmd(ref: str, workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None,
                    set_: SetOpt = None) -> None:
        """Serve NAME:VER from the next request on (running servers included)."""
        from ..feedback.prompts import promote

        pv = promote(open_workspace(workspace, config, set_), ref)
        console.print(f"promoted {pv.name}:{pv.version} (model: {pv.model or 'any'})")

    @pr.command("rollback")
    @friendly_errors
    def rollback_cmd(name: str, workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None,
                     set_: SetOpt = None) -> None:
        """Serve again the version that was served before the current one."""
        from ..feedback.prompts import rollback

        pv = rollback(open_workspace(workspace, config, set_), name)
        console.print(f"rolled back: {pv.name}:{pv.version} is served again")
