"""Is a generated sentence supported by a passage sentence? Character n-gram overlap alone is the wrong test:
it accepts an inserted "不"/"not", a changed number ("十五天" → "十天") and a swapped name when the rest of a
long answer matches, and rejects a faithful paraphrase. Here a sentence is supported by a passage sentence when

1. the facts agree exactly: its numbers (as values, Arabic or Chinese: 十五 = 15), its negations (what is
   negated, in either text, is negated in both), its Latin names and acronyms and its quoted terms all occur
   in the passage sentence;
2. it adds no content of its own: its Han characters occur in the passage sentence, function characters
   aside (a Chinese name or department cannot be told from other words without a tagger, so "李建国" for
   "王建国" must fail here), and of its English content words about one in ten may be new (a paraphrase may
   say "leads" for "heads"; names are checked under 1);
3. it overlaps the passage sentence reasonably: at least half its unit bigrams occur there.

Answers shorter than four characters are checked by whole-unit containment in the passage instead."""

from __future__ import annotations

import re
import unicodedata

from ..utils.answer_text import answer_units, contains_answer, normalize, numbers
from .chunk import sentences

CITE = re.compile(r"\[(\d+)\]")
SHORT = 4
MIN_BIGRAM_RECALL = 0.5
NOVEL_EN_SHARE = 0.1  # new English content words allowed per content unit, rounded down

ZH_FUNCTION = set("的了是在有和与及或而且也都就还又被把将对向从到于为以之其这那此该个们着过吗呢吧啊呀嘛么很更最太"
                  "所能会可要由给让使得地位即乃则并等里上中内他她它我你您")
EN_STOP = frozenset("""a an the is are was were be been being am of in on at to for by with from and or as it its
this that these those which who whom whose what there their they he she his her we our you your i my me do does
did has have had will would can could should may might shall also very so than then into onto about over under
per each every any some all both located based""".split())
ZH_NEG = re.compile(r"没有|并非|并不|从不|从未|不|没|未|无|非|别|勿")
ZH_NOT_NEG = ("不过", "不仅", "不但", "不论", "不管", "不断", "不少", "不同", "不错", "不久", "无论", "非常", "未来",
              "否则", "除非", "无线", "非洲", "不得不")
EN_NEG = frozenset({"not", "no", "never", "without", "none", "nobody", "nothing", "neither", "nor"})
EN_SKIP = frozenset({"be", "been", "being", "a", "an", "the", "to", "very", "really", "always", "ever", "yet",
                     "at", "all", "any", "longer", "more"})
QUOTED = re.compile(r"[“「『《\"]([^”」』》\"]{1,40})[”」』》\"]")
LATIN_NAME = re.compile(r"(?<![A-Za-z0-9&])(?:[A-Z][A-Za-z0-9&.\-]*[A-Z0-9][A-Za-z0-9&\-]*|[A-Z][a-z][A-Za-z\-]*|[A-Z])"
                        r"(?![A-Za-z0-9&])")
SENTENCE_START_WORDS = frozenset("""The A An It This That These Those He She They We You I In On At For If When
Yes No Its Their Our Your His Her There Here""".split())
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_EN_WORD = re.compile(r"[a-z][a-z0-9&\-']*")


def _plain(text: str) -> str:
    return re.sub(r"[\W_]+", "", normalize(CITE.sub("", text)))


def _stem(w: str) -> str:
    for suf in ("ing", "ed", "es", "s"):
        if w.endswith(suf) and len(w) - len(suf) >= 3:
            return w[: -len(suf)]
    return w


def _en_words(text: str) -> list[str]:
    t = normalize(text).replace("n't", " not").replace("cannot", "can not")
    return _EN_WORD.findall(t)


def negated(text: str) -> set[str]:
    """What `text` negates: the two characters after a Chinese negator, the word after an English one
    ("研发部不在3楼" → {"在3"}; "is not open" → {"open"})."""
    out: set[str] = set()
    t = normalize(CITE.sub("", text))
    for m in ZH_NEG.finditer(t):
        if any(t.startswith(c, m.start() - i) for c in ZH_NOT_NEG for i in range(len(c))):
            continue
        rest = re.sub(r"[\W_]+", "", t[m.end():])
        if rest:
            out.add(rest[:2])
    words = _en_words(text)
    for i, w in enumerate(words):
        if w in EN_NEG:
            nxt = next((x for x in words[i + 1:] if x not in EN_SKIP), None)
            if nxt:
                out.add(_stem(nxt))
    return out


def names(text: str) -> set[str]:
    """Latin names and acronyms (capitalised words, "R&D", "GPU", "H200") and quoted terms, lower-cased."""
    body = CITE.sub("", text)
    found = {q.strip().lower() for q in QUOTED.findall(body) if q.strip()}
    for m in LATIN_NAME.finditer(body):
        w = m.group()
        at_start = not body[:m.start()].strip() or re.search(r"[.!?。！？]\s*$", body[:m.start()])
        if w == "I" or (at_start and w in SENTENCE_START_WORDS):
            continue
        found.add(w.lower())
    return found


def _content_units(text: str) -> list[str]:
    """Han characters (no function characters) and stemmed English content words."""
    han = [c for c in HAN.findall(normalize(text)) if c not in ZH_FUNCTION]
    return han + [_stem(w) for w in _en_words(text) if w not in EN_STOP and w not in EN_NEG]


def _bigrams(text: str) -> set[tuple[str, str]]:
    """Bigrams of units (Han characters, numbers as values, stemmed words; "never"/"no" read as "not")."""
    u = ["not" if x in EN_NEG or x.endswith("n't") else _stem(x) for x in answer_units(text) if x not in EN_STOP]
    return set(zip(u, u[1:]))


def facts_agree(sentence: str, passage: str) -> bool:
    """Numbers, negations, names and quoted terms of `sentence` agree with `passage` (see module docstring)."""
    if not set(numbers(sentence)) <= set(numbers(passage)):
        return False
    p_norm = normalize(passage)
    if any(not re.search(rf"(?<![a-z0-9]){re.escape(n)}(?![a-z0-9])", p_norm) for n in names(sentence)):
        return False
    neg_s, neg_p = negated(sentence), negated(passage)
    if not neg_s <= neg_p:
        return False
    s_plain, s_words = _plain(sentence), {_stem(w) for w in _en_words(sentence)}
    return not any((t in s_plain if HAN.search(t) or t.isdigit() else t in s_words) for t in neg_p - neg_s)


def sentence_supported(sentence: str, passage_sentence: str) -> bool:
    """One generated sentence against one passage sentence (facts, novelty, overlap)."""
    if not facts_agree(sentence, passage_sentence):
        return False
    mine = _content_units(sentence)
    theirs = set(_content_units(passage_sentence))
    novel = [u for u in mine if u not in theirs]
    if any(HAN.match(u) for u in novel) or len(novel) > int(NOVEL_EN_SHARE * len(mine)):
        return False
    b = _bigrams(sentence)
    return bool(b) and len(b & _bigrams(passage_sentence)) / len(b) >= MIN_BIGRAM_RECALL


def answer_sentences(text: str) -> list[str]:
    """The sentences of an answer, citation markers removed, empty pieces dropped."""
    out = []
    for s in sentences(CITE.sub("", text)):
        if _plain(s):
            out.append(s)
    return out


def supported_by(sentence: str, passages: list[str]) -> bool:
    """A sentence is supported when one sentence of one passage supports it; a short one (under four
    characters) when it occurs as whole units in a passage."""
    plain = _plain(sentence)
    if not plain:
        return False
    if len(plain) < SHORT or len(answer_units(sentence)) < 2:
        return any(contains_answer(p, unicodedata.normalize("NFKC", sentence)) for p in passages)
    return any(sentence_supported(sentence, ps) for p in passages for ps in sentences(p))


def grounded(text: str, passages: list[str]) -> bool:
    """Every sentence of `text` is supported by some passage (different sentences may use different ones)."""
    sents = answer_sentences(text)
    return bool(sents) and all(supported_by(s, passages) for s in sents)
