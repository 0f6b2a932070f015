"""Real sources at real sizes, through `run_pipeline`: a multi-MB plain-text corpus with separator lines, a long
document split instead of dropped, WARC/WET, a MediaWiki dump, Hugging Face datasets (save_to_disk, Parquet
folder, `hf:` spec) with field mapping, office files and a PDF with a scanned page — every record accounted for."""

from __future__ import annotations

import bz2
import io
import json
import random

import pytest

from zaomo.data import run_pipeline
from zaomo.data.readers import Document, ReadOptions, ReadProblem, iter_documents
from zaomo.workspace import Workspace

WORDS = ("river mountain library engineer morning garden window letter station market harbor lantern "
         "teacher student winter summer bridge village silver orange forest valley").split()


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 16))).capitalize() + "."


def _entry(rng: random.Random) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(2, 4)))


def _ws(tmp_path, *sets: str) -> Workspace:
    return Workspace.open(Workspace.init(tmp_path / "ws").root,
                          overrides=["data.inputs=[data/raw]", "data.dedup.near=false", "data.filters.min_chars=20",
                                     "data.workers=1", *sets])


def _accounted(rep) -> None:
    assert rep.read == rep.kept + rep.quarantined + rep.deduplicated
    assert rep.documents == rep.read - rep.split_parts + rep.split_documents


def _records(ws, split="train"):
    return [json.loads(x) for x in (ws.clean_dir / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]


def test_a_multi_mb_corpus_with_separators_and_a_long_document_become_many_records(tmp_path):
    rng = random.Random(0)
    ws = _ws(tmp_path, "data.filters.max_chars=20000")
    raw = ws.root / "data" / "raw"
    entries = [_entry(rng) for _ in range(12000)]
    (raw / "corpus.txt").write_text("\n%\n".join(entries) + "\n", encoding="utf-8")
    long_doc = "\n\n".join(" ".join(_sentence(rng) for _ in range(6)) for _ in range(400))  # ~250k chars
    (raw / "book.md").write_text(long_doc, encoding="utf-8")
    assert (raw / "corpus.txt").stat().st_size > 2_000_000 and len(long_doc) > 200_000

    rep = run_pipeline(ws, progress=False)
    _accounted(rep)
    assert "length" not in rep.dropped  # nothing quarantined for length
    assert rep.split_documents == 1 and rep.split_parts >= len(long_doc) // 20000
    assert rep.documents == len(entries) + 1
    kept = _records(ws) + _records(ws, "val")
    assert len(kept) > 10000
    entry = next(r for r in kept if r["id"].startswith("corpus.txt#e"))
    assert entry["meta"]["line"] >= 1 and entry["text"] in entries
    parts = sorted((r for r in kept if r["meta"].get("parent") == "book.md"), key=lambda r: r["meta"]["part"])
    assert all(len(p["text"]) <= 20000 for p in parts)
    for p in parts:  # each part is the source text at its recorded offset, cut at a paragraph or sentence end
        assert long_doc[p["meta"]["offset"]:].startswith(p["text"]) and p["text"].endswith(".")


def test_warc_and_wet_are_read_with_provenance(tmp_path):
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    rng = random.Random(1)
    page = f"<html><body><nav>home</nav><article><p>{_entry(rng)}</p><p>{_entry(rng)}</p></article></body></html>"
    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=True)
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
    w.write_record(w.create_warc_record("https://example.org/a", "response", payload=io.BytesIO(page.encode()),
                                        http_headers=http))
    png = StatusAndHeaders("200 OK", [("Content-Type", "image/png")], protocol="HTTP/1.1")
    w.write_record(w.create_warc_record("https://example.org/logo.png", "response",
                                        payload=io.BytesIO(b"\x89PNG\r\n..."), http_headers=png))
    w.write_record(w.create_warc_record("https://example.org/b", "conversion",
                                        payload=io.BytesIO(_entry(rng).encode()),
                                        warc_content_type="text/plain"))
    path = tmp_path / "crawl.warc.gz"
    path.write_bytes(buf.getvalue())

    out = list(iter_documents(path))
    docs = [d for d in out if isinstance(d, Document)]
    assert [d.meta["url"] for d in docs] == ["https://example.org/a", "https://example.org/b"]
    assert [d.meta["format"] for d in docs] == ["warc", "wet"] and "home" not in docs[0].text
    assert all(d.meta["warc_record_id"].startswith("<urn:uuid:") and d.meta["date"] for d in docs)
    [png_problem] = [p for p in out if isinstance(p, ReadProblem)]
    assert "logo.png" in png_problem.reason and "image/png" in png_problem.reason


MEDIAWIKI = """<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10" xml:lang="zh">
  <siteinfo><sitename>维基百科</sitename><dbname>zhwiki</dbname><base>https://zh.wikipedia.org/</base>
    <generator>MediaWiki 1.41</generator><case>first-letter</case>
    <namespaces><namespace key="0" case="first-letter" /><namespace key="10" case="first-letter">Template</namespace>
    </namespaces></siteinfo>
  <page><title>北京</title><ns>0</ns><id>1</id>
    <revision><id>11</id><timestamp>2024-01-01T00:00:00Z</timestamp><contributor><username>a</username><id>1</id>
      </contributor><model>wikitext</model><format>text/x-wiki</format>
      <text xml:space="preserve">{{Infobox city|name=北京}}
'''北京'''是[[中华人民共和国]]的[[首都]]。&lt;ref&gt;某书&lt;/ref&gt;
== 人口 ==
{| class="wikitable"
! 年份 !! 人口
|-
| 2010 || 1961万
|}
[[File:Beijing.jpg|thumb|天安门]]
[[Category:城市]]</text><sha1>x</sha1></revision></page>
  <page><title>北平</title><ns>0</ns><id>2</id><redirect title="北京" />
    <revision><id>12</id><timestamp>2024-01-01T00:00:00Z</timestamp><contributor><username>a</username><id>1</id>
      </contributor><model>wikitext</model><format>text/x-wiki</format><text xml:space="preserve">#REDIRECT [[北京]]</text>
      <sha1>y</sha1></revision></page>
  <page><title>Template:Infobox city</title><ns>10</ns><id>3</id>
    <revision><id>13</id><timestamp>2024-01-01T00:00:00Z</timestamp><contributor><username>a</username><id>1</id>
      </contributor><model>wikitext</model><format>text/x-wiki</format><text xml:space="preserve">{{{name}}}</text>
      <sha1>z</sha1></revision></page>
</mediawiki>"""


def test_a_mediawiki_dump_is_read_as_articles(tmp_path):
    path = tmp_path / "zhwiki-pages-articles.xml.bz2"
    path.write_bytes(bz2.compress(MEDIAWIKI.encode()))
    out = list(iter_documents(path))
    [doc] = [d for d in out if isinstance(d, Document)]
    assert doc.meta["title"] == "北京" and doc.meta["wiki"] == "zhwiki" and doc.meta["revision"] == 11
    assert "北京是中华人民共和国的首都。" in doc.text and "年份 | 人口\n2010 | 1961万" in doc.text
    for gone in ("Infobox", "某书", "Beijing.jpg", "天安门", "Category", "[[", "{{"):
        assert gone not in doc.text
    reasons = sorted(p.reason for p in out if isinstance(p, ReadProblem))
    assert reasons == ["'Template:Infobox city' is not an article (namespace 10)", "'北平' is a redirect to '北京'"]


def test_datasets_folders_and_hf_spec_with_field_mapping(tmp_path):
    datasets = pytest.importorskip("datasets")
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(2)
    texts = [_entry(rng) for _ in range(6)]
    ws = _ws(tmp_path, "data.fields={text: body, id: uid}")
    raw = ws.root / "data" / "raw"
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"uid": ["a", "b", "c"], "body": texts[:3]}),
                               "test": datasets.Dataset.from_dict({"uid": ["d"], "body": texts[3:4]})})
    dd.save_to_disk(str(raw / "saved"))
    (raw / "pq").mkdir()
    pq.write_table(pa.table({"uid": ["e", "f"], "body": texts[4:6]}), raw / "pq" / "part-0.parquet")

    rep = run_pipeline(ws, progress=False)
    _accounted(rep)
    kept = {r["id"]: r for r in _records(ws) + _records(ws, "val")}
    assert set(kept) == set("abcdef") and kept["a"]["text"] == texts[0] and kept["d"]["meta"]["split"] == "test"
    assert kept["e"]["source"] == "pq/part-0.parquet"

    # the same folder through `datasets.load_dataset` (what `hf:<hub id>` runs, offline here)
    docs = list(iter_documents(f"hf:{raw / 'pq'}", opts=ReadOptions(fields=(("id", "uid"), ("text", "body")))))
    assert [(d.id, d.text) for d in docs] == [("e", texts[4]), ("f", texts[5])]
    bad = list(iter_documents(f"hf:{raw / 'pq'}", opts=ReadOptions(fields=(("text", "content"),))))
    assert isinstance(bad[0], ReadProblem) and "content" in bad[0].reason and "body" in bad[0].reason


def test_office_files_and_a_scanned_pdf_page(tmp_path):
    import docx
    import matplotlib
    import numpy as np
    import openpyxl
    from pptx import Presentation
    from pptx.util import Inches

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    d = docx.Document()
    d.add_paragraph("研发部的分机号如下。")
    t = d.add_table(rows=2, cols=2)
    for (i, j), v in {(0, 0): "部门", (0, 1): "分机", (1, 0): "研发部", (1, 1): "8021"}.items():
        t.cell(i, j).text = v
    d.add_paragraph("表格之后的段落。")
    d.save(tmp_path / "a.docx")
    wb = openpyxl.Workbook()
    wb.active.title = "预算"
    wb.active.append(["部门", "预算"])
    wb.active.append(["研发部", 120])
    wb.save(tmp_path / "b.xlsx")
    deck = Presentation()
    s = deck.slides.add_slide(deck.slide_layouts[5])
    s.shapes.title.text = "季度回顾"
    tbl = s.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(4), Inches(1)).table
    for (i, j), v in {(0, 0): "指标", (0, 1): "数值", (1, 0): "用户", (1, 1): "3万"}.items():
        tbl.cell(i, j).text = v
    s.notes_slide.notes_text_frame.text = "讲者备注：强调增长。"
    deck.save(tmp_path / "c.pptx")
    with PdfPages(tmp_path / "d.pdf") as pdf:
        f = plt.figure()
        f.text(0.1, 0.5, "The research team designs products.")
        pdf.savefig(f)
        plt.close(f)
        f = plt.figure()
        ax = f.add_axes([0, 0, 1, 1])
        ax.imshow(np.random.default_rng(0).random((20, 20)))
        ax.axis("off")
        pdf.savefig(f)
        plt.close(f)

    by = {}
    for x in iter_documents(tmp_path):
        by.setdefault(x.source.split("#")[0].split("/")[-1], []).append(x)
    assert by["a.docx"][0].text == "研发部的分机号如下。\n部门 | 分机\n研发部 | 8021\n表格之后的段落。"
    assert by["b.xlsx"][0].text == "部门\t预算\n研发部\t120" and by["b.xlsx"][0].meta["sheet"] == "预算"
    assert by["c.pptx"][0].text.split("\n") == ["季度回顾", "指标 | 数值", "用户 | 3万", "讲者备注：强调增长。"]
    text_page, scanned = by["d.pdf"]
    assert isinstance(text_page, Document) and "research team" in text_page.text
    assert isinstance(scanned, ReadProblem) and scanned.line == 2 and "page 2" in scanned.reason
    assert "no text layer" in scanned.reason


def test_quality_rules_keep_technical_writing_and_text_about_markup():
    from zaomo.config.data import FilterConfig
    from zaomo.data.filters import make_filters

    f = dict(make_filters(FilterConfig()))
    example = "```python\nimport numpy as np\nx = np.zeros(3)\nprint(x)\n```"
    tech = "# NumPy\n\n" + "\n\n".join(f"Step {i}: make an array and print it.\n\n{example}" for i in range(4))
    assert f["repetition"](tech) is None and f["html"](tech) is None
    about = ("HTML pages are built from elements. The <div> element is a generic block container, while <span> "
             "marks a run of inline text. Every element opened with a tag such as <p> must be closed with </p>. "
             "Browsers forgive a missing </li>, but validators do not, so close your tags.")
    assert f["html"](about) is None
    assert f["html"]('<div class="nav"><a href="/">首页</a> | <a href="/news">新闻</a></div>&nbsp;研发部负责产品。')
    assert f["html"]("答案见 <script>alert(1)</script> 页面。")
    spam = "\n".join(["Buy the best shoes today at our store."] * 6 + ["Great prices every day."])
    assert f["repetition"](spam)
