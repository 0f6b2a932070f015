"""Sensitive-word matching with Aho-Corasick (pyahocorasick) over normalised text.

Words and text are normalised the same way (zaomo.safety.normalize), so "制 造 炸 弹", "製造炸彈",
full-width "ＢＵＹ ＮＯＷ" and "b0mb" with a zero digit all match. Matching is linear in the text length
whatever the size of the list. Four things keep innocent text innocent:

- a term never spans a sentence break (normalize.BREAK);
- a term that starts or ends with a Latin letter or digit must start/end on a word boundary of the
  original text ("drug" does not match "drugstore", while "b o m b" and "b.o.m.b" still do);
- an allow-listed phrase ("识别…钓鱼邮件", "bomb shelter") that covers a match, or the edge of it where
  the term runs into a longer innocent phrase, suppresses the match;
- a term may name a context that must follow it in the same sentence (`contact`: "加微信" is an ad when
  an account id or a promotion follows, not in "增加微信登录").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import ahocorasick

from .normalize import BREAK, normalize_for_match

BUILTIN = Path(__file__).with_name("wordlists") / "builtin.tsv"
BUILTIN_ALLOW = Path(__file__).with_name("wordlists") / "allow.txt"
GAP = "…"  # in an allow-listed phrase: up to ALLOW_GAP characters of the same sentence
UNLESS = "!"  # starts an exception: in the match's sentence, it voids every allowed phrase
ALLOW_GAP = 10
WINDOW = 80  # characters either side of a match searched for allowed phrases
_CLAUSE = r"[^。！？；，,.!?;\n]"


class Context(NamedTuple):
    pattern: re.Pattern[str]  # matched on the original text right after the term
    example: str  # what a typical context looks like (benchmarks embed evasion variants in it)


CONTEXTS: dict[str, Context] = {
    # an account id, or a promotion, after a contact term: "加微信 xh888", "微信号：abc_123", "加微信领取优惠"
    "contact": Context(re.compile(
        r"[\s:：]*(?:号码?|账号|id|ID)?[\s:：]*(?:是|为)?[\s:：]*[A-Za-z0-9][A-Za-z0-9_-]{4,}"
        rf"|{_CLAUSE}{{0,12}}?(?:领取|优惠|咨询|详询|私聊|免费|返利|返现|赚钱|兼职|代理|下单|购买|折扣|福利|红包|"
        r"进群|拉群|特价|低价|秒杀|抢购|包邮|刷单)"), " xh8888"),
    # a call to buy, not a sentence about buying: an exclamation or an offer after it
    "promo": Context(re.compile(
        r"\s*!|\s*！" + rf"|{_CLAUSE}{{0,40}}?\b(?:click|offer|discount|deal|limited|coupon|free shipping|"
        r"\d+\s*% off|only \$)", re.IGNORECASE), "!"),
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
    """Lines of allowed phrases: `a|b…term|other` (alternatives with '|', a gap of up to ALLOW_GAP characters
    of the same sentence with '…'), or exceptions `!phrase`; '#' starts a comment."""
    return [line for _, line in _lines(path)]


def _allow_pattern(phrase: str) -> re.Pattern[str]:
    """An allowed phrase as a regex over normalised text: each alternative normalised like a term (a
    sentence break may fall anywhere inside it: "buy now, pay later"), parts joined by a bounded gap."""
    parts = []
    for part in phrase.split(GAP):
        alts = [normalize_for_match(a, breaks=False)[0] for a in part.split("|")]
        alts = [f"{BREAK}?".join(map(re.escape, a)) for a in alts if a]
        if alts:
            parts.append("(?:" + "|".join(alts) + ")")
    if not parts:
        raise ValueError(f"allow-listed phrase {phrase!r} is empty after normalisation")
    return re.compile(f"[^{BREAK}]{{0,{ALLOW_GAP}}}?".join(parts))


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
            if not self._on_word_boundaries(norm, index, start, end):
                continue
            s, e = index[start], index[end] + 1
            if ctx and not CONTEXTS[ctx].pattern.match(text, e):
                continue
            if self.allow and self._allowed(norm, start, end):
                continue
            found.append(Finding("word", cat, s, e, text[s:e]))
        return found

    @staticmethod
    def _on_word_boundaries(norm: str, index: list[int], start: int, end: int) -> bool:
        """A term starting (ending) with a letter or digit must not continue a word of the text: the
        normalised neighbour is not a letter/digit, or a separator stood between them in the original."""
        if _wordish(norm[start]) and start > 0 and _wordish(norm[start - 1]) \
                and index[start] - index[start - 1] <= 1:
            return False
        return not (_wordish(norm[end]) and end + 1 < len(norm) and _wordish(norm[end + 1])
                    and index[end + 1] - index[end] <= 1)

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
