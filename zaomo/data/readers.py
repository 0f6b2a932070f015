"""Readers for every input format, streaming, with the source and position of each record.

Encodings are detected with charset-normalizer (UTF-8, GB18030/GBK, Big5, UTF-16…) and recorded;
HTML main text is extracted with trafilatura (navigation, scripts and footers dropped); docx with
python-docx, pdf with pypdf, parquet with pyarrow. What cannot be read is yielded as a ReadProblem
(file, line, reason, a sample of the raw bytes) so that it reaches the quarantine instead of vanishing.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUPPORTED = {".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl", ".csv", ".tsv", ".parquet",
             ".docx", ".pdf"}
TEXT_FIELDS = ("text", "content", "body", "article")
MAX_LINE_BYTES = 16 * 1024 * 1024  # a single JSONL line larger than this is quarantined, not parsed


@dataclass
class Document:
    id: str
    text: str
    source: str
    meta: dict[str, Any] = field(default_factory=dict)
    record: dict[str, Any] | None = None  # the original structured record (chat/preference data)


@dataclass
class ReadProblem:
    source: str
    line: int | None
    reason: str
    raw: str = ""


def _rel(path: Path, root: Path | None) -> str:
    try:
        return path.relative_to(root).as_posix() if root else path.as_posix()
    except ValueError:
        return path.as_posix()


def looks_binary(data: bytes) -> bool:
    if not data:
        return False
    sample = data[:4096]
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a BOM is text
        return False
    if b"\x00" in sample:
        return True
    control = sum(1 for b in sample if b < 32 and b not in (9, 10, 13, 12, 27))
    return control / len(sample) > 0.05


def decode(data: bytes) -> tuple[str | None, str]:
    """Bytes → (text, encoding name); (None, reason) when no encoding fits."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        return None, "undecodable bytes (no encoding fits)"
    return str(best), best.encoding


def _text_of(obj: dict) -> str | None:
    for k in TEXT_FIELDS:
        v = obj.get(k)
        if isinstance(v, str):
            return v
    return None


def _record_doc(obj: Any, source: str, pos: dict, n: int) -> Document | ReadProblem:
    if not isinstance(obj, dict):
        return ReadProblem(source, pos.get("line"), f"expected a JSON object, got {type(obj).__name__}",
                           json.dumps(obj, ensure_ascii=False)[:2000])
    text = _text_of(obj)
    rid = str(obj.get("id", f"{source}#{n}"))
    if text is None and not any(k in obj for k in ("messages", "conversations", "instruction", "prompt")):
        return ReadProblem(source, pos.get("line"), f"no text field (expected one of {', '.join(TEXT_FIELDS)}, "
                           "or a chat/preference record)", json.dumps(obj, ensure_ascii=False)[:2000])
    return Document(rid, text or "", source, {**pos, "format": "json"}, record=obj)


def _read_jsonl(path: Path, source: str) -> Iterator[Document | ReadProblem]:
    with open(path, "rb") as f:
        n = 0
        while True:
            raw = f.readline(MAX_LINE_BYTES + 1)
            if not raw:
                break
            n += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                rest = 0
                while (chunk := f.readline(MAX_LINE_BYTES)) and not chunk.endswith(b"\n"):
                    rest += len(chunk)
                yield ReadProblem(source, n, f"line longer than {MAX_LINE_BYTES // 2**20} MiB "
                                  f"({len(raw) + rest + len(chunk or b'')} bytes); split it", raw[:2000].decode(
                                      "utf-8", errors="replace"))
                continue
            s = raw.strip()
            if not s:
                continue
            text, enc = decode(s)
            if text is None:
                yield ReadProblem(source, n, enc, s[:2000].decode("latin-1"))
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                yield ReadProblem(source, n, f"invalid JSON ({e.msg} at column {e.colno}); fix or remove the line",
                                  text[:2000])
                continue
            yield _record_doc(obj, source, {"line": n, "encoding": enc}, n)


def _read_html(data: str) -> str:
    import trafilatura

    return trafilatura.extract(data, include_comments=False, include_tables=True, favor_precision=True) or ""


def input_files(path: Path) -> list[Path]:
    """The files an input names, in reading order: itself, or a folder's files recursively, sorted, hidden
    ones skipped. A missing path is returned as is (reading it reports the problem)."""
    if path.is_dir():
        return [p for p in sorted(q for q in path.rglob("*") if q.is_file()) if not p.name.startswith(".")]
    return [path]


def iter_documents(path: str | Path, root: str | Path | None = None) -> Iterator[Document | ReadProblem]:
    """Every record under `path` (a file or a folder, recursively, sorted)."""
    path = Path(path)
    root = Path(root) if root else (path if path.is_dir() else path.parent)
    if path.is_dir():
        for p in input_files(path):
            yield from iter_documents(p, root)
        return
    if not path.exists():
        yield ReadProblem(path.as_posix(), None, "no such file or folder")
        return
    source = _rel(path, root)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        yield ReadProblem(source, None, f"unsupported file type '{suffix}'; supported: {', '.join(sorted(SUPPORTED))}")
        return
    if path.stat().st_size == 0:
        yield ReadProblem(source, None, "empty file")
        return
    if suffix == ".jsonl":
        yield from _read_jsonl(path, source)
        return
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        for i, row in enumerate(pq.read_table(path).to_pylist(), 1):
            yield _record_doc(row, source, {"row": i, "format": "parquet"}, i)
        return
    if suffix == ".docx":
        import docx

        try:
            d = docx.Document(str(path))
        except Exception as e:  # python-docx raises several types for a damaged file
            yield ReadProblem(source, None, f"not a readable docx ({e})")
            return
        text = "\n".join(p.text for p in d.paragraphs if p.text.strip())
        yield Document(source, text, source, {"format": "docx", "title": d.core_properties.title or None})
        return
    if suffix == ".pdf":
        from pypdf import PdfReader

        try:
            reader = PdfReader(str(path))
            for i, page in enumerate(reader.pages, 1):
                t = page.extract_text() or ""
                if t.strip():
                    yield Document(f"{source}#p{i}", t, source, {"format": "pdf", "page": i})
        except Exception as e:  # pypdf raises many error types for broken files
            yield ReadProblem(source, None, f"not a readable pdf ({e})")
        return
    data = path.read_bytes()
    if looks_binary(data):
        yield ReadProblem(source, None, "binary content in a text file", data[:64].hex())
        return
    text, enc = decode(data)
    if text is None:
        yield ReadProblem(source, None, enc, data[:2000].decode("latin-1"))
        return
    meta: dict[str, Any] = {"encoding": enc, "format": suffix.lstrip(".")}
    if suffix in (".html", ".htm"):
        text = _read_html(text)
        if not text.strip():
            yield ReadProblem(source, None, "no main text found in the HTML page")
            return
    if suffix == ".json":
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            yield ReadProblem(source, e.lineno, f"invalid JSON ({e.msg})", text[:2000])
            return
        for i, item in enumerate(obj if isinstance(obj, list) else [obj], 1):
            yield _record_doc(item, source, {"item": i, "encoding": enc}, i)
        return
    if suffix in (".csv", ".tsv"):
        reader = csv.DictReader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ",")
        for i, row in enumerate(reader, 2):
            yield _record_doc(dict(row), source, {"line": i, "encoding": enc}, i)
        return
    if suffix in (".md", ".markdown"):
        first = text.lstrip().splitlines()[0] if text.strip() else ""
        if first.startswith("#"):
            meta["title"] = first.lstrip("# ").strip()
    yield Document(source, text, source, meta)
