"""Stable hashes for records, files and splits (reproducibility records use them)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def text_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def file_hash(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while b := f.read(chunk):
            h.update(b)
    return h.hexdigest()


def dir_hash(path: str | Path) -> str:
    """Hash of every file's relative name and content under a directory (a model or a dataset)."""
    root = Path(path)
    h = hashlib.blake2b(digest_size=16)
    for p in sorted(q for q in root.rglob("*") if q.is_file()):
        h.update(str(p.relative_to(root)).encode())
        h.update(file_hash(p).encode())
    return h.hexdigest()


def bucket(key: str, buckets: int = 10_000) -> int:
    """Deterministic bucket of a string: the same id always lands in the same split."""
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "big") % buckets
