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
    tok = cfg.tokenizer
    if tok == "auto":
        tok = str(ws.tokenizer_dir) if (ws.tokenizer_dir / "tokenizer.json").exists() else None
    elif tok:
        tok = str(ws.path(tok))
    if path.exists():  # rebuilt from scratch: old chunks, index and vectors go
        import shutil

        shutil.rmtree(path)
    kb = KnowledgeBase(path, cfg.chunk_tokens, cfg.overlap_tokens, cfg.min_score, tokenizer=tok,
                       retriever=cfg.retriever, embedding=cfg.embedding and _model_ref(ws, cfg.embedding),
                       reranker=cfg.reranker and _model_ref(ws, cfg.reranker), min_similarity=cfg.min_similarity,
                       store=cfg.store, store_uri=cfg.store_uri, query_prefix=cfg.query_prefix,
                       passage_prefix=cfg.passage_prefix)
    kb.add([ws.path(s) for s in cfg.sources], guard=Guard(ws.cfg.safety, ws.root))
    return kb


def _model_ref(ws: Workspace, ref: str) -> str:
    """A workspace-relative folder becomes absolute; anything else is a hub id."""
    p = ws.path(ref)
    return str(p) if p.exists() else ref
