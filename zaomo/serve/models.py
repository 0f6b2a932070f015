"""The models one server answers for, by the name a request's `model` gives: `serve.model` (the default) and
`serve.models` — registered names, model dirs, or LoRA adapter dirs, each optionally `name=ref`. On the built-in
engine an adapter is loaded into its base's model (peft multi-adapter, base weights once) and decoded by the
base's batcher in batches of its own; on vLLM adapters become `--lora-modules`; on a remote endpoint every entry
is a model name there."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..workspace import Workspace
from .engines import BuiltinEngine, OnnxEngine, RemoteEngine


def parse_entry(entry: str) -> tuple[str, str]:
    """'name=ref' or 'ref' (named after the ref's last path part) → (name, ref)."""
    name, eq, ref = entry.partition("=")
    if eq and name and "/" not in name:
        return name.strip(), ref.strip()
    return Path(entry.rstrip("/")).name or entry, entry


def lora_entries(ws: Workspace) -> list[tuple[str, str, str]]:
    """(name, adapter dir, base) of the LoRA adapters in serve.models."""
    from ..model.load import adapter_base, is_prompt_learning

    out = []
    for name, ref in map(parse_entry, ws.cfg.serve.models):
        try:
            path = ws.resolve_model(ref)
        except FileNotFoundError:
            continue
        base = adapter_base(path)
        if base is not None and not is_prompt_learning(path):
            out.append((name, str(path), base))
    return out


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
    return local_engine(ws, ws.resolve_model(ref), ref)


def local_engine(ws: Workspace, path: Path | str, name: str) -> BuiltinEngine:
    """The in-process engine `serve.engine` names (transformers, or ONNX Runtime) for one model dir."""
    cfg = ws.cfg.serve
    if cfg.engine == "onnx":
        return OnnxEngine(path, name=name, max_batch_size=cfg.max_batch_size, batch_wait_ms=cfg.batch_wait_ms,
                          int8=cfg.onnx_int8)
    return BuiltinEngine(path, device=ws.cfg.project.device, name=name, dtype=ws.cfg.model.dtype,
                         max_batch_size=cfg.max_batch_size, batch_wait_ms=cfg.batch_wait_ms)


def make_engines(ws: Workspace, engine: Any = None) -> dict[str, Any]:
    """name → engine, the default first."""
    engine = engine if engine is not None else make_engine(ws)
    engines: dict[str, Any] = {engine.name: engine}
    cfg = ws.cfg.serve
    if not cfg.models:
        return engines
    if getattr(engine, "remote", False):
        from .vllm import VLLMEngine

        for name, ref in map(parse_entry, cfg.models):
            if isinstance(engine, VLLMEngine):  # its LoRA modules, started with it, under their names
                if name not in getattr(engine, "lora_names", ()):
                    raise ValueError(f"serve.models: {ref!r} is not a LoRA adapter; one vLLM server serves one "
                                     f"base model (run another gateway, or serve.engine=remote, for more)")
                engines[name] = engine.view(name)
            else:
                engines[name] = RemoteEngine(engine.path, name, tokenizer=None)
                engines[name].client = engine.client  # same endpoint, same key
        return engines
    adapters = {name: (path, base) for name, path, base in lora_entries(ws)}
    bases: dict[str, BuiltinEngine] = {str(Path(str(e.path)).resolve()): e for e in engines.values()}
    entries = list(map(parse_entry, cfg.models))
    for name, ref in sorted(entries, key=lambda e: e[0] in adapters):  # full models first: adapters need bases
        if name in engines:
            raise ValueError(f"serve.models: the name {name!r} is given twice; use name=ref to tell them apart")
        if name in adapters:
            path, base = adapters[name]
            key = str(Path(ws.path(base)).resolve())
            if key not in bases:  # a base not served by itself: loaded once for its adapters
                bases[key] = local_engine(ws, key, Path(key).name)
            engines[name] = bases[key].attach_adapter(name, path)
            continue
        e = local_engine(ws, ws.resolve_model(ref), name)
        engines[name] = bases[str(Path(str(e.path)).resolve())] = e
    return engines
