"""`kb:` — the knowledge base: chunking, retrieval, answers with citations, the store."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Section


class KBConfig(Section):
    name: str = Field("default", description="knowledge base name under kb/")
    sources: list[str] = Field(default_factory=lambda: ["data/raw"], description="files or folders to index")
    chunk_tokens: int = Field(200, ge=16, description="max tokens per chunk (model tokenizer when available)")
    overlap_tokens: int = Field(20, ge=0, description="tokens shared by neighbouring chunks")
    retriever: Literal["bm25"] = Field("bm25", description="BM25 over jieba words (needs no model)")
    top_k: int = Field(3, ge=1, description="chunks given to the model")
    min_score: float = Field(0.0, ge=0, description="relevance floor; below it the KB says it has nothing")
    context_tokens: int = Field(512, ge=32, description="token budget for retrieved text in the prompt")
    unsupported: Literal["quote", "keep"] = Field(
        "quote", description="an answer the retrieved passages do not support: quote the best-matching "
        "passage sentence with its citation instead (quote), or return it as generated (keep)")
