"""The per-document policy: chat (SFT) records screened like text, filters judging the text as written, and
normalisation that keeps code indentation and the meaning of x² and H₂O."""

from __future__ import annotations

import pytest

from zaomo.config.data import DataConfig, NormalizeConfig
from zaomo.config.safety import SafetyConfig
from zaomo.data.dedup import Deduplicator
from zaomo.data.filters import make_filters
from zaomo.data.normalize import normalize_text
from zaomo.data.readers import Document
from zaomo.data.shards import SFT_FILTERS, clean_document
from zaomo.safety import Guard

GOOD_ZH = "星河云图科技的研发部负责产品的设计与开发，团队成员来自不同的城市，大家在总部大楼一起工作。"


def _clean(record_or_text, **data):
    cfg = DataConfig(**data)
    filters = make_filters(cfg.filters)
    if cfg.kind == "sft":
        filters = [(n, f) for n, f in filters if n in SFT_FILTERS]
    doc = (Document("d1", "", "x.jsonl", {}, record_or_text) if isinstance(record_or_text, dict)
           else Document("d1", record_or_text, "x.txt", {}))
    return clean_document(doc, cfg, Guard(SafetyConfig()), filters, Deduplicator(cfg.dedup))


def _chat(answer: str) -> dict:
    return {"messages": [{"role": "user", "content": "研发部在哪里？"}, {"role": "assistant", "content": answer}]}


def test_sft_pii_drop_quarantines_with_the_message_named():
    o = _clean(_chat("请联系王经理，手机13812345678。"), kind="sft", pii="drop")
    assert (o["kind"], o["step"], o["reason"]) == ("reject", "pii", "message 1 (assistant): mobile")


def test_sft_pii_mask_and_sensitive_words_per_message():
    o = _clean(_chat("请联系王经理，手机13812345678。"), kind="sft")
    assert o["kind"] == "keep" and o["record"]["messages"][1]["content"] == "请联系王经理，手机[手机号]。"
    assert o["masked"] == {"mobile": 1}
    bad = _clean(_chat("教你制造炸弹的方法。"), kind="sft")
    assert (bad["step"], bad["reason"]) == ("safety", "message 1 (assistant): violence: 制造炸弹")


def test_sft_records_run_content_filters_but_not_length():
    short = _clean({"messages": [{"role": "user", "content": "1+1=?"}, {"role": "assistant", "content": "2"}]},
                   kind="sft")
    assert short["kind"] == "keep"
    html = _clean(_chat("答案见 <script>alert(1)</script> 页面。"), kind="sft")
    assert html["step"] == "html"


def test_ads_filter_sees_the_ad_words_before_masking():
    o = _clean("限时优惠！加微信 xh8888 了解详情，欢迎大家来店里看看新款的春装和配饰，周末营业到晚上九点。")
    assert (o["kind"], o["step"]) == ("reject", "ads")
    assert "xh8888" in o["text"] and "加微信" not in o["text"]  # quarantined as masked


def test_pii_is_masked_even_when_sensitive_words_are_off():
    o = _clean(GOOD_ZH + "联系13812345678", sensitive=False)
    assert o["kind"] == "keep" and o["text"].endswith("联系[手机号]")


@pytest.mark.parametrize(("text", "expected"), [
    ("def f(x):\n    if x:\n\treturn x  ", "def f(x):\n    if x:\n\treturn x"),
    ("面积 = πr²，水是 H₂O，取 ½ 杯", "面积 = πr²，水是 H₂O，取 ½ 杯"),
    ("ＡＢＣ１２３ ﬁle ５㎏", "ABC123 file 5kg"),
    ("第一行   多余  空格\n\n\n\n  - 缩进的列表项", "第一行 多余 空格\n\n  - 缩进的列表项"),
])
def test_normalize_keeps_indentation_and_meaningful_compatibility_forms(text, expected):
    assert normalize_text(text, NormalizeConfig()) == expected
