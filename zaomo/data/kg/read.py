"""Triples from files: CSV/TSV (subject, predicate, object[, lang], header optional, Chinese or English column
names), JSONL ({"subject","predicate","object"[, "lang"]}) and RDF N-Triples/Turtle through rdflib (IRIs
shortened to their local names; language tags kept). A row that cannot be a triple is yielded as a BadRow
with its file and line, for the quarantine — nothing is dropped silently."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from ...utils.env import optional_import

ALIASES = {
    "subject": {"subject", "s", "head", "entity", "主体", "主语", "实体", "头实体"},
    "predicate": {"predicate", "p", "relation", "property", "关系", "谓词", "属性"},
    "object": {"object", "o", "tail", "value", "客体", "宾语", "值", "尾实体"},
    "lang": {"lang", "language", "语言"},
}
RDF_FORMATS = {".nt": "nt", ".ttl": "turtle", ".n3": "n3"}
FORMATS = (".csv", ".tsv", ".jsonl", *RDF_FORMATS)


@dataclass(frozen=True)
class Triple:
    subject: str
    predicate: str
    object: str
    lang: str | None = None  # zh / en: the object (a name or text) is in that language only
    source: str = ""
    line: int | None = None

    @property
    def key(self) -> tuple[str, str, str, str | None]:
        return (self.subject, self.predicate, self.object, self.lang)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BadRow:
    source: str
    line: int | None
    reason: str
    raw: str

    def quarantine(self) -> dict:
        """The rejected record plus step and reason (DESIGN's quarantine contract)."""
        return {"raw": self.raw, "source": self.source, "line": self.line, "step": "kg.read", "reason": self.reason}


def norm_lang(tag: str | None) -> str | None:
    """zh-CN, zh-Hans → zh; en-US → en; empty → None."""
    tag = (tag or "").strip().lower()
    return re.split(r"[-_]", tag)[0] or None if tag else None


def read_triples(path: str | Path) -> Iterator[Triple | BadRow]:
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if suffix in (".csv", ".tsv"):
        yield from _read_csv(path, "\t" if suffix == ".tsv" else ",")
    elif suffix == ".jsonl":
        yield from _read_jsonl(path)
    elif suffix in RDF_FORMATS:
        yield from _read_rdf(path, RDF_FORMATS[suffix])
    else:
        raise ValueError(f"{path}: unknown triple format {suffix!r}; use one of {', '.join(FORMATS)}")


def _triple(s, p, o, lang, source: str, line: int | None, raw: str) -> Triple | BadRow:
    vals = [str(v).strip() if v is not None else "" for v in (s, p, o)]
    missing = [n for n, v in zip(("subject", "predicate", "object"), vals) if not v]
    if missing:
        return BadRow(source, line, f"empty {', '.join(missing)}", raw)
    return Triple(*vals, norm_lang(lang), source, line)


def _header(row: list[str]) -> dict[str, int] | None:
    """Column positions when the row is a header naming subject, predicate and object; else None."""
    cols: dict[str, int] = {}
    for i, cell in enumerate(row):
        name = cell.strip().lstrip("\ufeff").lower()
        for key, names in ALIASES.items():
            if name in names and key not in cols:
                cols[key] = i
    return cols if {"subject", "predicate", "object"} <= cols.keys() else None


def _read_csv(path: Path, delimiter: str) -> Iterator[Triple | BadRow]:
    src = str(path)
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        cols = None
        for n, row in enumerate(reader, 1):
            line = reader.line_num
            if not any(c.strip() for c in row):
                continue
            if n == 1 and (cols := _header(row)) is not None:
                continue
            c = cols or {"subject": 0, "predicate": 1, "object": 2, "lang": 3}
            raw = delimiter.join(row)
            if len(row) <= max(c["subject"], c["predicate"], c["object"]):
                yield BadRow(src, line, f"{len(row)} column(s); expected subject, predicate, object", raw)
                continue
            lang = row[c["lang"]] if "lang" in c and c["lang"] < len(row) else None
            yield _triple(row[c["subject"]], row[c["predicate"]], row[c["object"]], lang, src, line, raw)


def _read_jsonl(path: Path) -> Iterator[Triple | BadRow]:
    src = str(path)
    with path.open(encoding="utf-8-sig") as f:
        for line, text in enumerate(f, 1):
            if not text.strip():
                continue
            try:
                rec = json.loads(text)
            except json.JSONDecodeError as e:
                yield BadRow(src, line, f"not JSON: {e.msg}", text.rstrip("\n"))
                continue
            if not isinstance(rec, dict):
                yield BadRow(src, line, "not a JSON object", text.rstrip("\n"))
                continue
            get = {k: next((rec[a] for a in names if a in rec), None) for k, names in ALIASES.items()}
            yield _triple(get["subject"], get["predicate"], get["object"], get["lang"], src, line, text.rstrip("\n"))


def short_name(term) -> str:
    """A readable name for an RDF term: an IRI's local name (after #, / or :), a literal's text."""
    text = str(term)
    if type(term).__name__ == "URIRef":
        tail = re.split(r"[#/:]", text.rstrip("/#"))[-1]
        return tail or text
    return text


def _read_rdf(path: Path, fmt: str) -> Iterator[Triple | BadRow]:
    """Parsed by rdflib; N-Triples that fail as a whole are parsed line by line so only bad lines are held."""
    rdflib = optional_import("rdflib", "kg", "reading RDF triples")
    src = str(path)
    g = rdflib.Graph()
    try:
        g.parse(path, format=fmt)
    except Exception as e:  # noqa: BLE001 — rdflib raises several parser-specific types
        if fmt != "nt":
            raise ValueError(f"{src}: not valid {fmt}: {e}") from None
        g = rdflib.Graph()
        for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            try:
                g.parse(data=text, format="nt")
            except Exception as e:  # noqa: BLE001
                yield BadRow(src, line, f"not an N-Triples statement: {str(e).splitlines()[0][:200]}", text)
    names = _unique_short_names(g, rdflib)
    for s, p, o in sorted(g):
        lang = getattr(o, "language", None) if isinstance(o, rdflib.Literal) else None
        obj = names.get(o, str(o)) if not isinstance(o, rdflib.Literal) else str(o)
        yield _triple(names.get(s, str(s)), short_name(p), obj, lang, src, None, f"{s.n3()} {p.n3()} {o.n3()}")


def _unique_short_names(g, rdflib) -> dict:
    """IRI → its local name, or the full IRI where two resources would share a local name. A blank node gets
    an id from a hash of its own statements, not rdflib's per-parse label, so re-importing the same file
    gives the same graph (and an empty diff)."""
    nodes = {n for s, _, o in g for n in (s, o) if not isinstance(n, rdflib.Literal | rdflib.BNode)}
    by_short: dict[str, list] = {}
    for n in nodes:
        by_short.setdefault(short_name(n), []).append(n)
    out = {n: (short if len(ns) == 1 else str(n)) for short, ns in by_short.items() for n in ns}
    for b in {n for s, _, o in g for n in (s, o) if isinstance(n, rdflib.BNode)}:
        own = sorted(f"{p.n3()} {o.n3() if not isinstance(o, rdflib.BNode) else '_'}" for p, o in g.predicate_objects(b))
        out[b] = "_:" + hashlib.blake2b("\n".join(own).encode(), digest_size=6).hexdigest()
    return out
