"""Extra copies of the clean splits for other tools: Parquet (pyarrow) and zstd-compressed JSONL, in shards
of `data.export_records` records. The canonical `train/val/test.jsonl` stay as they are: every zaomo stage
reads those."""

from __future__ import annotations

import io
import json
from pathlib import Path

from ..utils.io import iter_jsonl


def _chunks(path: Path, size: int):
    buf: list[dict] = []
    for rec in iter_jsonl(path):
        buf.append(rec)
        if len(buf) >= size:
            yield buf
            buf = []
    if buf:
        yield buf


def export_splits(out: Path, formats: list[str], records_per_file: int) -> dict[str, str]:
    """Writes out/export/<split>-NNNNN.{parquet,jsonl.zst}; returns {"export_<fmt>": folder}."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import zstandard

    dest = out / "export"
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("*"):
        old.unlink()
    for split in ("train", "val", "test"):
        src = out / f"{split}.jsonl"
        if not src.exists():
            continue
        for i, rows in enumerate(_chunks(src, records_per_file)):
            if "parquet" in formats:  # nested fields (meta, messages) as JSON text: one schema for any record
                cols = sorted({k for r in rows for k in r})
                table = pa.table({c: [r.get(c) if isinstance(r.get(c), str | int | float | type(None))
                                      else json.dumps(r.get(c), ensure_ascii=False) for r in rows] for c in cols})
                pq.write_table(table, dest / f"{split}-{i:05d}.parquet", compression="zstd")
            if "jsonl.zst" in formats:
                raw = io.BytesIO()
                for r in rows:
                    raw.write((json.dumps(r, ensure_ascii=False) + "\n").encode("utf-8"))
                (dest / f"{split}-{i:05d}.jsonl.zst").write_bytes(zstandard.ZstdCompressor(level=10).compress(
                    raw.getvalue()))
    return {f"export_{f}": str(dest) for f in formats}
