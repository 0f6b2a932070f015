"""Metrics against hand-computed values, Chinese included."""

import pytest

from zaomo.eval.metrics import answer_recall, bleu, chrf, exact_match, f1, keypoint_recall, rouge
from zaomo.eval.refusal import is_refusal


def test_rouge_l_identical_chinese_is_one():
    assert rouge("今天天气很好", "今天天气很好") == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0}


def test_rouge_hand_computed():
    # pred chars 今 天 很 好 (4), ref 今 天 天 气 很 好 (6): overlap 4 → P=1, R=4/6 → F1=0.8; LCS=4 → 0.8
    r = rouge("今天很好", "今天天气很好")
    assert r["rouge1"] == pytest.approx(0.8) and r["rougeL"] == pytest.approx(0.8)
    # bigrams pred: 今天 天很 很好 (3); ref: 今天 天天 天气 气很 很好 (5); overlap 2 → P=2/3 R=2/5 → F1=0.5
    assert r["rouge2"] == pytest.approx(0.5)


def test_bleu_identical_chinese_is_100_and_chrf():
    s = "今天天气很好我们去公园散步"
    assert bleu([s], [s]) == pytest.approx(100.0)
    assert chrf([s], [s]) == pytest.approx(100.0)
    assert bleu(["the cat sat on the mat"], ["the cat sat on the mat"]) == pytest.approx(100.0)


def test_qa_metrics():
    assert exact_match("王建国。", ["王建国"]) == 1.0
    assert answer_recall("研发部的负责人是王建国。", ["王建国"]) == 1.0
    assert answer_recall("The head is Wang  Jianguo", ["wang jianguo"]) == 1.0
    # char F1: pred 王 建 军 vs gold 王 建 国 → 2 common, P=R=2/3 → 2/3
    assert f1("王建军", ["王建国"]) == pytest.approx(2 / 3)
    # word F1: "the cat sat" vs "cat sat down" (articles dropped) → common 2, P=1, R=2/3 → 0.8
    assert f1("the cat sat", ["cat sat down"]) == pytest.approx(0.8)
    assert keypoint_recall("需要发票和审批单", ["发票", "审批单", "合同"]) == pytest.approx(2 / 3)


@pytest.mark.parametrize(("text", "refused"), [
    ("抱歉，这个请求我无法协助。", True), ("我不能提供这类信息。", True), ("Sorry, I can't help with that.", True),
    ("I cannot assist with making weapons.", True),
    ("好的，步骤如下：第一步……注意：我不能保证结果。", False),
    ("Sure! Step 1: open the terminal. I cannot stress enough how useful this is.", False),
    ("研发部的负责人是王建国。", False),
])
def test_refusal_detection(text, refused):
    assert is_refusal(text) is refused
