"""Atomic writes and JSONL reading that names file and line."""

import pytest

from zaomo.utils.hashing import bucket, dir_hash, text_hash
from zaomo.utils.io import BadLine, InputError, atomic_open, iter_jsonl, read_jsonl, write_jsonl


def test_write_and_read_jsonl_keeps_chinese(tmp_path):
    p = tmp_path / "a.jsonl"
    assert write_jsonl(p, [{"text": "造模"}, {"text": "model"}]) == 2
    assert "造模" in p.read_text(encoding="utf-8")
    assert read_jsonl(p) == [{"text": "造模"}, {"text": "model"}]


def test_bad_line_raises_with_file_and_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"a": 1}\n\n{"a": \n[1, 2]\n', encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_jsonl(p)
    assert f"{p}:3" in str(e.value)
    items = list(iter_jsonl(p, on_error="yield"))
    assert items[0] == {"a": 1}
    assert [(b.line, "invalid JSON" in b.reason) for b in items[1:]] == [(3, True), (4, True)]
    assert all(isinstance(b, BadLine) for b in items[1:])


def test_atomic_open_leaves_old_file_when_writing_fails(tmp_path):
    p = tmp_path / "f.txt"
    p.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError), atomic_open(p) as f:
        f.write("half")
        raise RuntimeError("crash")
    assert p.read_text(encoding="utf-8") == "old"
    assert [q.name for q in tmp_path.iterdir()] == ["f.txt"]


def test_hashes_are_stable(tmp_path):
    assert text_hash("造模") == text_hash("造模") != text_hash("造模 ")
    assert bucket("id-1") == bucket("id-1") and 0 <= bucket("x", 10) < 10
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a").write_text("1")
    h = dir_hash(tmp_path / "d")
    (tmp_path / "d" / "a").write_text("2")
    assert dir_hash(tmp_path / "d") != h
