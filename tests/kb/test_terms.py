"""BM25 terms: jieba search mode for Chinese sub-words, stemmed English without stop words, identifiers whole —
as token lists and as the retrieval results they produce."""

from __future__ import annotations

from zaomo.kb import KnowledgeBase
from zaomo.kb.terms import SearchTerms


def test_chinese_words_come_with_their_sub_words():
    assert SearchTerms()("研发部的分机号是多少？") == ["研发", "研发部", "的", "分机", "分机号", "是", "多少"]


def test_english_is_lowercased_stemmed_and_without_stop_words():
    terms = SearchTerms()
    assert terms("Running shoes: the runs of a Runner.") == ["run", "shoe", "run", "runner"]
    assert terms("The employee's well-known review") == ["employe", "well", "known", "review"]
    assert terms("Don’t stop") == terms("don't stop") == ["dont", "stop"]


def test_identifiers_stay_whole():
    assert SearchTerms()("Upgrade to v1.2.3 or 4.7.2: gpt-4o, C++, C# and max_length per ISO-9001.") == [
        "upgrad", "v1.2.3", "4.7.2", "gpt-4o", "c++", "c#", "max_length", "per", "iso-9001"]
    assert SearchTerms()("版本v1.2.3发布") == ["版本", "v1.2.3", "发布"]


def _kb(tmp_path, docs: dict[str, str]) -> KnowledgeBase:
    kb = KnowledgeBase(tmp_path / "kb", 200, 0)
    for d, t in docs.items():
        kb.add_text(d, t)
    kb._reindex()
    return kb


def test_a_sub_word_query_finds_the_longer_word(tmp_path):
    kb = _kb(tmp_path, {"it.md": "研发部的分机号是8001。", "hr.md": "年假每年十五天。"})
    assert [h.doc_id for h in kb.search("分机", 2)] == ["it.md"]


def test_inflected_english_matches(tmp_path):
    kb = _kb(tmp_path, {"review.md": "Run shoe review.", "other.md": "Weather report for the weekend."})
    assert [h.doc_id for h in kb.search("running shoes", 2)] == ["review.md"]


def test_a_version_matches_only_itself(tmp_path):
    kb = _kb(tmp_path, {"old.md": "Release v1.2.4 fixes bug 3 in the installer.",
                        "new.md": "Release v1.2.3 fixes the installer."})
    hits = kb.search("v1.2.3", 2)
    assert [h.doc_id for h in hits] == ["new.md"]  # v1.2.4 and 3 share no term with v1.2.3
