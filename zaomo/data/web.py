"""Web archives: WARC (HTTP responses; HTML through the same main-text extractor as .html files) and WET
(Common Crawl's extracted text), plain or gzipped, streamed with warcio. Each record keeps its URL, date and
WARC record id; a response that is not text (an image, a PDF) or has no main text is reported, not dropped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..utils.env import optional_import
from .readers import Document, ReadProblem, decode, html_text

TEXT_TYPES = ("text/html", "application/xhtml+xml", "text/plain")


def read_warc(path: Path, source: str) -> Iterator[Document | ReadProblem]:
    warcio = optional_import("warcio.archiveiterator", "sources", "Reading WARC/WET files")
    with open(path, "rb") as f:
        try:
            for n, rec in enumerate(warcio.ArchiveIterator(f), 1):
                if rec.rec_type not in ("response", "conversion", "resource"):
                    continue  # warcinfo, request, metadata: about records, not documents
                url = rec.rec_headers.get_header("WARC-Target-URI") or ""
                rid = rec.rec_headers.get_header("WARC-Record-ID") or f"{source}#{n}"
                meta = {"format": "wet" if rec.rec_type == "conversion" else "warc", "url": url,
                        "date": rec.rec_headers.get_header("WARC-Date"), "warc_record_id": rid, "record": n}
                ctype = ((rec.http_headers.get_header("Content-Type") if rec.http_headers else None)
                         or rec.rec_headers.get_header("Content-Type") or "text/plain").split(";")[0].strip().lower()
                body = rec.content_stream().read()
                if rec.http_headers is not None and not rec.http_headers.get_statuscode().startswith("2"):
                    yield ReadProblem(source, n, f"{url}: HTTP {rec.http_headers.get_statuscode()}")
                    continue
                if ctype not in TEXT_TYPES:
                    yield ReadProblem(source, n, f"{url}: not text ({ctype})", body[:64].hex())
                    continue
                text, enc = decode(body)
                if text is None:
                    yield ReadProblem(source, n, f"{url}: {enc}", body[:2000].decode("latin-1"))
                    continue
                if ctype != "text/plain":
                    text = html_text(text)
                if not text.strip():
                    yield ReadProblem(source, n, f"{url}: no main text found")
                    continue
                yield Document(f"{source}#{n}", text, source, {**meta, "encoding": enc})
        except warcio.ArchiveLoadFailed as e:
            yield ReadProblem(source, None, f"not a readable WARC/WET file ({e})")
