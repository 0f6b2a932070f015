"""Options every command shares (`--workspace`, `--config`, `--set`) and error reporting."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from ..config import ConfigError
from ..workspace import Workspace

console = Console()
err_console = Console(stderr=True)

WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="workspace folder (holds zaomo.yaml)")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="config file (default: WORKSPACE/zaomo.yaml)")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", "-s", help="override a key: --set train.lr=3e-4")]


def open_workspace(workspace: Path, config: Path | None, overrides: list[str] | None) -> Workspace:
    """Open the workspace; a bad config stops here, before any work, with the key named."""
    try:
        return Workspace.open(workspace, config, overrides)
    except (ConfigError, FileNotFoundError) as e:
        err_console.print(f"[red]{e}[/red]")
        raise typer.Exit(2) from None


def friendly_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn expected user errors into one red line and exit code 2 instead of a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ValueError, FileNotFoundError, ImportError) as e:  # ConfigError, InputError are ValueErrors
            err_console.print(f"[red]error:[/red] {e}")
            raise typer.Exit(2) from None

    return wrapper
