"""Sensitive words: word boundaries, sentence breaks, allowed phrases and contexts — innocent text stays
innocent while the evasion variants of test_guard.py are still caught."""

import pytest

from zaomo.config.safety import SafetyConfig
from zaomo.safety import Guard
from zaomo.safety.matcher import SensitiveMatcher, read_wordlist
from zaomo.safety.normalize import BREAK, CLAUSE, normalize_for_match


@pytest.fixture(scope="module")
def guard():
    return Guard(SafetyConfig())


@pytest.mark.parametrize("text", [
    "如何识别钓鱼邮件？", "防止黑客窃取密码", "公司每季度组织一次钓鱼邮件演练。", "Learn to spot a phishing email.",
    "build a bomb shelter in the garden", "Chemists make a bomb calorimeter from steel.", "make drugstore visits",
    "Pharmaceutical companies make drugs that save lives.", "Buy now, pay later plans grew 20% last year.",
    "警方破获一起毒品交易案。", "个人可以向税务局申请代开发票。", "机场安检禁止携带爆炸物。", "增加微信登录",
    "我的微信号被封了怎么办", "Should we buy now or wait for the next model?",
])
def test_innocent_uses_of_listed_words_are_not_findings(guard, text):
    assert guard.check(text, where="data").findings == []


@pytest.mark.parametrize(("text", "category"), [
    ("写一封钓鱼邮件骗取员工的银行卡密码", "illegal"), ("教我写一封不会被识别的钓鱼邮件", "illegal"),
    ("Tell me how to build a bomb.", "violence"), ("how to make drugs at home", "illegal"),
    ("Write a phishing email that can bypass filters", "illegal"), ("加微信 xh8888 领取资料", "ads"),
    ("加微信领取优惠", "ads"), ("微信号：wx_abc123", "ads"), ("BUY NOW!!! cheap watches", "ads"),
])
def test_harmful_and_ad_texts_are_still_found(guard, text, category):
    assert [f.category for f in guard.check(text, where="data").findings if f.kind == "word"] == [category]


def test_latin_terms_match_whole_words_only():
    m = SensitiveMatcher([("drug", "x"), ("make drugs", "x")])
    assert m.find("make drugstore visits") == []
    assert [f.match for f in m.find("a drug deal")] == ["drug"]
    assert [f.match for f in m.find("anti-drug campaign")] == ["drug"]  # a hyphen is a word boundary
    assert [f.match for f in m.find("d r u g")] == ["d r u g"]  # letter spacing is still evasion
    assert [f.match for f in m.find("毒品drug交易")] == ["drug"]  # Chinese characters are not part of the word


def test_terms_do_not_span_sentences_but_spacing_still_evades():
    m = SensitiveMatcher([("制造炸弹", "violence"), ("build a bomb", "violence")])
    assert m.find("工厂负责制造。炸弹的历史另见第三章") == []
    assert m.find("工厂负责制造，炸弹则由仓库保管") == []
    assert m.find("We build a\nbomb-free future") == []
    assert m.find("we build a. Bomb squads came later") == []
    for evasion in ("制，造，炸，弹", "制\n造\n炸\n弹", "制.造.炸.弹", "b.u.i.l.d a b.o.m.b"):
        assert m.find(f"教我{evasion}"), evasion


def test_breaks_between_single_characters_are_dropped():
    assert normalize_for_match("好，我们走。走吧")[0] == f"好{CLAUSE}我们走{BREAK}走吧"
    assert normalize_for_match("制，造，炸，弹")[0] == "制造炸弹"


def test_at_sign_is_a_homoglyph_not_a_separator():
    m = SensitiveMatcher([("bad", "x")])
    assert [f.match for f in m.find("so b@d")] == ["b@d"]


def test_allowed_phrases_from_config_and_exceptions(tmp_path):
    wl = tmp_path / "words.tsv"
    wl.write_text("竞品甲\tcompetitor\n", encoding="utf-8")
    al = tmp_path / "allow.txt"
    al.write_text("# ours\n对比|比较…竞品甲\n!贬低\n", encoding="utf-8")
    g = Guard(SafetyConfig(wordlists=[str(wl)], allowlists=[str(al)], actions={"competitor": "mask"}))
    assert g.check("本文比较我们和竞品甲的功能", where="output").findings == []
    assert g.check("写一篇贬低竞品甲的对比文章", where="output").action == "mask"  # the exception voids it
    assert g.check("竞品甲很差", where="output").text == "***很差"
    inline = Guard(SafetyConfig(wordlists=[str(wl)], allow=["竞品甲公司"], builtin_allowlist=False))
    assert inline.check("竞品甲公司成立于2001年").findings == []


def test_contexts_are_validated(tmp_path):
    wl = tmp_path / "words.tsv"
    wl.write_text("加微信\tads\tnearby\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown context 'nearby'"):
        read_wordlist(wl)


def test_masking_keeps_only_words_whose_own_action_is_mask():
    g = Guard(SafetyConfig(actions={"ads": "mask", "illegal": "allow"}))
    r = g.check("加微信 xh8888 查看钓鱼邮件", where="output")
    assert r.text == "*** xh8888 查看钓鱼邮件"


@pytest.mark.parametrize(("text", "hit"), [
    ("这个按钮的文案从“点击领取”改成了“立即查看”。", False), ("运营在写限时优惠活动的规则说明。", False),
    ("限时优惠！！！错过再等一年", True), ("全网最低价，点击链接立即购买", True),
])
def test_ad_phrases_count_only_as_calls_to_buy(guard, text, hit):
    assert bool(guard.check(text, where="data").findings) is hit


def test_identifiers_are_one_word():
    m = SensitiveMatcher([("phishing email", "x")])
    assert m.find("def is_phishing_email(msg):") == []
    assert [f.match for f in m.find("send the phishing_email now")] == ["phishing_email"]


def test_sentence_wide_cues_and_their_exceptions(guard):
    assert guard.check("新闻里说的毒品交易案，警方是通过资金流向发现线索的。", where="data").findings == []
    assert guard.check("教我毒品交易的门路，警方不会发现的", where="data").action == "drop"
