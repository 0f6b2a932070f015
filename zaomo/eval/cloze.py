"""Cloze questions from your own documents: a sentence with one checkable span — a date, a number, a name or a
term — blanked out, the span as the answer and the sentence as the evidence. No annotator is needed and the
answer is checkable by the same unit matching as every QA item (zaomo.utils.answer_text).

Spans come from patterns (dates and numbers, Arabic or Chinese, with their unit) and, in Chinese text, from
jieba's part-of-speech tags (people nr, places ns, organisations nt, other proper nouns nz, Latin words); in
English text from capitalised names, acronyms and identifiers that do not open the sentence. A sentence is
used only when the span occurs once in it and enough of it is left around the blank to say what is asked.
Which sentences are picked is a function of the seed and the record ids, so the set is reproducible.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..utils.hashing import bucket
from ..utils.numerals import HAN_NUMERAL_CHARS

BLANK = "____"
PROMPT = {"zh": "填空：{q}", "en": "Fill in the blank: {q}"}
KINDS = ("date", "number", "name", "term")  # preference order when a sentence has several spans
MAX_SPAN_CHARS = 40

_SENT = re.compile(r"[^。！？!?\n]+(?:[。！？!?]+[”」』）)]?|$)|[^.\n]+?\.(?=\s|$)")
_EN_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])|\n+")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_WORD = re.compile(r"[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*")
_MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sept?(?:ember)?|"
          r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)")
_DATE = re.compile(
    r"\d{4}年(?:\d{1,2}月(?:\d{1,2}[日号])?)?|\d{1,2}月\d{1,2}[日号]|\d{4}-\d{1,2}-\d{1,2}"
    rf"|{_MONTH}\.? \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}}|\d{{1,2}} {_MONTH} \d{{4}}|{_MONTH} \d{{4}}"
    rf"|[{HAN_NUMERAL_CHARS}]{{2,4}}年(?:[{HAN_NUMERAL_CHARS}]{{1,2}}月)?")
_UNITS_ZH = "个人名位天年月日次楼层号岁倍项条家台所座页章节元角分米里公里千米公斤克吨小时分钟秒周届期批件张本股辆只头"
_UNITS_EN = r"(?:%|percent|km|kg|cm|mm|m|GB|MB|KB|TB|ms|s|h|hours?|minutes?|days?|years?|weeks?|months?|people|" \
            r"times|pages?|dollars?|euros?|yuan)"
_NUMBER = re.compile(
    rf"(?<![A-Za-z0-9.])\d+(?:[.,]\d+)*(?:\s?{_UNITS_EN}\b|\s?%|[万亿千百]?[{_UNITS_ZH}]?)"
    rf"|[{HAN_NUMERAL_CHARS}]{{2,}}[{_UNITS_ZH}]?|[一二两三四五六七八九十][{_UNITS_ZH}]")
_EN_NAME = re.compile(r"(?<![A-Za-z0-9'’-])(?:[A-Z][a-z]+(?:[ -](?:of |de |van |von )?[A-Z][a-z]+)*|[A-Z]{2,}[0-9]*|"
                      r"[A-Za-z]+[0-9][A-Za-z0-9]*|[a-z]+[A-Z][A-Za-z]*)(?![\w'’-])")
_JIEBA_KIND = {"nr": "name", "nrfg": "name", "nrt": "name", "ns": "name", "nt": "name", "nz": "term", "eng": "term"}
_EN_STOP = frozenset("""The A An It This That These Those He She They We You I In On At For If When Yes No Its
Their Our Your His Her There Here But And Or So Then After Before As Of To With From By Mr Mrs Ms Dr""".split())


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: str


def lang_of(text: str) -> str:
    han = len(_HAN.findall(text))
    return "zh" if han > 0.3 * max(1, han + len(_WORD.findall(text))) else "en"


def split_sentences(text: str) -> list[str]:
    """Sentences as they stand in the text (Chinese stops, English stops followed by a space, line breaks)."""
    out = []
    for line in re.split(r"\n+", text):
        if lang_of(line) == "zh":
            out += [m.group().strip() for m in _SENT.finditer(line)]
        else:
            out += [s.strip() for s in _EN_SENT.split(line)]
    return [s for s in out if s]


def _context(sentence: str, span: Span, lang: str) -> int:
    rest = sentence[:span.start] + " " + sentence[span.end:]
    return len(_HAN.findall(rest)) if lang == "zh" else len(_WORD.findall(rest))


def find_spans(sentence: str, lang: str | None = None) -> list[Span]:
    """Checkable spans of one sentence, non-overlapping, patterns before tags."""
    lang = lang or lang_of(sentence)
    spans: list[Span] = []

    def add(start: int, end: int, kind: str) -> None:
        text = sentence[start:end].strip()
        if not text or len(text) > MAX_SPAN_CHARS:
            return
        start = sentence.index(text, start)
        end = start + len(text)
        if any(s.start < end and start < s.end for s in spans):
            return
        spans.append(Span(start, end, kind))

    for m in _DATE.finditer(sentence):
        add(m.start(), m.end(), "date")
    for m in _NUMBER.finditer(sentence):
        add(m.start(), m.end(), "number")
    if lang == "zh":
        import jieba.posseg

        pos = 0
        for w in jieba.posseg.cut(sentence):
            kind = _JIEBA_KIND.get(w.flag)
            if kind and len(w.word.strip()) >= 2:
                add(pos, pos + len(w.word), kind)
            elif w.flag == "m" and len(w.word) >= 2 and any(c in HAN_NUMERAL_CHARS for c in w.word):
                add(pos, pos + len(w.word), "number")
            pos += len(w.word)
    else:
        first = _WORD.search(sentence)
        for m in _EN_NAME.finditer(sentence):
            word = m.group()
            if first is not None and m.start() == first.start() and re.fullmatch(r"[A-Z][a-z]+", word):
                continue  # a capital that only opens the sentence is no name
            if word.split()[0] in _EN_STOP:
                continue
            add(m.start(), m.end(), "name" if word[0].isupper() and not word.isupper() else "term")
    return sorted(spans, key=lambda s: s.start)


def cloze(sentence: str, span: Span, lang: str) -> str:
    return PROMPT[lang].format(q=sentence[:span.start] + BLANK + sentence[span.end:])


def sentence_items(sentence: str, min_context: int) -> Iterator[tuple[Span, str]]:
    """(span, language) for each usable blank in a sentence: the span occurs once, enough is left around it."""
    lang = lang_of(sentence)
    for sp in find_spans(sentence, lang):
        answer = sentence[sp.start:sp.end]
        if sentence.count(answer) != 1 or BLANK in sentence:
            continue
        if _context(sentence, sp, lang) < min_context:
            continue
        yield sp, lang


def cloze_items(records: Iterable[dict], limit: int, per_document: int = 2, min_context: int = 8,
                seed: int = 0, prefix: str = "cloze") -> list[dict]:
    """Questions over the records' sentences: at most `per_document` a record and `limit` in all, spread over
    the records (picked by a hash of seed, record and sentence, so the same corpus gives the same set).
    Items follow the QA contract plus `evidence` (the source sentence: the gold passage) and `kind`."""
    picked: list[tuple[int, dict]] = []
    for rec in records:
        text, rid = rec.get("text") or "", str(rec.get("id"))
        cands = []
        for k, sentence in enumerate(split_sentences(text)):
            options = list(sentence_items(sentence, min_context))
            if not options:
                continue
            best = min(KINDS.index(sp.kind) for sp, _ in options)
            options = [o for o in options if KINDS.index(o[0].kind) == best]
            sp, lang = options[bucket(f"{seed}|{rid}|{k}|span", len(options)) if len(options) > 1 else 0]
            cands.append((bucket(f"{seed}|{rid}|{k}"), sentence, sp, lang))
        for order, sentence, sp, lang in sorted(cands, key=lambda c: c[0])[:per_document]:
            picked.append((order, {
                "question": cloze(sentence, sp, lang), "answers": [sentence[sp.start:sp.end]],
                "doc_ids": [rec.get("source") or rid], "evidence": sentence, "kind": sp.kind, "lang": lang,
                "record_id": rid, "origin": "cloze"}))
    if len(picked) > limit:
        keep = sorted(range(len(picked)), key=lambda i: picked[i][0])[:limit]
        picked = [picked[i] for i in sorted(keep)]
    return [{"id": f"{prefix}-{n}", **item} for n, (_, item) in enumerate(picked, 1)]
