"""Decontamination flags every overlapping item on whole units and reads benchmark CSVs; report-only mode
reports; MinHash-LSH candidates count as duplicates only at the threshold of estimated Jaccard."""

from __future__ import annotations

import json

import numpy as np
import pytest

from zaomo.config.data import DedupConfig
from zaomo.data import run_pipeline
from zaomo.data.decontam import NgramIndex
from zaomo.data.dedup import Deduplicator
from zaomo.workspace import Workspace

SHARED = "请问星河云图科技研发部的负责人是谁"


def test_every_item_sharing_an_ngram_is_flagged():
    idx = NgramIndex()
    idx.add("a", SHARED + "？")
    idx.add("b", "第二题：" + SHARED + "，他哪一年入职？")
    assert idx.overlaps("泄露的题目：" + SHARED + "。") == ["a", "b"]


def test_short_items_match_whole_words_only():
    idx = NgramIndex()
    idx.add("city", "New York")
    assert idx.overlaps("We ate Yorkshire pudding in New Yorkshire.") == []
    assert idx.overlaps("She moved to new york last spring.") == ["city"]


def test_benchmark_csvs_are_indexed(tmp_path):
    (tmp_path / "ceval_val.csv").write_text(
        "id,question,A,B,C,D,answer,explanation\n0,下列哪一项是我国最早的一部诗歌总集和文学作品,诗经,楚辞,论语,史记,A,\n",
        encoding="utf-8")
    (tmp_path / "mmlu_test.csv").write_text(
        '"Which of the following best describes the function of ribosomes in a living cell?",'
        "protein synthesis,lipid storage,energy,transport,A\n", encoding="utf-8")
    idx = NgramIndex.from_eval_dir(tmp_path)
    assert idx.overlaps("考题：下列哪一项是我国最早的一部诗歌总集和文学作品？") == ["ceval_val.csv:0"]
    assert idx.overlaps("Q: which of the following best describes the function of ribosomes in a living "
                        "cell? A: protein synthesis") == ["mmlu_test.csv:0"]


@pytest.mark.parametrize(("decontaminate", "dropped"), [(True, 1), (False, None)])
def test_report_only_mode_reports_what_it_would_drop(tmp_path, decontaminate, dropped):
    ws = Workspace.init(tmp_path)
    ws.eval_data_dir.mkdir(parents=True)
    (ws.eval_data_dir / "qa.jsonl").write_text(json.dumps({"id": "q1", "question": SHARED}, ensure_ascii=False)
                                               + "\n", encoding="utf-8")
    ws.raw_dir.mkdir(parents=True, exist_ok=True)
    (ws.raw_dir / "leak.txt").write_text(f"题目：{SHARED}？答案是王建国。这是一份泄露的试卷，不应进入训练集。",
                                         encoding="utf-8")
    ws = Workspace.open(tmp_path, overrides=[f"data.decontaminate={str(decontaminate).lower()}"])
    r = run_pipeline(ws, progress=False)
    assert r.dropped.get("decontaminate") == dropped
    assert [c["items"] for c in r.contaminated] == [["qa.jsonl:q1"]]


@pytest.mark.parametrize("store", ["memory", "disk"])
def test_lsh_candidates_are_verified_by_estimated_jaccard(tmp_path, store):
    cfg = DedupConfig(store=store)
    d = Deduplicator(cfg, tmp_path)
    rng = np.random.default_rng(0)
    a = rng.integers(1, 2**32, cfg.num_perm, dtype=np.uint64)
    r = d.lsh.r
    one_band = a.copy()
    one_band[r:] += 1  # shares the first band (an LSH candidate) but only r/num_perm of the values
    near = a.copy()
    near[: cfg.num_perm // 10] += 1  # 90% of the values agree
    assert d.check("a", "x", exact="h1", sig=a.tolist()) is None
    assert d.check("b", "y", exact="h2", sig=one_band.tolist()) is None  # r/num_perm < threshold
    assert d.check("c", "z", exact="h3", sig=near.tolist()) == ("near", "a")
    d.close()
