"""Multiple choice: shots and the scored continuation come from one template, full-choice shots show the
option text, and an answer that is not exactly one valid letter/index is an error that says where and how."""

from __future__ import annotations

import pytest

from zaomo.eval.choice_data import load_choice_sets, read_csv_items
from zaomo.eval.runner import eval_choice
from zaomo.utils.io import InputError, write_jsonl


class Recorder:
    """A target that records what it is asked to score and prefers the first option."""

    def __init__(self):
        self.ctxs, self.conts = [], []

    def loglikelihoods(self, ctxs, conts):
        self.ctxs, self.conts = ctxs, conts
        return [0.0 if c.strip() in ("A", "甲") else -1.0 for c in conts]


SHOT = {"id": "s", "question": "1+1=?", "choices": ["1", "2"], "answer": "B", "subject": "m"}
ITEM = {"id": "q", "question": "中国的首都是？", "choices": ["甲", "乙"], "answer": 0, "subject": "m"}


@pytest.mark.parametrize(("mode", "shot_answer", "conts"), [
    ("letter", " B", [" A", " B"]), ("full", " 2", [" 甲", " 乙"])])
def test_shot_answers_and_scored_continuations_have_one_form(mode, shot_answer, conts):
    tgt = Recorder()
    m, _ = eval_choice(tgt, [ITEM], mode=mode, shots=1, dev={"m": [SHOT]})
    assert tgt.conts == conts and m["accuracy"] == 1.0
    assert tgt.ctxs[0] == f"1+1=?\nA. 1\nB. 2\n答案：{shot_answer}\n\n中国的首都是？\nA. 甲\nB. 乙\n答案："
    # the shot, answered, reads exactly like the prompt followed by its own scored continuation
    shot_prompt = "1+1=?\nA. 1\nB. 2\n答案："
    assert tgt.ctxs[0].startswith(shot_prompt + (conts[1] if mode == "letter" else " 2"))


@pytest.mark.parametrize("bad", ["AB", "E", 2, "1", True, ""])
def test_jsonl_answer_must_be_exactly_one_valid_option(tmp_path, bad):
    f = tmp_path / "mc.jsonl"
    write_jsonl(f, [SHOT, dict(ITEM, answer=bad)])
    with pytest.raises(InputError, match=r"mc\.jsonl:2: item 'q': answer .* is not exactly one of the option "
                                         r"letters A, B — give one letter"):
        load_choice_sets(f)


def test_valid_answers_are_normalised_to_letters(tmp_path):
    f = tmp_path / "mc.jsonl"
    write_jsonl(f, [dict(ITEM, answer=1), dict(ITEM, id="r", answer=" b ")])
    items, _ = load_choice_sets(f)
    assert [i["answer"] for i in items] == ["B", "B"]


def test_csv_answer_ab_is_refused(tmp_path):
    f = tmp_path / "s_val.csv"
    f.write_text("id,question,A,B,C,D,answer\n0,1+1=?,1,2,3,4,AB\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"s_val\.csv:2: answer 'AB' is not exactly one"):
        read_csv_items(f)


def test_items_passed_directly_are_checked_before_scoring():
    tgt = Recorder()
    with pytest.raises(ValueError, match="item 'q': answer 'AB'"):
        eval_choice(tgt, [dict(ITEM, answer="AB")])
    assert tgt.ctxs == []
