"""Markdown-aware chunking: no sections inside code fences, line breaks kept in code and tables, and chunk
ids unique per record of a JSONL/CSV file and stable across rebuilds."""

from __future__ import annotations

import json

import pytest

from zaomo.kb import KnowledgeBase
from zaomo.kb.chunk import chunk_document

CODE = """# Setup
Install the tool. Then run it.
{fence}bash
# install
pip install zaomo
  # indented comment
zaomo demo
{fence}
After the code."""


@pytest.mark.parametrize("fence", ["```", "~~~", "````"])
def test_a_heading_inside_a_code_fence_is_code(fence):
    chunks = chunk_document("a.md", CODE.format(fence=fence), max_tokens=500, overlap=0)
    assert [(c.title, c.text) for c in chunks] == [(
        "Setup",
        f"Install the tool. Then run it.\n{fence}bash\n# install\npip install zaomo\n  # indented comment\n"
        f"zaomo demo\n{fence}\nAfter the code.")]


def test_an_unclosed_or_shorter_fence_keeps_the_block_open():
    text = "# A\n````\n# not a heading\n```\n# still code\n````\n# B\ntext"
    assert [c.title for c in chunk_document("a.md", text, 500, 0)] == ["A", "B"]


def test_table_rows_keep_their_line_breaks_and_prose_is_reflowed():
    text = ("# 价格\n下表列出价格。\n单位是元。\n| 产品 | 价格 |\n|---|---|\n| 甲 | 10 |\n| 乙 | 20 |\n"
            "以上含税。\n\nplan | price\n--- | ---\nbasic | 5\n\nOne. Two!")
    chunks = chunk_document("t.md", text, max_tokens=500, overlap=0)
    assert [c.text for c in chunks] == [
        "下表列出价格。单位是元。\n| 产品 | 价格 |\n|---|---|\n| 甲 | 10 |\n| 乙 | 20 |\n以上含税。\n"
        "plan | price\n--- | ---\nbasic | 5\nOne. Two!"]


def test_a_split_table_keeps_whole_rows_per_chunk():
    rows = [f"| item {i} | {i * 10} |" for i in range(10)]
    chunks = chunk_document("t.md", "# T\n" + "\n".join(rows), max_tokens=40, overlap=0)
    assert [c.text.split("\n") for c in chunks] == [rows[0:2], rows[2:4], rows[4:6], rows[6:8], rows[8:10]]


def test_hash_words_are_not_headings():
    text = "# Tags\n#hashtag is a word here.\n#1 priority is speed."
    assert [(c.title, c.text) for c in chunk_document("h.md", text, 500, 0)] == [
        ("Tags", "#hashtag is a word here. #1 priority is speed.")]


def test_mixed_language_prose_joins_english_with_spaces():
    text = "研发部在三楼。The lab opens at nine. It closes at six."
    assert chunk_document("m.md", text, 500, 0)[0].text == "研发部在三楼。The lab opens at nine. It closes at six."


def _files(root):
    root.mkdir(exist_ok=True)
    recs = [{"id": "q-1", "text": "年假每年十五天。"}, {"text": "报销需要经理审批。"}, {"text": "食堂中午开放。"},
            {"id": "q-1", "text": "重复的编号。"}]
    (root / "faq.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs),
                                    encoding="utf-8")
    (root / "rooms.csv").write_text("name,text\nA,会议室A在三楼。\nB,会议室B在五楼。\n", encoding="utf-8")
    return root


def test_records_of_a_file_have_unique_stable_chunk_ids(tmp_path):
    src = _files(tmp_path / "src")
    kb = KnowledgeBase(tmp_path / "kb", 200, 0)
    kb.add([src])
    ids = sorted(c.chunk_id for c in kb.chunks)
    assert ids == ["faq.jsonl:L2#0", "faq.jsonl:L3#0", "faq.jsonl:L4#0", "faq.jsonl:q-1#0",
                   "rooms.csv:L2#0", "rooms.csv:L3#0"]
    assert kb.documents() == ["faq.jsonl", "rooms.csv"]
    again = KnowledgeBase(tmp_path / "kb2", 200, 0)
    again.add([src])
    assert {c.chunk_id: c.text for c in again.chunks} == {c.chunk_id: c.text for c in kb.chunks}
    kb.add([src])  # re-adding a file replaces all of its records
    assert sorted(c.chunk_id for c in kb.chunks) == ids
    assert kb.search("会议室B在几楼", 1)[0].chunk_id == "rooms.csv:L3#0"
    kb.remove("faq.jsonl")
    assert sorted(c.chunk_id for c in KnowledgeBase.load(kb.path).chunks) == ["rooms.csv:L2#0", "rooms.csv:L3#0"]
