"""`kb:` — the knowledge base: chunking, retrieval, answers with citations, the store."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import Section


class KBConfig(Section):
    name: str = Field("default", description="knowledge base name under kb/")
    sources: list[str] = Field(default_factory=lambda: ["data/raw"], description="files or folders to index")
    chunk_tokens: int = Field(200, ge=16, description="max tokens per chunk (model tokenizer when available)")
    overlap_tokens: int = Field(20, ge=0, description="tokens shared by neighbouring chunks")
    tokenizer: str | None = Field(
        "auto", description="tokenizer dir whose tokens bound chunks; auto: the workspace tokenizer once "
        "trained (else characters); null: characters")
    retriever: Literal["bm25", "dense", "hybrid"] = Field(
        "bm25", description="bm25 over jieba words (needs no model); dense (needs kb.embedding); hybrid: "
        "both fused by reciprocal rank")
    embedding: str | None = Field(None, description="encoder for dense/hybrid: local HF dir or hub id")
    query_prefix: str | None = Field(
        None, description="text put before each query for the encoder; null: the encoder's own "
        "(config_sentence_transformers.json prompts, else BGE's instruction / E5's 'query: ' by model name)")
    passage_prefix: str | None = Field(None, description="text put before each passage for the encoder; null: the "
                                       "encoder's own (as query_prefix; E5: 'passage: ')")
    reranker: str | None = Field(None, description="optional cross-encoder (sequence-classification) dir or id")
    min_similarity: float = Field(0.0, ge=-1, le=1, description="cosine floor for dense hits")
    store: Literal["faiss", "milvus"] = Field("faiss", description="vector store: FAISS files in the KB "
                                              "folder, or Milvus (zaomo[scale])")
    store_uri: str | None = Field(None, description="Milvus URI: a local .db file (Milvus Lite) or "
                                  "http://host:19530; default kb/<name>/milvus.db")
    top_k: int = Field(3, ge=1, description="chunks given to the model")
    min_score: float = Field(0.0, ge=0, description="relevance floor; below it the KB says it has nothing")
    context_tokens: int = Field(512, ge=32, description="token budget for retrieved text in the prompt")
    unsupported: Literal["quote", "keep"] = Field(
        "quote", description="an answer the retrieved passages do not support: quote the best-matching "
        "passage sentence with its citation instead (quote), or return it as generated (keep)")

    @model_validator(mode="after")
    def _dense_needs_encoder(self) -> KBConfig:
        if self.retriever != "bm25" and not self.embedding:
            raise ValueError(f"kb.retriever={self.retriever} needs kb.embedding (a local encoder folder or hub "
                             "id, e.g. BAAI/bge-small-zh-v1.5); or use kb.retriever=bm25")
        return self
