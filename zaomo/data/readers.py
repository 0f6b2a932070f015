"""Readers for every input format, streaming, with the source and position of each record.

Encodings are detected with charset-normalizer (UTF-8, GB18030/GBK, Big5, UTF-16…) and recorded;
HTML main text is extracted with trafilatura (navigation, scripts and footers dropped); office files and PDF in
`office.py`, web archives in `web.py`, MediaWiki dumps in `wiki.py`, Hugging Face datasets in `hf.py`; a
plain-text corpus is split into its entries (`splitting.py`). What cannot be read is yielded as a ReadProblem
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

SUPPORTED = {".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl", ".csv", ".tsv", ".parquet", ".arrow",
             ".docx", ".xlsx", ".pptx", ".pdf", ".warc", ".wet", ".xml", ".warc.gz", ".wet.gz", ".xml.bz2"}
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


@dataclass(frozen=True)
class ReadOptions:
    """How inputs become records (the `data.text_split`, `data.text_separator` and `data.fields` settings)."""

    text_split: str = "auto"
    text_separator: str | None = None
    fields: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_config(cls, cfg: Any) -> ReadOptions:
        return cls(cfg.text_split, cfg.text_separator, tuple(sorted(cfg.fields.items())))


def suffix_of(path: Path) -> str:
    """The format suffix, compressed ones included ('.warc.gz', '.xml.bz2')."""
    s = path.suffixes[-2:]
    two = "".join(s).lower()
    return two if two in SUPPORTED else path.suffix.lower()


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


def record_doc(obj: Any, source: str, pos: dict, n: int, fields: tuple[tuple[str, str], ...] = ()
               ) -> Document | ReadProblem:
    """A structured record (JSON line, CSV row, Parquet/dataset row) as a Document; `fields` renames source
    columns to zaomo's (`text`, `messages`, `id`, …) first."""
    if not isinstance(obj, dict):
        return ReadProblem(source, pos.get("line"), f"expected a JSON object, got {type(obj).__name__}",
                           json.dumps(obj, ensure_ascii=False, default=str)[:2000])
    if fields:
        missing = [col for _, col in fields if col not in obj]
        if missing:
            return ReadProblem(source, pos.get("line") or pos.get("row"),
                               f"data.fields names column(s) {', '.join(missing)} absent here (columns: "
                               f"{', '.join(map(str, obj))})", json.dumps(obj, ensure_ascii=False, default=str)[:2000])
        obj = {**{k: v for k, v in obj.items() if k not in {c for _, c in fields}},
               **{ours: obj[col] for ours, col in fields}}
    text = _text_of(obj)
    rid = str(obj.get("id", f"{source}#{n}"))
    if text is None and not any(k in obj for k in ("messages", "conversations", "instruction", "prompt")):
        return ReadProblem(source, pos.get("line"), f"no text field (expected one of {', '.join(TEXT_FIELDS)}, "
                           "or a chat/preference record)", json.dumps(obj, ensure_ascii=False)[:2000])
    return Document(rid, text or "", source, {**pos, "format": "json"}, record=obj)


def _line_start(f, start: int) -> int:
    """Seek to the first line that starts at or after byte `start`; returns how many lines come before it."""
    if start <= 0:
        f.seek(0)
        return 0
    f.seek(start - 1)
    f.readline()  # the rest of the line `start` falls inside (just its newline if a line starts at `start`)
    stop, lines = f.tell(), 0
    f.seek(0)
    while f.tell() < stop:
        lines += f.read(min(2**24, stop - f.tell())).count(b"\n")
    return lines


def _read_jsonl(path: Path, source: str, fields: tuple = (),
                byte_range: tuple[int, int] | None = None) -> Iterator[Document | ReadProblem]:
    """Records of a JSON-lines file; with `byte_range` (start, end; -1 = to the end) only the lines that start
    inside it, numbered as in the whole file."""
    start, end = byte_range or (0, -1)
    with open(path, "rb") as f:
        n = _line_start(f, start)
        while end < 0 or f.tell() < end:
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
            yield record_doc(obj, source, {"line": n, "encoding": enc}, n, fields)


def html_text(data: str) -> str:
    import trafilatura

    return trafilatura.extract(data, include_comments=False, include_tables=True, favor_precision=True) or ""


def input_files(path: Path) -> list[Path]:
    """The files an input names, in reading order: itself, or a folder's files recursively, sorted, hidden
    ones skipped; a `datasets` save_to_disk folder is one input. A missing path is returned as is (reading it
    reports the problem)."""
    from .hf import is_saved_dataset

    if path.is_dir() and not is_saved_dataset(path):
        out: list[Path] = []
        for p in sorted(path.iterdir()):
            if not p.name.startswith("."):
                out += input_files(p) if p.is_dir() else [p]
        return out
    return [path]


def iter_documents(path: str | Path, root: str | Path | None = None, opts: ReadOptions | None = None,
                   byte_range: tuple[int, int] | None = None) -> Iterator[Document | ReadProblem]:
    """Every record under `path` (a file or a folder, recursively, sorted; or an `hf:` dataset spec); for a JSONL
    file, `byte_range` limits it to the lines starting inside (start, end)."""
    opts = opts or ReadOptions()
    if str(path).startswith("hf:"):
        from .hf import read_hub

        yield from read_hub(str(path)[3:], opts.fields)
        return
    path = Path(path)
    root = Path(root) if root else (path if path.is_dir() else path.parent)
    if path.is_dir():
        from .hf import is_saved_dataset, read_saved_dataset

        if is_saved_dataset(path):
            yield from read_saved_dataset(path, _rel(path, root) if path != root else path.name, opts.fields)
            return
        for p in input_files(path):
            yield from iter_documents(p, root, opts)
        return
    if not path.exists():
        yield ReadProblem(path.as_posix(), None, "no such file or folder")
        return
    source = _rel(path, root)
    suffix = suffix_of(path)
    if suffix not in SUPPORTED:
        yield ReadProblem(source, None, f"unsupported file type '{suffix}'; supported: {', '.join(sorted(SUPPORTED))}")
        return
    if path.stat().st_size == 0:
        yield ReadProblem(source, None, "empty file")
        return
    if byte_range is not None and suffix == ".jsonl":
        yield from _read_jsonl(path, source, opts.fields, byte_range)
        return
    reader = _BINARY_READERS.get(suffix)
    if reader is not None:
        yield from reader(path, source, opts)
        return
    data = path.read_bytes()
    if looks_binary(data):
        yield ReadProblem(source, None, "binary content in a text file", data[:64].hex())
        return
    text, enc = decode(data)
    if text is None:
        yield ReadProblem(source, None, enc, data[:2000].decode("latin-1"))
        return
    yield from _read_text(text, enc, suffix, source, opts)


def _read_text(text: str, enc: str, suffix: str, source: str, opts: ReadOptions) -> Iterator[Document | ReadProblem]:
    meta: dict[str, Any] = {"encoding": enc, "format": suffix.lstrip(".")}
    if suffix in (".html", ".htm"):
        text = html_text(text)
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
            yield record_doc(item, source, {"item": i, "encoding": enc}, i, opts.fields)
        return
    if suffix in (".csv", ".tsv"):
        reader = csv.DictReader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ",")
        for i, row in enumerate(reader, 2):
            yield record_doc(dict(row), source, {"line": i, "encoding": enc}, i, opts.fields)
        return
    if suffix in (".md", ".markdown"):
        first = text.lstrip().splitlines()[0] if text.strip() else ""
        if first.startswith("#"):
            meta["title"] = first.lstrip("# ").strip()
    if suffix == ".txt":
        from .splitting import split_entries

        entries = split_entries(text, opts.text_split, opts.text_separator)
        if len(entries) > 1:
            for k, (line, entry) in enumerate(entries, 1):
                yield Document(f"{source}#e{k}", entry, source, {**meta, "entry": k, "line": line})
            return
    yield Document(source, text, source, meta)


def _read_jsonl_file(path: Path, source: str, opts: ReadOptions) -> Iterator[Document | ReadProblem]:
    return _read_jsonl(path, source, opts.fields)


def _read_parquet(path: Path, source: str, opts: ReadOptions) -> Iterator[Document | ReadProblem]:
    import pyarrow.parquet as pq

    n = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):  # streamed: a big file never loads whole
        for row in batch.to_pylist():
            n += 1
            yield record_doc(row, source, {"row": n, "format": "parquet"}, n, opts.fields)


def _read_arrow(path: Path, source: str, opts: ReadOptions) -> Iterator[Document | ReadProblem]:
    from .hf import read_arrow_file

    return read_arrow_file(path, source, opts.fields)


def _office(name: str):
    def read(path: Path, source: str, _opts: ReadOptions) -> Iterator[Document | ReadProblem]:
        from . import office

        return getattr(office, name)(path, source)
    return read


def _web(path: Path, source: str, _opts: ReadOptions) -> Iterator[Document | ReadProblem]:
    from .web import read_warc

    return read_warc(path, source)


def _wiki(path: Path, source: str, _opts: ReadOptions) -> Iterator[Document | ReadProblem]:
    from .wiki import read_mediawiki

    return read_mediawiki(path, source)


_BINARY_READERS = {".jsonl": _read_jsonl_file, ".parquet": _read_parquet, ".arrow": _read_arrow,
                   ".docx": _office("read_docx"), ".xlsx": _office("read_xlsx"), ".pptx": _office("read_pptx"),
                   ".pdf": _office("read_pdf"), ".warc": _web, ".warc.gz": _web, ".wet": _web, ".wet.gz": _web,
                   ".xml": _wiki, ".xml.bz2": _wiki}
