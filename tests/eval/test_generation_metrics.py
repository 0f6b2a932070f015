"""QA items with a long reference are also scored by ROUGE (characters for Chinese), BLEU (sacrebleu 'zh'
tokenizer) and chrF, and items with key points by key-point recall; all of it lands in the report."""

from __future__ import annotations

import pytest

from zaomo.eval.metrics import bleu, chrf
from zaomo.eval.runner import eval_qa


class Fixed:
    kind, path, chat_template = "local", "fixed", None

    def __init__(self, answers):
        self.answers = answers

    def generate(self, convs, max_new_tokens):
        return [self.answers[c[-1]["content"]] for c in convs]


ITEMS = [
    {"id": "z", "question": "报销流程是什么？", "answers": ["先提交申请，再由财务审核后打款"],
     "keypoints": ["提交申请", "财务审核", "发票"]},
    {"id": "e", "question": "What is the leave policy?", "answers": ["fifteen days"],
     "reference": "Employees get fifteen days of paid leave each year."},
    {"id": "s", "question": "研发部在几楼？", "answers": ["3楼"]},  # a short factoid: accuracy only
]
ANSWERS = {"报销流程是什么？": "先提交申请，再由财务审核后打款",
           "What is the leave policy?": "Employees get fifteen days of paid leave each year.",
           "研发部在几楼？": "研发部在3楼。"}


def test_long_references_get_rouge_bleu_chrf_and_keypoints():
    m, rows = eval_qa(Fixed(ANSWERS), ITEMS, 32, None)
    assert m["n_long"] == 2 and [r.get("reference") is not None for r in rows] == [True, True, False]
    assert m["rouge1"] == m["rouge2"] == m["rougeL"] == pytest.approx(1.0)
    assert m["bleu"] == pytest.approx(100.0) and m["chrf"] == pytest.approx(100.0)
    assert m["keypoint_recall"] == pytest.approx(2 / 3)  # 提交申请, 财务审核 — no 发票
    assert rows[0]["scores"]["rougeL"] == 1.0 and "rougeL" not in rows[2]["scores"]
    assert m["accuracy"] == 1.0


def test_chinese_is_scored_on_characters():
    answers = dict(ANSWERS, **{"报销流程是什么？": "先提交申请，财务审核后打款"})  # one clause shorter
    m, rows = eval_qa(Fixed(answers), ITEMS[:1], 32, None)
    # characters: pred 先提交申请财务审核后打款 (12), ref 先提交申请再由财务审核后打款 (14): LCS 12 → P=1, R=12/14
    assert rows[0]["scores"]["rougeL"] == pytest.approx(2 * (12 / 14) / (1 + 12 / 14))
    assert m["bleu"] == pytest.approx(bleu(["先提交申请，财务审核后打款"], ["先提交申请，再由财务审核后打款"]))
    assert 0 < m["bleu"] < 100 and 0 < m["chrf"] == pytest.approx(chrf(["先提交申请，财务审核后打款"],
                                                                         ["先提交申请，再由财务审核后打款"]))


def test_short_answers_only_report_that_there_were_no_long_references():
    m, _ = eval_qa(Fixed(ANSWERS), ITEMS[2:], 32, None)
    assert m["n_long"] == 0 and "rougeL" not in m and "bleu" not in m
