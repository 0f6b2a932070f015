"""知识库 (RAG): chunk documents, retrieve with BM25, answer with checked citations."""

from __future__ import annotations

from ..workspace import Workspace
from .index import Hit, KnowledgeBase

__all__ = ["Hit", "KnowledgeBase", "build_kb"]


def build_kb(ws: Workspace, name: str | None = None) -> KnowledgeBase:
    """Index `kb.sources` into kb/<name>/ (rebuilt from scratch), applying the safety/PII policy."""
    from ..safety import Guard

    cfg = ws.cfg.kb
    path = ws.kb_dir(name)
    kb = KnowledgeBase(path, cfg.chunk_tokens, cfg.overlap_tokens, cfg.min_score)
    kb.add([ws.path(s) for s in cfg.sources], guard=Guard(ws.cfg.safety, ws.root))
    return kb
