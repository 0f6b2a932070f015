"""Answer text as comparable units: whole numbers (with sign and decimals, Arabic or Chinese, as values),
whole words (keeping "C++" and "C#"), and single Han characters. Checking a gold answer on these units
instead of as a substring means "5天" is not found in "15天", "no" not in "I do not know", "3" not in
"3.5" or "-3", "C" not in "C++" — while "十五天" still answers "15天"."""

from __future__ import annotations

import re
import unicodedata

from .numerals import HAN_NUMERAL_CHARS, canonical_number

CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
ARTICLES = frozenset({"a", "an", "the"})
_UNIT = re.compile(
    rf"(?P<num>(?:(?<![0-9a-z])[+-])?(?:\d+(?:\.\d+)?|[{HAN_NUMERAL_CHARS}])+)"
    rf"|(?P<word>[^\W\d_{CJK}][^\W{CJK}]*(?:'[^\W{CJK}]+)*(?:\+\+|#)?)"
    rf"|(?P<sym>[%‰℃°])"
    rf"|(?P<char>[{CJK}]|[^\W_])")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


def normalize(text: str) -> str:
    """NFKC (full-width → ASCII), lower case, one minus sign, no thousands separators."""
    text = unicodedata.normalize("NFKC", text).lower().replace("−", "-").replace("–", "-")
    return _THOUSANDS.sub("", text)


def answer_units(text: str, keep_articles: bool = False) -> list[str]:
    """The units of `text` in order; numbers are written as their value ("十五" → "15")."""
    out: list[str] = []
    for m in _UNIT.finditer(normalize(text)):
        u = m.group()
        if m.lastgroup == "num":
            out.append(canonical_number(u) or u.lstrip("+"))
        elif m.lastgroup == "word" and u in ARTICLES and not keep_articles:
            continue
        else:
            out.append(u)
    return out


def numbers(text: str) -> list[str]:
    """The numbers in `text` as values ("共十五天，3.5万元" → ["15", "35000"])."""
    return [canonical_number(m.group()) or m.group() for m in _UNIT.finditer(normalize(text))
            if m.lastgroup == "num" and canonical_number(m.group()) is not None]


def contains_answer(text: str, answer: str) -> bool:
    """`answer`'s units occur contiguously among `text`'s units (whole numbers and words only)."""
    a = answer_units(answer)
    if not a:
        return False
    t = answer_units(text)
    return any(t[i:i + len(a)] == a for i in range(len(t) - len(a) + 1))
