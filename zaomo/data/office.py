"""Office documents and PDF as text: docx paragraphs and tables in reading order (a table row becomes one line
of cells joined by " | "), xlsx one record per sheet (rows of tab-separated cells), pptx one record per deck with
its slides' text, tables and notes, PDF one record per page — and a page without a text layer (a scan) reported
by number rather than skipped in silence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .readers import Document, ReadProblem

OCR_HINT = "no text layer (a scanned image?); run OCR on it first (e.g. ocrmypdf) and read the result"


def _cells_line(cells: list[str]) -> str:
    out: list[str] = []
    for c in cells:  # merged cells repeat their text in every grid position: keep one
        c = " ".join(c.split())
        if c and (not out or out[-1] != c):
            out.append(c)
    return " | ".join(out)


def read_docx(path: Path, source: str) -> Iterator[Document | ReadProblem]:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        d = docx.Document(str(path))
    except Exception as e:  # python-docx raises several types for a damaged file
        yield ReadProblem(source, None, f"not a readable docx ({e})")
        return
    lines: list[str] = []
    tables = 0
    for block in d.element.body.iterchildren():
        tag = block.tag.rsplit("}", 1)[-1]
        if tag == "p":
            t = Paragraph(block, d).text
            if t.strip():
                lines.append(t)
        elif tag == "tbl":
            tables += 1
            for row in Table(block, d).rows:
                line = _cells_line([c.text for c in row.cells])
                if line:
                    lines.append(line)
    yield Document(source, "\n".join(lines), source, {"format": "docx", "title": d.core_properties.title or None,
                                                      "tables": tables})


def read_xlsx(path: Path, source: str) -> Iterator[Document | ReadProblem]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(str(path), read_only=True, data_only=True)
    except Exception as e:  # zipfile/openpyxl errors for a damaged file
        yield ReadProblem(source, None, f"not a readable xlsx ({e})")
        return
    try:
        for ws in wb.worksheets:
            rows = ["\t".join("" if v is None else str(v) for v in row).rstrip("\t")
                    for row in ws.iter_rows(values_only=True)]
            text = "\n".join(r for r in rows if r.strip())
            if text:
                yield Document(f"{source}#{ws.title}", text, source, {"format": "xlsx", "sheet": ws.title})
            else:
                yield ReadProblem(source, None, f"sheet {ws.title!r} is empty")
    finally:
        wb.close()


def read_pptx(path: Path, source: str) -> Iterator[Document | ReadProblem]:
    from pptx import Presentation

    try:
        deck = Presentation(str(path))
    except Exception as e:  # python-pptx raises several types for a damaged file
        yield ReadProblem(source, None, f"not a readable pptx ({e})")
        return
    parts: list[str] = []
    for slide in deck.slides:
        lines: list[str] = []
        for shape in slide.shapes:
            if shape.has_text_frame:
                lines += [p for p in shape.text_frame.text.split("\n") if p.strip()]
            if getattr(shape, "has_table", False) and shape.has_table:
                lines += [line for row in shape.table.rows
                          if (line := _cells_line([c.text for c in row.cells]))]
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = slide.notes_slide.notes_text_frame.text.strip()
            if notes:
                lines.append(notes)
        if lines:
            parts.append("\n".join(lines))
    if not parts:
        yield ReadProblem(source, None, "no text on any slide")
        return
    yield Document(source, "\n\n".join(parts), source, {"format": "pptx", "slides": len(deck.slides)})


def read_pdf(path: Path, source: str) -> Iterator[Document | ReadProblem]:
    from pypdf import PdfReader

    try:
        reader = PdfReader(str(path))
        pages = list(reader.pages)
    except Exception as e:  # pypdf raises many error types for broken files
        yield ReadProblem(source, None, f"not a readable pdf ({e})")
        return
    for i, page in enumerate(pages, 1):
        try:
            t = page.extract_text() or ""
        except Exception as e:  # one damaged page: report it, read the rest
            yield ReadProblem(f"{source}#p{i}", i, f"page {i}: text extraction failed ({e})")
            continue
        if t.strip():
            yield Document(f"{source}#p{i}", t, source, {"format": "pdf", "page": i})
        else:
            has_image = bool(getattr(page, "images", None))
            yield ReadProblem(f"{source}#p{i}", i, f"page {i}: {OCR_HINT}" if has_image
                              else f"page {i}: no text on the page")
