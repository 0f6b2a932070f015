"""知识库 (RAG): chunk documents, retrieve with BM25, answer with checked citations."""

from __future__ import annotations

from ..workspace import Workspace
from .index import Hit, KnowledgeBase

__all__ = ["Hit", "KnowledgeBase", "build_kb", "update_kb"]


def build_kb(ws: Workspace, name: str | None = None) -> KnowledgeBase:
    """Index `kb.sources` into kb/<name>/ (rebuilt from scratch), applying the safety/PII policy."""
    from ..safety import Guard

    cfg = ws.cfg.kb
    path = ws.kb_dir(name)
    if path.exists():  # rebuilt from scratch: old chunks, index and vectors go
        import shutil

        shutil.rmtree(path)
    kb = _new_kb(ws, path)
    kb.add([ws.path(s) for s in cfg.sources], guard=Guard(ws.cfg.safety, ws.root))
    if kg_docs := _kg_documents(ws):  # the knowledge graph's entity documents survive a rebuild
        kb.update(kg_docs)
    return kb


def update_kb(ws: Workspace, upsert: dict[str, str], remove: list[str], name: str | None = None) -> dict[str, int]:
    """Add/replace and remove documents in kb/<name>/ (created if missing) without rebuilding it; returns
    what was re-indexed (see KnowledgeBase.update)."""
    path = ws.kb_dir(name)
    if (path / "kb.json").exists():
        kb = KnowledgeBase.load(path)
    else:
        kb = _new_kb(ws, path)
    return kb.update(upsert, remove)


def _kg_documents(ws: Workspace) -> dict[str, str]:
    """The entity documents `zaomo kg import` wrote (kg.dir/docs/*.md), by their KB id kg/<file>."""
    if not ws.cfg.kg.kb:
        return {}
    docs = ws.path(ws.cfg.kg.dir) / "docs"
    return {f"kg/{f.name}": f.read_text(encoding="utf-8") for f in sorted(docs.glob("*.md"))} if docs.is_dir() else {}


def _new_kb(ws: Workspace, path) -> KnowledgeBase:
    """An empty knowledge base with the workspace's kb settings (tokenizer auto: the workspace's, once trained)."""
    cfg = ws.cfg.kb
    tok = cfg.tokenizer
    if tok == "auto":
        tok = str(ws.tokenizer_dir) if (ws.tokenizer_dir / "tokenizer.json").exists() else None
    elif tok:
        tok = str(ws.path(tok))
    return KnowledgeBase(path, cfg.chunk_tokens, cfg.overlap_tokens, cfg.min_score, tokenizer=tok,
                       retriever=cfg.retriever, embedding=cfg.embedding and _model_ref(ws, cfg.embedding),
                       reranker=cfg.reranker and _model_ref(ws, cfg.reranker), min_similarity=cfg.min_similarity,
                       store=cfg.store, store_uri=cfg.store_uri, query_prefix=cfg.query_prefix,
                       passage_prefix=cfg.passage_prefix)


def _model_ref(ws: Workspace, ref: str) -> str:
    """A workspace-relative folder becomes absolute; anything else is a hub id."""
    p = ws.path(ref)
    return str(p) if p.exists() else ref
