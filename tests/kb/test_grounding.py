"""Grounding per sentence: numbers (十五 = 15), negation and names must agree with a passage sentence; a
faithful paraphrase and a short contained answer are supported; sentences may use different passages."""

from __future__ import annotations

import pytest

from zaomo.kb.answer import ground, support
from zaomo.kb.grounding import grounded, names, negated

ZH = ("研发部位于总部大楼3楼，负责公司所有产品的研发和测试工作。研发部的负责人是王建国，分机号是8123。"
      "正式员工每年有十五天带薪年假，年假可以分多次使用。")
CLAIMS = "报销申请提交后，财务部会在三个工作日内完成审核，审核通过的款项会在下一个工资日随工资一起发放到员工的银行卡。"
EN = ("The head of the R&D Department is Wang Jianguo. The cafeteria is open from 11:30 to 13:30 on weekdays "
      "and is not open on Sundays. Employees get 15 days of paid annual leave, which can be split.")


@pytest.mark.parametrize("answer", [
    "报销申请提交后，财务部不会在三个工作日内完成审核，审核通过的款项会在下一个工资日随工资一起发放到员工的银行卡。",
    "报销申请提交后，财务部会在三个工作日内完成审核，审核通过的款项没有在下一个工资日随工资一起发放到员工的银行卡。",
    "研发部位于总部大楼3楼，不负责公司所有产品的研发和测试工作。",  # inserted 不
    "研发部没有位于总部大楼3楼，负责公司所有产品的研发和测试工作。",  # inserted 没有
    "The head of the R&D Department is not Wang Jianguo.",
    "The cafeteria is open from 11:30 to 13:30 on weekdays and is open on Sundays.",  # dropped negation
    "Employees never get 15 days of paid annual leave, which can be split.",
])
def test_a_changed_negation_is_not_supported(answer):
    assert not support(answer, EN if answer.isascii() else ZH + CLAIMS)


@pytest.mark.parametrize(("answer", "passage"), [
    ("研发部位于总部大楼3楼，负责公司所有产品的研发和测试工作。研发部的负责人是王建国，分机号是8124。", ZH),
    ("正式员工每年有十天带薪年假，年假可以分多次使用。", ZH),  # 十五天 → 十天
    ("正式员工每年有15天带薪年假，年假可以分多次使用。研发部在9楼。", ZH),
    ("The head of the R&D Department is Wang Jianguo. Employees get 12 days of paid annual leave.", EN),
])
def test_a_changed_number_in_any_sentence_is_not_supported(answer, passage):
    assert not support(answer, passage)


@pytest.mark.parametrize(("answer", "passage"), [
    ("研发部的负责人是李建国，分机号是8123。", ZH),  # a changed name
    ("市场部的负责人是王建国，分机号是8123。", ZH),  # a changed department
    ("The head of the Sales Department is Wang Jianguo.", EN),
    ("The head of the R&D Department is Li Ming.", EN),
    ("天气很好，适合出去玩。", ZH),
])
def test_new_names_and_unrelated_content_are_not_supported(answer, passage):
    assert not support(answer, passage)


@pytest.mark.parametrize(("answer", "passage"), [
    ("研发部在总部大楼的3楼。", ZH),
    ("正式员工每年有15天带薪年假。", ZH),  # 15 = 十五
    ("研发部负责人是王建国，他的分机号是8123。", ZH),
    ("Wang Jianguo heads the R&D Department.", EN),
    ("The cafeteria never opens on Sundays.", EN),
    ("3楼", ZH), ("王建国", ZH), ("8123", ZH), ("R&D", EN),
])
def test_paraphrases_and_short_answers_are_supported(answer, passage):
    assert support(answer, passage)


def test_short_answers_must_be_contained_as_whole_units():
    assert not support("5天", "正式员工每年有15天带薪年假。") and not support("9楼", ZH)


def test_sentences_may_be_supported_by_different_passages():
    answer = "研发部的负责人是王建国。Employees get 15 days of paid annual leave."
    assert grounded(answer, [ZH, EN]) and not support(answer, ZH) and not support(answer, EN)


def test_ground_keeps_a_paraphrase_and_quotes_instead_of_a_negated_answer():
    hits = [ZH]
    kept, was_kept = ground("研发部在几楼？", "研发部在总部大楼的3楼[1]。", hits)
    assert was_kept and kept == "研发部在总部大楼的3楼[1]。"
    quoted, was_kept = ground("研发部在几楼？", "研发部不在总部大楼3楼。", hits)
    assert not was_kept and quoted.endswith("[1]") and quoted[:-3] in ZH


def test_negations_and_names_extracted():
    assert negated("研发部不在3楼，食堂周末不开放") == {"在3", "开放"}
    assert negated("It isn't open and never closes") == {"open", "clos"}
    assert names("The head of the R&D Department uses a GPU called “天河”.") == {"r&d", "department", "gpu", "天河"}
