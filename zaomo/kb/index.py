"""The knowledge base: chunks on disk (chunks.jsonl) and a BM25 index (bm25s) over search terms (jieba
search-mode Chinese words; stemmed English words without stop words; identifiers such as v1.2.3 whole, see
terms.py), so retrieval works with no model at all; with an embedding model,
dense retrieval (FAISS or Milvus) alone or fused with BM25 (RRF), and an optional cross-encoder reranker.
Chunks are measured in tokens of the model's tokenizer when one is given, else in characters.

Add, update and remove are by document; the BM25 index is rebuilt from the chunk list (milliseconds for
thousands of chunks) and saved atomically beside it, so readers always see a consistent pair. BM25's
statistics (document frequencies, average length) are global, so its matrix is always rebuilt; what is
costly — segmenting each chunk into search terms, and embedding it — is done only for new or changed
chunks: terms are kept by chunk id and content hash in terms.json, vectors likewise in the vector store.
`update` applies many document changes with one re-index; `last_index` says what it recomputed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from ..utils.io import atomic_write_json, atomic_write_text, iter_jsonl, write_jsonl
from .chunk import Chunk, char_len, chunk_document
from .terms import SearchTerms

OPTIONS = ("tokenizer", "retriever", "embedding", "reranker", "min_similarity", "store", "store_uri", "query_prefix",
           "passage_prefix")


@dataclass
class Hit:
    chunk_id: str
    doc_id: str
    text: str
    score: float
    source: str
    position: int
    title: str


def record_part(doc, taken: set[str]) -> str | None:
    """Name of one record of a multi-record file, for its chunk ids: the record's own `id` (stable when other
    records are inserted or removed), else its place — `L<line>` (JSONL, CSV), `R<row>` (Parquet), `I<item>`
    (a JSON array), `p<page>` (PDF); None for a whole-file document. Unique within the file (`taken`)."""
    if doc.id == doc.source:
        return None
    m = doc.meta
    place = (f"p{m['page']}" if m.get("page") else f"L{m['line']}" if m.get("line") else
             f"R{m['row']}" if m.get("row") else f"I{m['item']}" if m.get("item") else doc.id)
    own = (doc.record or {}).get("id")
    part = str(own) if own not in (None, "") else place
    if part in taken:  # a repeated record id: its place instead
        part = place
    n, base = 1, part
    while part in taken:
        part, n = f"{base}~{n}", n + 1
    taken.add(part)
    return part


class KnowledgeBase:
    def __init__(self, path: Path, chunk_tokens: int = 200, overlap_tokens: int = 20, min_score: float = 0.0, *,
                 tokenizer: str | None = None, retriever: str = "bm25", embedding: str | None = None,
                 reranker: str | None = None, min_similarity: float = 0.0, store: str = "faiss",
                 store_uri: str | None = None, query_prefix: str | None = None, passage_prefix: str | None = None):
        self.path = Path(path)
        self.chunk_tokens, self.overlap_tokens, self.min_score = chunk_tokens, overlap_tokens, min_score
        self.tokenizer, self.retriever, self.embedding, self.reranker = tokenizer, retriever, embedding, reranker
        self.min_similarity, self.store, self.store_uri = min_similarity, store, store_uri
        self.query_prefix, self.passage_prefix = query_prefix, passage_prefix  # None: the encoder's own
        if retriever != "bm25" and not embedding:
            raise ValueError(f"kb.retriever={retriever} needs kb.embedding (a local encoder dir or hub id)")
        self.chunks: list[Chunk] = []
        self._docs: set[str] = set()
        self._docs_of: list[Chunk] | None = None
        self._retriever = None
        self._lock = threading.RLock()
        self._count = self._counter(tokenizer)
        self._terms = SearchTerms()
        self._encoder = self._reranker = self._vectors = None
        self._vec_pos: dict[str, int] = {}
        self._term_cache: dict[str, list[str]] = {}  # vector key → search terms, so unchanged chunks keep theirs
        self.last_index: dict[str, int] = {}  # what the last re-index recomputed: chunks, tokenized, embedded

    @staticmethod
    def _counter(tokenizer: str | None):
        """Token counter of the model in use (its tokenizer dir), so chunks fit its context; else characters."""
        if not tokenizer:
            return char_len
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(tokenizer)
        backend = getattr(tok, "backend_tokenizer", None)
        if backend is not None:
            return lambda s: len(backend.encode(s, add_special_tokens=False).ids)
        return lambda s: len(tok(s, add_special_tokens=False)["input_ids"])

    def _dense(self):
        """Encoder and vector store, created on first use (BM25-only bases never import torch here)."""
        if self._vectors is None and self.retriever != "bm25":
            from .dense import Encoder, FaissStore, MilvusStore

            self._encoder = Encoder(self.embedding, query_prefix=self.query_prefix,
                                    passage_prefix=self.passage_prefix)
            if self.store == "milvus":
                uri = self.store_uri or str(self.path / "milvus.db")
                name = "zaomo_" + hashlib.blake2b(str(self.path.resolve()).encode(), digest_size=6).hexdigest()
                self._vectors = MilvusStore(uri, name)
            else:
                self._vectors = FaissStore(self.path / "dense")
        return self._encoder, self._vectors

    def _rerank_model(self):
        if self._reranker is None and self.reranker:
            from .dense import Reranker

            self._reranker = Reranker(self.reranker)
        return self._reranker

    # persistence
    @classmethod
    def load(cls, path: str | Path) -> KnowledgeBase:
        path = Path(path)
        meta_f = path / "kb.json"
        if not meta_f.exists():
            raise FileNotFoundError(f"no knowledge base at {path}: build one with `zaomo kb build`")
        meta = json.loads(meta_f.read_text(encoding="utf-8"))
        kb = cls(path, meta["chunk_tokens"], meta["overlap_tokens"], meta.get("min_score", 0.0),
                 **{k: meta[k] for k in OPTIONS if k in meta})
        kb.chunks = [Chunk(**c) for c in iter_jsonl(path / "chunks.jsonl")]
        if (path / "terms.json").exists():
            kb._term_cache = json.loads((path / "terms.json").read_text(encoding="utf-8"))
        kb._reindex()
        return kb

    def save(self) -> None:
        with self._lock:
            self.path.mkdir(parents=True, exist_ok=True)
            write_jsonl(self.path / "chunks.jsonl", (asdict(c) for c in self.chunks))
            atomic_write_json(self.path / "kb.json", {"chunk_tokens": self.chunk_tokens,
                                                      "overlap_tokens": self.overlap_tokens,
                                                      "min_score": self.min_score, "chunks": len(self.chunks),
                                                      "documents": len(self.documents()),
                                                      **{k: getattr(self, k) for k in OPTIONS}})

    # life cycle
    def documents(self) -> list[str]:
        return sorted(self._doc_ids())

    def _doc_ids(self) -> set[str]:
        if self._docs_of is not self.chunks:  # the chunk list was replaced: recount
            self._docs, self._docs_of = {c.doc_id for c in self.chunks}, self.chunks
        return self._docs

    def add_text(self, doc_id: str, text: str, page: int | None = None, replace: bool = True,
                 part: str | None = None) -> int:
        """Add (or replace) one document, or with `replace=False` one more record of it (`part` names the
        record, keeping chunk ids unique); returns its number of chunks."""
        if not text.strip():
            raise ValueError(f"document {doc_id!r} is empty; nothing to index")
        with self._lock:
            if replace and doc_id in self._doc_ids():  # linear only when a document is really replaced
                self.chunks = [c for c in self.chunks if c.doc_id != doc_id]
            new = chunk_document(doc_id, text, self.chunk_tokens, self.overlap_tokens, self._count, page=page,
                                 part=part)
            self.chunks += new
            self._docs.update(c.doc_id for c in new)
            self._retriever = None
        return len(new)

    def update(self, upsert: dict[str, str], remove: list[str] | tuple[str, ...] = ()) -> dict[str, int]:
        """Add or replace the documents of `upsert` (id → text) and drop those of `remove` (unknown ids are
        ignored), with one re-index and save: only the changed documents' chunks are segmented and embedded."""
        with self._lock:
            gone = set(remove) | set(upsert)
            before = len(self.chunks)
            self.chunks = [c for c in self.chunks if c.doc_id not in gone]
            dropped = before - len(self.chunks)
            added = 0
            for doc_id, text in upsert.items():
                added += self.add_text(doc_id, text, replace=False)
            self._reindex()
            self.save()
            return {"chunks_added": added, "chunks_dropped": dropped, **self.last_index}

    def remove(self, doc_id: str) -> int:
        with self._lock:
            before = len(self.chunks)
            self.chunks = [c for c in self.chunks if c.doc_id != doc_id]
            removed = before - len(self.chunks)
            if not removed:
                raise KeyError(f"document {doc_id!r} is not in the knowledge base; see `zaomo kb list`")
            self._reindex()
            self.save()
            return removed

    def add(self, paths: list[str | Path], guard=None, root: Path | None = None) -> dict[str, int]:
        """Read files/folders through zaomo's readers (every format they read) and index them."""
        from ..data.readers import ReadProblem, iter_documents

        added: dict[str, int] = {}
        parts: dict[str, set[str]] = {}
        problems: list[str] = []
        for p in paths:
            p = Path(p)
            base = root or (p if p.is_dir() else p.parent)
            for doc in iter_documents(p, base):
                if isinstance(doc, ReadProblem):
                    problems.append(f"{doc.source}: {doc.reason}")
                    continue
                text = doc.text
                if guard is not None:
                    g = guard.check(text, where="data")
                    if not g.allowed:
                        problems.append(f"{doc.source}: dropped by the safety policy ({g.reason})")
                        continue
                    text = g.text
                if not text.strip():
                    problems.append(f"{doc.source}: empty document")
                    continue
                part = record_part(doc, parts.setdefault(doc.source, set()))
                added[doc.source] = added.get(doc.source, 0) + self.add_text(doc.source, text, doc.meta.get("page"),
                                                                              replace=doc.source not in added,
                                                                              part=part)
        self._reindex()
        self.save()
        self.problems = problems
        return added

    # retrieval
    def _reindex(self) -> None:
        import bm25s

        with self._lock:
            if not self.chunks:
                self._retriever, self.last_index = None, {"chunks": 0, "tokenized": 0, "embedded": 0}
                return
            keys = [self._vec_key(c) for c in self.chunks]
            fresh = {k: self._terms(c.indexed) or ["∅"] for k, c in zip(keys, self.chunks)
                     if k not in self._term_cache}
            self._term_cache = {k: fresh.get(k) or self._term_cache[k] for k in keys}
            r = bm25s.BM25()
            r.index([self._term_cache[k] for k in keys], show_progress=False)
            self._retriever = r
            tmp = self.path / ".bm25.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            self.path.mkdir(parents=True, exist_ok=True)
            r.save(str(tmp))
            shutil.rmtree(self.path / "bm25", ignore_errors=True)
            tmp.rename(self.path / "bm25")
            atomic_write_text(self.path / "terms.json", json.dumps(self._term_cache, ensure_ascii=False))
            self.last_index = {"chunks": len(self.chunks), "tokenized": len(fresh), "embedded": self._sync_vectors()}

    @staticmethod
    def _vec_key(c: Chunk) -> str:
        """Vector id: chunk id plus a content hash, so an updated document's chunks are re-embedded."""
        return f"{c.chunk_id}@{hashlib.blake2b(c.indexed.encode(), digest_size=6).hexdigest()}"

    def _sync_vectors(self) -> int:
        """Embed only chunks the store lacks; drop vectors of chunks that are gone. Returns how many were embedded."""
        enc, store = self._dense()
        if store is None:
            return 0
        want = {self._vec_key(c): c for c in self.chunks}
        self._vec_pos = {k: i for i, k in enumerate(want)}  # vector id → chunk index, for searches
        have = store.known()
        store.delete([k for k in have if k not in want])
        new = [k for k in want if k not in have]
        if new:
            store.upsert(new, enc.encode([want[k].indexed for k in new]))
        store.save()
        return len(new)

    def search(self, query: str, k: int = 3) -> list[Hit]:
        """Top-k chunks for `query` by kb.retriever; below the relevance floor nothing is returned."""
        with self._lock:
            if self._retriever is None:
                self._reindex()
            if self._retriever is None:
                return []
            k = min(k, len(self.chunks))
            fuse = self.retriever == "hybrid" or bool(self.reranker)
            pool = max(4 * k, 20) if fuse else k  # candidates for fusion and reranking
            scored: dict[int, float] = {}
            lists: list[list[int]] = []
            if self.retriever in ("bm25", "hybrid"):
                bm = [(i, s) for i, s in self._bm25(query, pool) if s > self.min_score]
                lists.append([i for i, _ in bm])
                scored.update(bm)
            if self.retriever in ("dense", "hybrid"):
                dn = [(i, s) for i, s in self._dense_search(query, pool) if s > self.min_similarity]
                lists.append([i for i, _ in dn])
                if self.retriever == "dense":
                    scored.update(dn)
            if self.retriever == "hybrid":
                from .dense import rrf

                fused = rrf([[str(i) for i in li] for li in lists])
                scored = {int(i): s for i, s in fused}
            order = sorted(scored, key=lambda i: (-scored[i], i))
            if (rer := self._rerank_model()) is not None:
                order = order[:pool]
                rs = rer.scores(query, [self.chunks[i].indexed for i in order])
                scored = dict(zip(order, rs))
                order = sorted(order, key=lambda i: (-scored[i], i))
            hits = []
            for i in order[:k]:
                c = self.chunks[i]
                hits.append(Hit(c.chunk_id, c.doc_id, c.text, float(scored[i]), c.doc_id, c.position, c.title))
            return hits

    def _bm25(self, query: str, k: int) -> list[tuple[int, float]]:
        q = self._terms(query)
        if not q:
            return []
        docs, scores = self._retriever.retrieve([q], k=min(k, len(self.chunks)), show_progress=False)
        return [(int(i), float(s)) for i, s in zip(docs[0], scores[0])]

    def _dense_search(self, query: str, k: int) -> list[tuple[int, float]]:
        enc, store = self._dense()
        pos = self._vec_pos
        return [(pos[key], s) for key, s in store.search(enc.encode([query], "query")[0], k) if key in pos]
