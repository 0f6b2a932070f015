"""Exact and near-duplicate removal. Exact: a hash of the normalised text. Near: MinHash-LSH
(datasketch) over character shingles — bigrams for Chinese, 4-grams of the lowercased, space-collapsed text for
other languages, chosen on measured precision/recall (BENCHMARKS.md, `bench_data.py --parts neardup`): word
shingles lose a whole word to one typo, and a 5% character edit rate left only 12% of copies found; LSH only
proposes candidates (any shared band), so each is verified by its estimated Jaccard similarity (the share of
equal MinHash values) against the threshold before the record is called a duplicate. The first record of a
cluster in input order is kept, so the result is deterministic."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from datasketch import MinHash, MinHashLSH

from ..config.data import DedupConfig
from ..utils.hashing import text_hash
from .text import han_ratio

SPACE = re.compile(r"\s+")
# LSH bands chosen for recall (a missed candidate is a missed duplicate; a false candidate only costs one
# signature comparison, and every candidate is verified against the threshold): false positive : negative
# weights 0.05 : 0.95 give 37 bands of 3 rows at 128 permutations, P(candidate) 0.97 at J = 0.45.
LSH_WEIGHTS = (0.05, 0.95)


def shingles(text: str, n_zh: int = 2, n_other: int = 4) -> set[str]:
    """Character n-grams: of the text without whitespace when it is Chinese, else lowercased with runs of
    whitespace as one space."""
    if han_ratio(text) > 0.3:
        s, n = SPACE.sub("", text), n_zh
    else:
        s, n = SPACE.sub(" ", text.lower()).strip(), n_other
    return {s[i:i + n] for i in range(max(1, len(s) - n + 1))}


def _mix32(h: np.ndarray) -> np.ndarray:
    """A 64→32-bit finaliser (murmur3's fmix64, truncated), so nearby inputs land far apart."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    h = h ^ (h >> np.uint64(33))
    return h & np.uint64(0xFFFFFFFF)


def shingle_hashes(text: str, n_zh: int = 2, n_other: int = 4) -> np.ndarray:
    """32-bit hashes of the distinct character shingles of `shingles`, computed over the code points with numpy
    (a polynomial hash of each window, then a finaliser) instead of one SHA-1 call per shingle in Python."""
    if han_ratio(text) > 0.3:
        s, n = SPACE.sub("", text), n_zh
    else:
        s, n = SPACE.sub(" ", text.lower()).strip(), n_other
    cps = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(cps) < n:
        cps = np.concatenate([cps, np.zeros(n - len(cps), np.uint64)])
    w = len(cps) - n + 1
    h = np.zeros(w, np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            h = h * np.uint64(0x100000001B3) + cps[j:j + w]
        return np.unique(_mix32(h))


class DiskLSH:
    """MinHash-LSH with its band buckets in SQLite, for corpora whose index does not fit in memory. Same
    banding as datasketch's MinHashLSH for the threshold, and the same answer: every earlier record sharing a
    band with the query. Memory stays at SQLite's page cache."""

    def __init__(self, path: Path, threshold: float, num_perm: int):
        import sqlite3

        from datasketch.lsh import _optimal_param

        self.b, self.r = _optimal_param(threshold, num_perm, *LSH_WEIGHTS)
        self.db = sqlite3.connect(str(path))
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("CREATE TABLE IF NOT EXISTS bands (band INTEGER, key BLOB, id TEXT)")
        self.db.execute("CREATE INDEX IF NOT EXISTS bands_key ON bands (band, key)")

    def _keys(self, m: MinHash) -> list[tuple[int, bytes]]:
        hv = m.hashvalues
        return [(i, hv[i * self.r:(i + 1) * self.r].tobytes()) for i in range(self.b)]

    def query(self, m: MinHash) -> set[str]:
        out: set[str] = set()
        for band, key in self._keys(m):
            out.update(r[0] for r in self.db.execute("SELECT id FROM bands WHERE band=? AND key=?", (band, key)))
        return out

    def insert(self, rid: str, m: MinHash) -> None:
        self.db.executemany("INSERT INTO bands VALUES (?, ?, ?)", [(b, k, rid) for b, k in self._keys(m)])


class DiskSet:
    """A hash → id map in SQLite (exact dedup beyond memory)."""

    def __init__(self, path: Path):
        import sqlite3

        self.db = sqlite3.connect(str(path))
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("CREATE TABLE IF NOT EXISTS exact (h TEXT PRIMARY KEY, id TEXT)")

    def __contains__(self, h: str) -> bool:
        return self.db.execute("SELECT 1 FROM exact WHERE h=?", (h,)).fetchone() is not None

    def __getitem__(self, h: str) -> str:
        return self.db.execute("SELECT id FROM exact WHERE h=?", (h,)).fetchone()[0]

    def __setitem__(self, h: str, rid: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO exact VALUES (?, ?)", (h, rid))


class DiskSigs:
    """MinHash signatures by record id in SQLite (candidate verification beyond memory)."""

    def __init__(self, path: Path):
        import sqlite3

        self.db = sqlite3.connect(str(path))
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("CREATE TABLE IF NOT EXISTS sigs (id TEXT PRIMARY KEY, hv BLOB)")

    def __getitem__(self, rid: str) -> np.ndarray:
        return np.frombuffer(self.db.execute("SELECT hv FROM sigs WHERE id=?", (rid,)).fetchone()[0], dtype=np.uint64)

    def __setitem__(self, rid: str, hv: np.ndarray) -> None:
        self.db.execute("INSERT OR REPLACE INTO sigs VALUES (?, ?)", (rid, hv.astype(np.uint64).tobytes()))


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """MinHash estimate of the Jaccard similarity: the share of permutations whose minimum agrees."""
    return float(np.count_nonzero(a == b)) / len(a)


class Deduplicator:
    """Feed records in order; `check` says whether one duplicates an earlier one (and which). With
    `dedup.store: disk` the exact hashes and LSH buckets live in SQLite files under `work`."""

    def __init__(self, cfg: DedupConfig, work: Path | None = None):
        self.cfg = cfg
        disk = cfg.store == "disk" and work is not None
        if disk:
            work.mkdir(parents=True, exist_ok=True)
            for f in ("exact.sqlite", "lsh.sqlite", "sigs.sqlite"):
                (work / f).unlink(missing_ok=True)
        self.exact: dict[str, str] | DiskSet = DiskSet(work / "exact.sqlite") if disk else {}
        self.lsh: MinHashLSH | DiskLSH | None = None
        if cfg.near:
            self.lsh = (DiskLSH(work / "lsh.sqlite", cfg.threshold, cfg.num_perm) if disk
                        else MinHashLSH(threshold=cfg.threshold, num_perm=cfg.num_perm, weights=LSH_WEIGHTS))
        self.sigs: dict[str, np.ndarray] | DiskSigs = DiskSigs(work / "sigs.sqlite") if disk and cfg.near else {}
        self.clusters: dict[str, list[str]] = {}
        self._template: MinHash | None = None

    def _blank(self, hashvalues: np.ndarray | None = None) -> MinHash:
        """A MinHash sharing one set of permutations (made once: they cost more than hashing a document)."""
        if self._template is None:
            self._template = MinHash(num_perm=self.cfg.num_perm, seed=1)
        t = self._template
        return MinHash(num_perm=self.cfg.num_perm, seed=1, permutations=t.permutations, scheme=t.scheme,
                       hashvalues=hashvalues, hashfunc=int)  # values are hashed already (shingle_hashes)

    def close(self) -> None:
        for part in (self.exact, self.lsh, self.sigs):
            if hasattr(part, "db"):
                part.db.close()

    def signature(self, text: str) -> list[int] | None:
        """The MinHash of a text: computed where the text is (a worker), checked in order in one place.
        The permutations are made once and shingles hashed in one vectorised pass (numpy), not one call each."""
        if not self.cfg.near:
            return None
        m = self._blank()
        m.update_batch(shingle_hashes(text, self.cfg.shingle, self.cfg.shingle_other))
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
            hv = np.asarray(sig if sig is not None else self.signature(text), dtype=np.uint64)
            m = self._blank(hv)
            for cand in sorted(self.lsh.query(m)):  # LSH candidates; verified by their estimated Jaccard
                if estimated_jaccard(hv, self.sigs[cand]) >= self.cfg.threshold:
                    self.clusters.setdefault(cand, []).append(rid)
                    return "near", cand
            self.lsh.insert(rid, m)
            self.sigs[rid] = hv
        return None
