"""Wikipedia / MediaWiki XML dumps (plain or .bz2, streamed with mwxml): one record per article, the latest
revision's wikitext turned into the plain text a reader sees (mwparserfromhell) — templates (infoboxes,
navboxes), references, comments, files and categories removed; links kept as their text; headings kept as
lines; tables kept as rows of cells joined by " | ". Redirects and non-article namespaces are reported, not
silently skipped. Traditional Chinese pages are converted by `data.normalize.traditional_to_simplified`."""

from __future__ import annotations

import bz2
import re
from collections.abc import Iterator
from pathlib import Path

from ..utils.env import optional_import
from .readers import Document, ReadProblem

MEDIA_PREFIXES = ("file:", "image:", "category:", "文件:", "檔案:", "图像:", "圖像:", "分类:", "分類:", "media:")
DROP_TAGS = {"ref", "references", "gallery", "math", "score", "timeline", "templatestyles"}


def wikitext_to_text(wikitext: str) -> str:
    mwp = optional_import("mwparserfromhell", "sources", "Reading MediaWiki dumps")
    code = mwp.parse(wikitext)
    for table in code.filter_tags(recursive=True, matches=lambda n: str(n.tag).lower() == "table"):
        rows: list[list[str]] = [[]]  # cells before the first row mark (a header) form a row of their own
        for node in table.contents.filter_tags(recursive=False):
            tag = str(node.tag).lower()
            if tag == "tr":
                rows.append([_plain(mwp, c.contents) for c in node.contents.filter_tags(
                    recursive=False, matches=lambda n: str(n.tag).lower() in ("td", "th"))])
            elif tag in ("td", "th"):
                rows[-1].append(_plain(mwp, node.contents))
        lines = [" | ".join(c for c in row if c) for row in rows]
        _replace(code, table, "\n" + "\n".join(line for line in lines if line) + "\n")
    return _plain(mwp, code)


def _replace(code, node, text: str) -> None:
    try:
        code.replace(node, text)
    except ValueError:  # already removed with an enclosing node
        pass


def _plain(mwp, code) -> str:
    code = mwp.parse(str(code))
    for node in code.filter(recursive=True):
        if isinstance(node, mwp.nodes.Template) or isinstance(node, mwp.nodes.Comment) or (
                isinstance(node, mwp.nodes.Tag) and str(node.tag).lower() in DROP_TAGS) or (
                isinstance(node, mwp.nodes.Wikilink) and str(node.title).strip().lower().startswith(MEDIA_PREFIXES)):
            _replace(code, node, "")
    for h in code.filter_headings(recursive=True):
        _replace(code, h, "\n" + h.title.strip_code().strip() + "\n")
    text = code.strip_code(normalize=True, collapse=True)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def read_mediawiki(path: Path, source: str) -> Iterator[Document | ReadProblem]:
    mwxml = optional_import("mwxml", "sources", "Reading MediaWiki dumps")
    opener = bz2.open if path.name.lower().endswith(".bz2") else open
    with opener(path, "rb") as f:
        try:
            dump = mwxml.Dump.from_file(f)
        except Exception as e:  # mwxml raises XML and its own errors for a file that is not a dump
            yield ReadProblem(source, None, f"not a MediaWiki XML dump ({type(e).__name__}: {e})")
            return
        lang = getattr(dump.site_info, "dbname", None)
        for page in dump:
            pid = f"{source}#{page.id}"
            if page.redirect:
                yield ReadProblem(pid, None, f"'{page.title}' is a redirect to '{page.redirect}'")
                continue
            if page.namespace != 0:
                yield ReadProblem(pid, None, f"'{page.title}' is not an article (namespace {page.namespace})")
                continue
            latest = None
            for rev in page:
                latest = rev
            wikitext = (latest.text or "") if latest is not None else ""
            text = wikitext_to_text(wikitext)
            if not text:
                yield ReadProblem(pid, None, f"'{page.title}' has no text after markup removal", wikitext[:2000])
                continue
            yield Document(pid, f"{page.title}\n\n{text}", source,
                           {"format": "mediawiki", "title": page.title, "page_id": page.id, "wiki": lang,
                            "revision": latest.id, "timestamp": str(latest.timestamp) if latest.timestamp else None})
