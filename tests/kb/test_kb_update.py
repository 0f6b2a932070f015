"""KnowledgeBase.update: many document changes, one re-index; only new or changed chunks are segmented into
search terms (cached in terms.json across loads), and retrieval sees the change at once."""

from __future__ import annotations

from zaomo.kb import KnowledgeBase


def test_update_segments_only_changed_chunks_and_persists_terms(tmp_path):
    kb = KnowledgeBase(tmp_path / "kb", chunk_tokens=60, overlap_tokens=0)
    docs = {f"d{i}.md": f"# 文档{i}\n第{i}号仓库位于{i}号楼。Warehouse {i} is in building {i}." for i in range(10)}
    first = kb.update(docs)
    assert first["tokenized"] == first["chunks"] == first["chunks_added"] >= 10
    again = KnowledgeBase.load(kb.path)  # terms come from terms.json: nothing is segmented again
    assert again.last_index["tokenized"] == 0 and again.last_index["chunks"] == first["chunks"]
    res = again.update({"d3.md": "# 文档3\n第3号仓库搬到了99号楼。Warehouse 3 moved to building 99."}, ["d7.md", "nope"])
    n3 = sum(c.doc_id == "d3.md" for c in again.chunks)
    assert res["tokenized"] == res["chunks_added"] == n3 and res["chunks_dropped"] == n3 + 1
    assert "d7.md" not in again.documents() and len(again.documents()) == 9
    hit = KnowledgeBase.load(kb.path).search("Where is warehouse 3?", 1)[0]
    assert hit.doc_id == "d3.md" and "99" in hit.text
