"""Sensitive-word matching with Aho-Corasick (pyahocorasick) over normalised text.

Words and text are normalised the same way (zaomo.safety.normalize), so "制 造 炸 弹", "製造炸彈",
full-width "ＢＵＹ ＮＯＷ" and "b0mb" with a zero digit all match. Matching is linear in the text length
whatever the size of the list. Four things keep innocent text innocent:

- a term never spans a sentence or clause break (normalize.BREAK, normalize.CLAUSE);
- a term that starts or ends with a Latin letter or digit must start/end on a word boundary of the
  original text ("drug" does not match "drugstore" nor the identifier "is_drug_x", while "b o m b" and
  "b.o.m.b" still do);
- an allow-listed phrase ("识别…钓鱼邮件", "bomb shelter") that covers a match, or the edge of it where
  the term runs into a longer innocent phrase, suppresses the match;
- a term may name a context that must follow it (`contact`: "加微信" is an ad when an account id or a
  promotion follows, not in "增加微信登录"; `promo`: "全网最低价" is an ad before "！" or a call to buy, not
  when a text quotes it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import ahocorasick

from .normalize import BREAK, CLAUSE, normalize_for_match

BUILTIN = Path(__file__).with_name("wordlists") / "builtin.tsv"
BUILTIN_ALLOW = Path(__file__).with_name("wordlists") / "allow.txt"
GAP, WIDE_GAP = "…", "……"  # in an allowed phrase: a few words of the same clause / of the same sentence
GAPS = {GAP: (10, 24), WIDE_GAP: (40, 60)}  # characters skipped (Chinese, Latin-script phrase)
UNLESS = "!"  # starts an exception: in the match's sentence, it voids every allowed phrase
WINDOW = 120  # characters either side of a match searched for allowed phrases
_SENTENCE = r"[^。！？.!?\n]"
_CLAUSE = r"[^。！？；，,.!?;\n]"
_PROMO_ZH = (r"立即|马上|赶快|抢购|下单|购买|链接|扫码|领取|优惠券|包邮|秒杀|名额有限|先到先得|礼包|红包|折扣|特价|低至|"
             r"仅需|只要\d|加微信|私聊|咨询")
_PROMO_EN = r"click|offer|discount|deal|limited|coupon|free shipping|\d+\s*%|only \$|\$\d"


class Context(NamedTuple):
    pattern: re.Pattern[str]  # matched on the original text right after the term
    example: str  # what a typical context looks like (benchmarks embed evasion variants in it)


CONTEXTS: dict[str, Context] = {
    # an account id, or a promotion, after a contact term: "加微信 xh888", "微信号：abc_123", "加微信领取优惠"
    "contact": Context(re.compile(
        r"[\s:：]*(?:号码?|账号|id|ID)?[\s:：]*(?:是|为)?[\s:：]*[A-Za-z0-9][A-Za-z0-9_-]{4,}"
        rf"|{_CLAUSE}{{0,12}}?(?:领取|优惠|咨询|详询|私聊|免费|返利|返现|赚钱|兼职|代理|下单|购买|折扣|福利|红包|"
        r"进群|拉群|特价|低价|秒杀|抢购|包邮|刷单)"), " xh8888"),
    # a call to buy, not a text about one: not quoted, and an exclamation or another call to buy after it in
    # the same sentence ("限时优惠！！！", "全网最低价，点击链接立即购买", not "文案“点击领取”改成了…")
    "promo": Context(re.compile(
        rf"(?![”\"」』’'])(?:\s*[!！]|{_SENTENCE}{{0,40}}?(?:{_PROMO_ZH}|(?<![A-Za-z])(?:{_PROMO_EN})))",
        re.IGNORECASE), "!"),
}


@dataclass
class Finding:
    kind: str  # word | pii | injection
    category: str
    start: int  # span in the original text
    end: int
    match: str


def _lines(path: str | Path) -> Iterable[tuple[int, str]]:
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            yield n, line


def read_wordlist(path: str | Path) -> list[tuple[str, str, str]]:
    """Lines of `word<TAB>category[<TAB>context]` (category defaults to 'custom'; context is one of
    CONTEXTS, required after the word); '#' starts a comment."""
    out = []
    for n, line in _lines(path):
        word, cat, ctx = ([p.strip() for p in line.split("\t")] + ["", ""])[:3]
        if not word:
            raise ValueError(f"{path}:{n}: empty word; expected `word<TAB>category`")
        if ctx and ctx not in CONTEXTS:
            raise ValueError(f"{path}:{n}: unknown context {ctx!r}; one of {sorted(CONTEXTS)}")
        out.append((word, cat or "custom", ctx))
    return out


def read_allowlist(path: str | Path) -> list[str]:
    """Lines of allowed phrases: `a|b…term|other` (alternatives with '|'; '…' skips a few words of the same
    clause, '……' of the same sentence), or exceptions `!phrase`; '#' starts a comment."""
    return [line for _, line in _lines(path)]


def _allow_pattern(phrase: str) -> re.Pattern[str]:
    """An allowed phrase as a regex over normalised text: each alternative normalised like a term (a break
    may fall anywhere inside it: "buy now, pay later"), parts joined by bounded gaps, longer for Latin script
    (letters per word)."""
    pieces = re.split(f"({WIDE_GAP}|{GAP})", phrase)
    latin = sum(c.isascii() for c in phrase) > len(phrase) / 2
    out = []
    for i, piece in enumerate(pieces):
        if i % 2:
            n = GAPS[piece][latin]
            out.append(f"[^{BREAK}{CLAUSE}]{{0,{n}}}?" if piece == GAP else f"[^{BREAK}]{{0,{n}}}?")
            continue
        alts = [normalize_for_match(a, breaks=False)[0] for a in piece.split("|")]
        alts = [f"[{BREAK}{CLAUSE}]?".join(map(re.escape, a)) for a in alts if a]
        if not alts:
            raise ValueError(f"allowed phrase {phrase!r}: part {piece!r} is empty after normalisation")
        out.append("(?:" + "|".join(alts) + ")")
    return re.compile("".join(out))


def _wordish(c: str) -> bool:
    """A letter or digit of an alphabetic script (CJK characters are not words of their own)."""
    return c.isalnum() and ord(c) < 0x2E80


class SensitiveMatcher:
    def __init__(self, words: Sequence[tuple[str, ...]], allow: Iterable[str] = ()):
        self.automaton = ahocorasick.Automaton()
        count = 0
        for word, cat, *rest in words:
            ctx = rest[0] if rest else ""
            if ctx and ctx not in CONTEXTS:
                raise ValueError(f"unknown context {ctx!r} for {word!r}; one of {sorted(CONTEXTS)}")
            key, _ = normalize_for_match(word, breaks=False)
            if key:
                self.automaton.add_word(key, (key, cat, word, ctx))
                count += 1
        self.size = count
        if count:
            self.automaton.make_automaton()
        allow = list(allow)
        self.allow = [_allow_pattern(p) for p in allow if not p.startswith(UNLESS)]
        self.unless = [_allow_pattern(p[1:]) for p in allow if p.startswith(UNLESS)]

    @classmethod
    def from_files(cls, paths: Sequence[str | Path], builtin: bool = True, allow_paths: Sequence[str | Path] = (),
                   builtin_allow: bool = True, allow: Iterable[str] = ()) -> SensitiveMatcher:
        words: list[tuple[str, str, str]] = []
        if builtin:
            words += read_wordlist(BUILTIN)
        for p in paths:
            words += read_wordlist(p)
        phrases = list(allow)
        if builtin_allow:
            phrases += read_allowlist(BUILTIN_ALLOW)
        for p in allow_paths:
            phrases += read_allowlist(p)
        return cls(words, phrases)

    def find(self, text: str) -> list[Finding]:
        if not self.size or not text:
            return []
        norm, index = normalize_for_match(text)
        found = []
        for end, (key, cat, _word, ctx) in self.automaton.iter(norm):
            start = end - len(key) + 1
            if not self._on_word_boundaries(text, norm, index, start, end):
                continue
            s, e = index[start], index[end] + 1
            if ctx and not CONTEXTS[ctx].pattern.match(text, e):
                continue
            if self.allow and self._allowed(norm, start, end):
                continue
            found.append(Finding("word", cat, s, e, text[s:e]))
        return found

    @staticmethod
    def _on_word_boundaries(text: str, norm: str, index: list[int], start: int, end: int) -> bool:
        """A term starting (ending) with a letter or digit must not continue a word of the text: the
        normalised neighbour is not a letter/digit, or a separator stood between them in the original — but
        not "_" inside an identifier ("is_phishing_email" is one name)."""
        if _wordish(norm[start]) and start > 0:
            s = index[start]
            if _wordish(norm[start - 1]) and s - index[start - 1] <= 1 or text[s - 2:s - 1].isalnum() and text[s - 1] == "_":
                return False
        if _wordish(norm[end]) and end + 1 < len(norm):
            e = index[end]
            if _wordish(norm[end + 1]) and index[end + 1] - e <= 1 or text[e + 1:e + 2] == "_" and text[e + 2:e + 3].isalnum():
                return False
        return True

    def _allowed(self, norm: str, start: int, end: int) -> bool:
        """An allowed phrase covers the match, or one edge of it (the term is the start or end of a longer
        innocent phrase: "build a bomb" + "bomb shelter"), unless an exception occurs in its sentence."""
        lo, hi = norm.rfind(BREAK, 0, start) + 1, norm.find(BREAK, end)
        hi = len(norm) if hi < 0 else hi
        if any(rx.search(norm, lo, hi) for rx in self.unless):
            return False
        lo, hi = max(0, start - WINDOW), min(len(norm), end + 1 + WINDOW)
        for rx in self.allow:
            for m in rx.finditer(norm, lo, hi):
                a, b = m.start(), m.end() - 1
                if a <= end and start <= b and (a <= start or b >= end):
                    return True
        return False
