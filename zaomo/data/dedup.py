"""Exact and near-duplicate removal. Exact: a hash of the normalised text. Near: MinHash-LSH
(datasketch) over character 5-gram shingles for Chinese and word 3-gram shingles for English; the first
record of a cluster in input order is kept, so the result is deterministic."""

from __future__ import annotations

import re

from datasketch import MinHash, MinHashLSH

from ..config.data import DedupConfig
from ..utils.hashing import text_hash
from .text import han_ratio

WORDS = re.compile(r"\w+")


def shingles(text: str, n_chars: int = 5, n_words: int = 3) -> set[str]:
    if han_ratio(text) > 0.3:
        s = re.sub(r"\s+", "", text)
        return {s[i:i + n_chars] for i in range(max(1, len(s) - n_chars + 1))}
    w = [x.lower() for x in WORDS.findall(text)]
    return {" ".join(w[i:i + n_words]) for i in range(max(1, len(w) - n_words + 1))}


class Deduplicator:
    """Feed records in order; `check` says whether one duplicates an earlier one (and which)."""

    def __init__(self, cfg: DedupConfig):
        self.cfg = cfg
        self.exact: dict[str, str] = {}
        self.lsh = MinHashLSH(threshold=cfg.threshold, num_perm=cfg.num_perm) if cfg.near else None
        self.clusters: dict[str, list[str]] = {}
        self._scheme = MinHash(num_perm=16, seed=1).scheme  # signatures made in workers use the default scheme

    def signature(self, text: str) -> list[int] | None:
        """The MinHash of a text: computed where the text is (a worker), checked in order in one place."""
        if not self.cfg.near:
            return None
        m = MinHash(num_perm=self.cfg.num_perm, seed=1)
        for s in shingles(text, self.cfg.shingle):
            m.update(s.encode("utf-8"))
        return m.hashvalues.tolist()

    def check(self, rid: str, text: str = "", exact: str | None = None,
              sig: list[int] | None = None) -> tuple[str, str] | None:
        """(kind, id of the kept record) if `text` duplicates one already seen, else None (and remember it).
        `exact` (text hash) and `sig` (signature) may be given instead of recomputing them from `text`."""
        if self.cfg.exact:
            h = exact or text_hash(text)
            if h in self.exact:
                keep = self.exact[h]
                self.clusters.setdefault(keep, []).append(rid)
                return "exact", keep
            self.exact[h] = rid
        if self.lsh is not None:
            import numpy as np

            m = MinHash(num_perm=self.cfg.num_perm, seed=1, scheme=self._scheme,
                        hashvalues=np.asarray(sig if sig is not None else self.signature(text), dtype=np.uint64))
            hits = sorted(self.lsh.query(m))
            if hits:
                self.clusters.setdefault(hits[0], []).append(rid)
                return "near", hits[0]
            self.lsh.insert(rid, m)
        return None
