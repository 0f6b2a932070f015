"""The demo corpus: deterministic, consistent facts, honest held-out split, real planted noise."""

import hashlib
import json

import ftfy

from zaomo.demo import facts, write_demo
from zaomo.demo.corpus import reading_drills
from zaomo.safety.pii import find_pii


def _hashes(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.suffix != ".docx"}


def test_deterministic(tmp_path):
    write_demo(tmp_path / "a", seed=3)
    write_demo(tmp_path / "b", seed=3)
    assert _hashes(tmp_path / "a") == _hashes(tmp_path / "b")
    write_demo(tmp_path / "c", seed=4)
    assert _hashes(tmp_path / "a") != _hashes(tmp_path / "c")


def test_facts_are_distinct_per_attribute():
    fs = facts(0)
    for attr in {f.attr for f in fs}:
        vals = [f.value for f in fs if f.attr == attr]
        assert len(vals) == len(set(vals)), attr


def test_heldout_answers_are_in_their_gold_docs_and_not_in_sft(tmp_path):
    write_demo(tmp_path)
    hb = tmp_path / "data" / "raw" / "handbook"
    qa = [json.loads(line) for line in (tmp_path / "data/eval/qa_heldout.jsonl").read_text("utf-8").splitlines()]
    sft = (tmp_path / "data/sft/train.jsonl").read_text("utf-8")
    assert len(qa) >= 40
    for item in qa:
        assert any(item["answers"][0] in (hb / d).read_text("utf-8") for d in item["doc_ids"]), item
        assert item["question"] not in sft
    assert any(not q["closed_book"] for q in qa) and any(q["closed_book"] for q in qa)


def test_planted_noise_is_real(tmp_path):
    m = write_demo(tmp_path)
    raw = tmp_path / "data" / "raw"
    moji = (raw / "web/history_mojibake.txt").read_text("utf-8")
    assert "星河" not in moji and "星河云图科技" in ftfy.fix_text(moji)
    gbk = (raw / "legacy/mission_gbk.txt").read_bytes()
    try:
        gbk.decode("utf-8")
        raise AssertionError("GBK file decoded as UTF-8")
    except UnicodeDecodeError:
        assert "星河" in gbk.decode("gbk")
    forum = (raw / "dumps/forum.jsonl").read_text("utf-8")
    assert {f.category for f in find_pii(forum)} >= {"id_card", "mobile", "email"}
    assert m.noise["exact_duplicate"] == 2 and m.noise["invalid_json_line"] == 1


def test_reading_drills_copy_from_their_passages():
    drills = reading_drills(0, 50)
    for d in drills:
        assert d["value"] in d["answer"] and any(d["value"] in p for p in d["passages"])
    assert len({d["question"] for d in drills}) == len(drills)
