"""The models one server answers for, by the name a request's `model` gives."""

from __future__ import annotations

import os
from typing import Any

from ..workspace import Workspace
from .engines import BuiltinEngine, RemoteEngine


def make_engine(ws: Workspace) -> Any:
    """The engine `serve.engine` names, for `serve.model`."""
    cfg = ws.cfg.serve
    if cfg.engine == "remote":
        from .vllm import local_tokenizer

        try:
            tok = local_tokenizer(str(ws.resolve_model(cfg.model))) if cfg.model else None
        except FileNotFoundError:  # a provider's model name, not a local one
            tok = None
        return RemoteEngine(cfg.remote_url or "", cfg.model or "default", os.environ.get(cfg.remote_api_key_env), tok)
    if cfg.engine == "vllm":
        from .vllm import VLLMEngine

        return VLLMEngine.from_config(ws)
    ref = cfg.model or ws.cfg.project.name
    return BuiltinEngine(ws.resolve_model(ref), device=ws.cfg.project.device, name=ref,
                         dtype=ws.cfg.model.dtype, max_batch_size=cfg.max_batch_size, batch_wait_ms=cfg.batch_wait_ms)


def make_engines(ws: Workspace, engine: Any = None) -> dict[str, Any]:
    """name → engine, the default first."""
    engine = engine if engine is not None else make_engine(ws)
    return {engine.name: engine}
