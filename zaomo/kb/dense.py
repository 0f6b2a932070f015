"""Dense retrieval: an encoder (any local or hub Hugging Face encoder, pooled and prefixed as its
sentence-transformers config says, normalised), vector stores (FAISS in the knowledge-base folder, or Milvus — Milvus Lite
in a local file for one machine, a Milvus server by URL beyond it), a cross-encoder reranker, and
reciprocal-rank fusion for hybrid search. All optional: BM25 alone needs none of it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

# FAISS index by collection size: exact search is fastest below ~50k vectors; HNSW keeps p95 latency low up
# to millions at ~1.5x memory; IVF-Flat (nprobe 16) for more, where HNSW's build time and memory grow.
HNSW_FROM = 50_000
IVF_FROM = 1_000_000


class Encoder:
    """Text → unit vectors, pooled and prefixed as the encoder expects (zaomo.model.embed.encoder_spec reads
    that from its sentence-transformers files, local or hub). Queries and passages are encoded with their own
    prefixes (BGE's query instruction, E5's "query: "/"passage: "); `query_prefix`/`passage_prefix` override
    them. An encoder with modules beyond Transformer/Pooling/Normalize runs through sentence-transformers."""

    def __init__(self, name_or_path: str, device: str = "cpu", max_length: int = 512, batch_size: int = 32,
                 query_prefix: str | None = None, passage_prefix: str | None = None):
        from ..model.embed import encoder_spec

        self.name, self.device, self.batch_size = name_or_path, device, batch_size
        spec = encoder_spec(name_or_path)
        self.pooling, self.max_length = spec.pooling, min(max_length, spec.max_length or max_length)
        self.prefix = {"query": spec.query_prefix if query_prefix is None else query_prefix,
                       "passage": spec.passage_prefix if passage_prefix is None else passage_prefix}
        self._st = None
        if spec.needs_st:
            from ..utils.env import optional_import

            st = optional_import("sentence_transformers", "dense", "a sentence-transformers encoder")
            self._st = st.SentenceTransformer(name_or_path, device=device)
            return
        from transformers import AutoModel, AutoTokenizer

        sub = {"subfolder": spec.subfolder} if spec.subfolder else {}
        self.tok = AutoTokenizer.from_pretrained(name_or_path, **sub)
        self.model = AutoModel.from_pretrained(name_or_path, **sub).to(device).eval()

    def encode(self, texts: Sequence[str], kind: Literal["passage", "query"] = "passage") -> np.ndarray:
        texts = [self.prefix[kind] + t for t in texts]
        if self._st is not None:
            return np.asarray(self._st.encode(texts, normalize_embeddings=True), dtype=np.float32)
        from ..model.embed import embed_texts

        return embed_texts(self.model, self.tok, texts, self.max_length, self.batch_size, self.pooling)[0]


class Reranker:
    """A cross-encoder (sequence-classification model over (query, passage) pairs) that reorders candidates."""

    def __init__(self, name_or_path: str, device: str = "cpu", max_length: int = 512):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.tok = AutoTokenizer.from_pretrained(name_or_path)
        self.model = AutoModelForSequenceClassification.from_pretrained(name_or_path).to(device).eval()
        self.device, self.max_length = device, max_length

    def scores(self, query: str, passages: Sequence[str]) -> list[float]:
        import torch

        if not passages:
            return []
        with torch.no_grad():
            b = self.tok([query] * len(passages), list(passages), padding=True, truncation=True,
                         max_length=self.max_length, return_tensors="pt").to(self.device)
            logits = self.model(**b).logits.float()
        s = logits[:, 0] if logits.size(-1) == 1 else torch.log_softmax(logits, -1)[:, -1]
        return s.cpu().tolist()


def rrf(rankings: Sequence[Sequence[str]], k: int = 60) -> list[tuple[str, float]]:
    """Reciprocal-rank fusion (Cormack et al. 2009): score(d) = Σ 1 / (k + rank), ranks from 1."""
    score: dict[str, float] = {}
    for ranking in rankings:
        for r, d in enumerate(ranking, 1):
            score[d] = score.get(d, 0.0) + 1.0 / (k + r)
    return sorted(score.items(), key=lambda x: (-x[1], x[0]))


class FaissStore:
    """Vectors in the knowledge-base folder (ids.json + vectors.npy); the FAISS index is rebuilt from them,
    with its type chosen by size, at the first search after a change (so an update that deletes and adds
    builds it once)."""

    kind = "faiss"

    def __init__(self, path: Path):
        self.path = Path(path)
        self.ids: list[str] = []
        self.vecs = np.zeros((0, 0), dtype=np.float32)
        self._index = None
        if (self.path / "ids.json").exists():
            self.ids = json.loads((self.path / "ids.json").read_text(encoding="utf-8"))
            self.vecs = np.load(self.path / "vectors.npy")

    def known(self) -> set[str]:
        return set(self.ids)

    def upsert(self, ids: Sequence[str], vecs: np.ndarray) -> None:
        new = set(ids)
        keep = [i for i, c in enumerate(self.ids) if c not in new]
        old = self.vecs[keep] if len(self.ids) else np.zeros((0, vecs.shape[1]), dtype=np.float32)
        self.ids = [self.ids[i] for i in keep] + list(ids)
        self.vecs = np.concatenate([old, vecs.astype(np.float32)]) if len(ids) else old
        self._index = None

    def delete(self, ids: Sequence[str]) -> None:
        drop = set(ids)
        keep = [i for i, c in enumerate(self.ids) if c not in drop]
        self.ids, self.vecs = [self.ids[i] for i in keep], self.vecs[keep]
        self._index = None

    def index_type(self) -> str:
        n = len(self.ids)
        return "flat" if n < HNSW_FROM else "hnsw" if n < IVF_FROM else "ivf"

    def _build(self) -> None:
        import faiss

        d, kind = self.vecs.shape[1], self.index_type()
        if kind == "flat":
            index = faiss.IndexFlatIP(d)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efSearch = 64
        else:
            nlist = int(4 * np.sqrt(len(self.ids)))
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
            index.train(self.vecs)
            index.nprobe = 16
        index.add(self.vecs)
        self._index = index

    def search(self, qvec: np.ndarray, k: int) -> list[tuple[str, float]]:
        if not self.ids:
            return []
        if self._index is None:
            self._build()
        scores, idx = self._index.search(qvec.reshape(1, -1).astype(np.float32), min(k, len(self.ids)))
        return [(self.ids[i], float(s)) for i, s in zip(idx[0], scores[0]) if i >= 0]

    def save(self) -> None:
        from ..utils.io import atomic_write_json

        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.path / "vectors.tmp.npy"
        np.save(tmp, self.vecs)
        tmp.replace(self.path / "vectors.npy")
        atomic_write_json(self.path / "ids.json", self.ids)


class MilvusStore:
    """The same interface on Milvus: `uri` a local file runs Milvus Lite in process (one machine, tests),
    an http(s) URL a Milvus server. Needs `pip install 'zaomo[scale]'`."""

    kind = "milvus"

    def __init__(self, uri: str, collection: str, dim: int | None = None):
        from ..utils.env import optional_import

        pymilvus = optional_import("pymilvus", "scale", "kb.store=milvus")
        self.client = pymilvus.MilvusClient(uri)
        self.collection, self.dim = collection, dim
        if self.client.has_collection(collection):
            self.dim = self.client.describe_collection(collection)["fields"][1]["params"]["dim"]

    def _ensure(self, dim: int) -> None:
        if self.client.has_collection(self.collection):
            return
        from pymilvus import DataType

        schema = self.client.create_schema(auto_id=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=512)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        params = self.client.prepare_index_params()
        params.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
        self.client.create_collection(self.collection, schema=schema, index_params=params)
        self.dim = dim

    def known(self) -> set[str]:
        if not self.client.has_collection(self.collection):
            return set()
        it = self.client.query_iterator(self.collection, batch_size=1000, filter='id != ""', output_fields=["id"])
        out: set[str] = set()
        while rows := it.next():
            out.update(r["id"] for r in rows)
        it.close()
        return out

    def upsert(self, ids: Sequence[str], vecs: np.ndarray) -> None:
        if not len(ids):
            return
        self._ensure(vecs.shape[1])
        self.client.upsert(self.collection, [{"id": i, "vector": v.tolist()} for i, v in zip(ids, vecs)])

    def delete(self, ids: Sequence[str]) -> None:
        if ids and self.client.has_collection(self.collection):
            self.client.delete(self.collection, ids=list(ids))

    def search(self, qvec: np.ndarray, k: int) -> list[tuple[str, float]]:
        if not self.client.has_collection(self.collection):
            return []
        res = self.client.search(self.collection, data=[qvec.astype(np.float32).tolist()], limit=k,
                                 search_params={"metric_type": "IP"}, output_fields=["id"])
        return [(h["id"], float(h["distance"])) for h in res[0]]

    def save(self) -> None:  # Milvus persists on write; flush makes it visible to other clients now
        if self.client.has_collection(self.collection):
            self.client.flush(self.collection)
