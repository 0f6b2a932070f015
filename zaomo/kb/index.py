"""The knowledge base: chunks on disk (chunks.jsonl) and a BM25 index (bm25s) over jieba-segmented
Chinese and lower-cased English words, so retrieval works with no model at all.

Add, update and remove are by document; the BM25 index is rebuilt from the chunk list (milliseconds for
thousands of chunks) and saved atomically beside it, so readers always see a consistent pair.
"""

from __future__ import annotations

import json
import shutil
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from ..data.text import segment
from ..utils.io import atomic_write_json, iter_jsonl, write_jsonl
from .chunk import Chunk, chunk_document


@dataclass
class Hit:
    chunk_id: str
    doc_id: str
    text: str
    score: float
    source: str
    position: int
    title: str


class KnowledgeBase:
    def __init__(self, path: Path, chunk_tokens: int = 200, overlap_tokens: int = 20, min_score: float = 0.0):
        self.path = Path(path)
        self.chunk_tokens, self.overlap_tokens, self.min_score = chunk_tokens, overlap_tokens, min_score
        self.chunks: list[Chunk] = []
        self._retriever = None
        self._lock = threading.RLock()

    # persistence
    @classmethod
    def load(cls, path: str | Path) -> KnowledgeBase:
        path = Path(path)
        meta_f = path / "kb.json"
        if not meta_f.exists():
            raise FileNotFoundError(f"no knowledge base at {path}: build one with `zaomo kb build`")
        meta = json.loads(meta_f.read_text(encoding="utf-8"))
        kb = cls(path, meta["chunk_tokens"], meta["overlap_tokens"], meta.get("min_score", 0.0))
        kb.chunks = [Chunk(**c) for c in iter_jsonl(path / "chunks.jsonl")]
        kb._reindex()
        return kb

    def save(self) -> None:
        with self._lock:
            self.path.mkdir(parents=True, exist_ok=True)
            write_jsonl(self.path / "chunks.jsonl", (asdict(c) for c in self.chunks))
            atomic_write_json(self.path / "kb.json", {"chunk_tokens": self.chunk_tokens,
                                                      "overlap_tokens": self.overlap_tokens,
                                                      "min_score": self.min_score, "chunks": len(self.chunks),
                                                      "documents": len(self.documents())})

    # life cycle
    def documents(self) -> list[str]:
        return sorted({c.doc_id for c in self.chunks})

    def add_text(self, doc_id: str, text: str, page: int | None = None, replace: bool = True) -> int:
        """Add (or replace) one document; returns its number of chunks."""
        if not text.strip():
            raise ValueError(f"document {doc_id!r} is empty; nothing to index")
        with self._lock:
            if replace:
                self.chunks = [c for c in self.chunks if c.doc_id != doc_id]
            new = chunk_document(doc_id, text, self.chunk_tokens, self.overlap_tokens, page=page)
            self.chunks += new
            self._retriever = None
        return len(new)

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
                added[doc.source] = added.get(doc.source, 0) + self.add_text(doc.source, text, doc.meta.get("page"),
                                                                              replace=doc.source not in added)
        self._reindex()
        self.save()
        self.problems = problems
        return added

    # retrieval
    def _reindex(self) -> None:
        import bm25s

        with self._lock:
            if not self.chunks:
                self._retriever = None
                return
            r = bm25s.BM25()
            r.index([segment(f"{c.title} {c.text}") or ["∅"] for c in self.chunks], show_progress=False)
            self._retriever = r
            tmp = self.path / ".bm25.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            self.path.mkdir(parents=True, exist_ok=True)
            r.save(str(tmp))
            shutil.rmtree(self.path / "bm25", ignore_errors=True)
            tmp.rename(self.path / "bm25")

    def search(self, query: str, k: int = 3) -> list[Hit]:
        with self._lock:
            if self._retriever is None:
                self._reindex()
            if self._retriever is None:
                return []
            q = segment(query)
            if not q:
                return []
            k = min(k, len(self.chunks))
            docs, scores = self._retriever.retrieve([q], k=k, show_progress=False)
            hits = []
            for i, s in zip(docs[0], scores[0]):
                c = self.chunks[int(i)]
                if float(s) <= self.min_score:
                    continue
                hits.append(Hit(c.chunk_id, c.doc_id, c.text, float(s), c.doc_id, c.position, c.title))
            return hits
