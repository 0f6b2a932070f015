"""`zaomo serve`, `zaomo chat`, `zaomo keys`, `zaomo audit search|purge`."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .common import ConfigOpt, SetOpt, WorkspaceOpt, console, friendly_errors, open_workspace


def register(app: typer.Typer) -> None:
    keys = typer.Typer(help="API keys (stored hashed).", no_args_is_help=True)
    audit = typer.Typer(help="The audit log of served requests.", no_args_is_help=True)
    app.add_typer(keys, name="keys")
    app.add_typer(audit, name="audit")

    @app.command()
    @friendly_errors
    def serve(
        host: Annotated[str | None, typer.Option(help="listen address")] = None,
        port: Annotated[int | None, typer.Option(help="listen port")] = None,
        model: Annotated[str | None, typer.Option(help="model dir or registered name")] = None,
        kb: Annotated[str | None, typer.Option(help="default knowledge base")] = None,
        workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None,
    ) -> None:
        """Serve the model: OpenAI-compatible API at /v1 and the web page at /."""
        extra = list(set_ or [])
        extra += [f"serve.host={host}"] if host else []
        extra += [f"serve.port={port}"] if port else []
        extra += [f"serve.model={model}"] if model else []
        extra += [f"serve.kb={kb}"] if kb else []
        ws = open_workspace(workspace, config, extra)
        from ..serve.app import run

        url = f"http://{ws.cfg.serve.host}:{ws.cfg.serve.port}"
        console.print(f"API: {url}/v1 · web page: {url}/ · metrics: {url}/metrics")
        run(ws)

    @app.command()
    @friendly_errors
    def chat(
        model: Annotated[str | None, typer.Option(help="model dir or registered name")] = None,
        kb: Annotated[str | None, typer.Option(help="answer from this knowledge base")] = None,
        max_tokens: Annotated[int, typer.Option(help="tokens per answer")] = 128,
        workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None,
    ) -> None:
        """Chat with a model in the terminal (streaming); /reset clears the history, /exit quits."""
        from ..serve.engines import Done, GenParams
        from ..serve.models import local_engine

        ws = open_workspace(workspace, config, set_)
        path = ws.resolve_model(model or ws.cfg.serve.model)
        engine = local_engine(ws, path, path.name)
        kbase = None
        if kb:
            from ..kb import KnowledgeBase

            kbase = KnowledgeBase.load(ws.kb_dir(kb))
        history: list[dict] = []
        console.print(f"[bold]zaomo chat[/bold] — {engine.name} (/reset, /exit)")
        while True:
            try:
                q = console.input("[cyan]you>[/cyan] ").strip()
            except (EOFError, KeyboardInterrupt):
                break
            if q in ("/exit", "/quit"):
                break
            if q == "/reset":
                history = []
                continue
            if not q:
                continue
            msgs = history + [{"role": "user", "content": q}]
            if kbase is not None:
                from ..kb.prompt import build_rag_messages

                msgs = history + build_rag_messages(q, kbase.search(q, ws.cfg.kb.top_k), engine.tok,
                                                    ws.cfg.kb.context_tokens)
            answer = ""
            console.print("[green]model>[/green] ", end="")
            for d in engine.stream(msgs, GenParams(max_tokens=max_tokens)):
                if isinstance(d, Done):
                    break
                answer += d
                console.print(d, end="", markup=False, highlight=False)
            console.print()
            history += [{"role": "user", "content": q}, {"role": "assistant", "content": answer}]

    @keys.command("create")
    def keys_create(name: str, workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None) -> None:
        """Create an API key; it is shown once and stored hashed."""
        from ..records import ApiKey
        from ..serve.app import hash_key

        ws = open_workspace(workspace, config, set_)
        key = "zk-" + secrets.token_urlsafe(24)
        with ws.registry.session.begin() as s:
            s.add(ApiKey(name=name, prefix=key[:8], hash=hash_key(key)))
        console.print(f"key for {name} (shown once): [bold]{key}[/bold]")

    @keys.command("list")
    def keys_list(workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None) -> None:
        from sqlalchemy import select

        from ..records import ApiKey

        ws = open_workspace(workspace, config, set_)
        t = Table("id", "name", "prefix", "revoked", "created")
        with ws.registry.session() as s:
            for k in s.scalars(select(ApiKey)):
                t.add_row(str(k.id), k.name, k.prefix + "…", str(k.revoked), str(k.created_at)[:19])
        console.print(t)

    @keys.command("revoke")
    def keys_revoke(key_id: int, workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None) -> None:
        from ..records import ApiKey

        ws = open_workspace(workspace, config, set_)
        with ws.registry.session.begin() as s:
            k = s.get(ApiKey, key_id)
            if k is None:
                console.print(f"[red]no key with id {key_id}[/red]")
                raise typer.Exit(2)
            k.revoked = True
        console.print(f"revoked key {key_id}")

    @audit.command("search")
    def audit_search(
        text: Annotated[str | None, typer.Option(help="text in the request or response")] = None,
        limit: Annotated[int, typer.Option(help="rows")] = 20,
        workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None,
    ) -> None:
        """Search audited requests, newest first."""
        from sqlalchemy import String, cast, or_, select

        from ..records import AuditRecord

        ws = open_workspace(workspace, config, set_)
        q = select(AuditRecord).order_by(AuditRecord.created_at.desc()).limit(limit)
        if text:
            q = q.where(or_(AuditRecord.response.contains(text), cast(AuditRecord.request, String).contains(text)))
        t = Table("id", "time", "status", "guard", "prompt", "latency ms", "response")
        with ws.registry.session() as s:
            for r in s.scalars(q):
                t.add_row(r.id, str(r.created_at)[:19], str(r.status), ",".join(
                    f"{k}:{v.get('action')}" for k, v in (r.guard or {}).items()),
                    f"{r.prompt_name}:{r.prompt_version}" if r.prompt_name else "", f"{r.latency_ms or 0:.0f}",
                    (r.response or "")[:60])
        console.print(t)

    @audit.command("purge")
    def audit_purge(
        older_than_days: Annotated[float | None, typer.Option(help="delete rows older than this many days "
                                                                   "(default: serve.audit_retention_days)")] = None,
        workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None,
    ) -> None:
        """Delete old audit rows now (the server also does it at startup and hourly when a retention is set)."""
        from ..serve.audit import purge_audit

        ws = open_workspace(workspace, config, set_)
        days = older_than_days if older_than_days is not None else ws.cfg.serve.audit_retention_days
        if not days or days <= 0:
            console.print("[red]no retention: pass --older-than-days N (N > 0) or set serve.audit_retention_days"
                          "[/red]")
            raise typer.Exit(2)
        n = purge_audit(ws.registry, days)
        console.print(f"deleted {n} audit rows older than {days:g} days")
