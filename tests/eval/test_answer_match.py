"""QA scoring on whole units: a gold answer is found as a whole number or word, not inside a longer one."""

from __future__ import annotations

import pytest

from zaomo.eval.metrics import answer_recall, exact_match, f1, keypoint_recall
from zaomo.utils.answer_text import answer_units, numbers
from zaomo.utils.numerals import parse_number


@pytest.mark.parametrize(("pred", "gold", "hit"), [
    ("年假有15天", "5天", False), ("年假有5天", "5天", True), ("年假有十五天", "五天", False),
    ("年假有十五天", "15天", True), ("年假共15天。", "十五天", True),
    ("I do not know", "no", False), ("No, it is not.", "no", True),
    ("The low was -3 degrees", "3", False), ("最低气温为-3度", "-3", True), ("最低气温为-3度", "3", False),
    ("The score is 3.5", "3", False), ("The score is 3.", "3", True), ("3.50 points", "3.5", True),
    ("I mostly write C++", "C", False), ("I mostly write C++", "C++", True), ("C# or C", "C", True),
    ("共有1,500人", "1500", True), ("约3万元", "3", False), ("排名第一百", "第一", False),
    ("研发部的负责人是王建国。", "王建国", True), ("The head is Wang  Jianguo", "wang jianguo", True),
])
def test_answer_recall_on_whole_units(pred, gold, hit):
    assert answer_recall(pred, [gold]) == float(hit)


def test_units_and_numbers():
    assert answer_units("共十五天，约3.5万元；C++ 与 the GPU") == ["共", "15", "天", "约", "35000", "元", "c++", "与",
                                                                   "gpu"]
    assert numbers("共十五天，约3.5万元，-2 度") == ["15", "35000", "-2"]
    assert parse_number("一百零五") == 105 and parse_number("二〇二四") == 2024 and parse_number("万一") is None


def test_exact_match_and_f1_keep_signs_and_decimals():
    assert exact_match("王建国。", ["王建国"]) == 1.0 and exact_match("The Nile", ["nile"]) == 1.0
    assert exact_match("-3", ["3"]) == 0.0 and exact_match("3.5", ["3"]) == 0.0 and exact_match("C++", ["C"]) == 0.0
    assert f1("-3", ["3"]) == 0.0
    # units 年 假 15 天 vs 15 天: 2 common, P=2/4, R=1 → 2/3
    assert f1("年假15天", ["十五天"]) == pytest.approx(2 / 3)


def test_keypoint_recall_on_whole_units():
    assert keypoint_recall("需要发票和审批单", ["发票", "审批单", "合同"]) == pytest.approx(2 / 3)
    assert keypoint_recall("报销上限15000元", ["5000元"]) == 0.0
