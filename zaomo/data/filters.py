"""Quality filters, each named and configurable; each returns the reason a record fails, or None.

Rules follow Gopher (Rae et al. 2021: symbol ratio, repeated lines and n-grams) and ChineseWebText
(Chinese-character ratio, average line length), with character n-grams for Chinese where Gopher
counts words. Thresholds are the `data.filters` settings (docs/data.md lists them).

Technical writing is judged on its prose: code — fenced blocks (``` or ~~~), lines indented four spaces, and
`inline code` — is set aside before the repetition and HTML rules, because examples legitimately repeat lines
(`}`, `import numpy as np`) and name tags (`<div>`). The HTML rule asks for markup left by an extractor, not for
text about markup: a script or style element with its content, or tags and entities covering more than
`filters.max_markup_ratio` of the prose — counting tags with attributes, entities and tags run together; a tag
named inside a sentence ("the <div> element") is a mention, not markup.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

from ..config.data import FilterConfig
from .text import detect_language, han_ratio

AD_PATTERNS = re.compile(
    r"(加微信|加v信|加qq|点击领取|限时优惠|全网最低|免费领取|立即购买|扫码关注|代开发票|注册就送|"
    r"buy now|click here|limited offer|act now|free shipping|best price)", re.IGNORECASE)
ACTIVE_MARKUP = re.compile(r"<\s*(script|style|iframe)\b[^>]*>.*?<\s*/\s*\1\s*>|javascript:\S", re.I | re.S)
MARKUP = re.compile(r"</?[a-zA-Z][\w-]*(?:\s[^<>]{0,300})?/?>|&(?:nbsp|amp|lt|gt|quot|#\d+);", re.I)
CODE = re.compile(r"^(```|~~~).*?^\1[^\n]*$|^(?: {4}|\t)[^\n]*$|`[^`\n]+`", re.M | re.S)
GARBLED = re.compile(r"[\ufffd\u00c0-\u00ff]{2,}|[锟斤拷]{3,}|[�]")
DIGITS = re.compile(r"\d")  # decimal digits, counted in C (str.isdigit also counts ², ①)
SYMBOLS = re.compile(r"[#@$%^&*_=+|~<>{}\[\]\\/]")


def _dup_line_ratio(text: str) -> float:
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    if len(lines) < 3:
        return 0.0
    counts = Counter(lines)
    dup_chars = sum(len(line) * (c - 1) for line, c in counts.items() if c > 1)
    return dup_chars / max(1, sum(len(line) for line in lines))


def _dup_ngram_ratio(text: str, n: int = 10) -> float:
    """Share of text covered by n-grams that occur more than once (Gopher): character n-grams for
    Chinese, word n-grams for other languages. Vectorised: each n-gram is a polynomial hash of its unit ids,
    repeats are found with one np.unique, coverage with a difference array."""
    import numpy as np

    if han_ratio(text) > 0.3:
        units = np.frombuffer(re.sub(r"\s+", "", text).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    else:
        words = re.findall(r"\w+", text.lower())
        vocab: dict[str, int] = {}
        units = np.fromiter((vocab.setdefault(w, len(vocab) + 1) for w in words), np.uint64, len(words))
    m = len(units)
    if m < 4 * n:
        return 0.0
    w = m - n + 1
    h = np.zeros(w, np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            h = h * np.uint64(0x100000001B3) + units[j:j + w]
    _, inverse, counts = np.unique(h, return_inverse=True, return_counts=True)
    starts = np.flatnonzero(counts[inverse] > 1)
    diff = np.zeros(m + 1, np.int32)
    np.add.at(diff, starts, 1)
    np.add.at(diff, starts + n, -1)
    return float(np.count_nonzero(np.cumsum(diff[:m]))) / m


def prose(text: str) -> str:
    """The text without its code (fenced blocks, indented lines, inline code spans)."""
    return CODE.sub(" ", text)


def html_remnant(text: str, max_ratio: float) -> str | None:
    """Why `text` still holds markup from a page, or None; `text` is prose (code already set aside)."""
    m = ACTIVE_MARKUP.search(text)
    if m:
        return f"HTML/script remnant '{m.group()[:40]}'"
    found = list(MARKUP.finditer(text))
    # a tag named in a sentence ("the <div> element") is a mention; markup is a tag with attributes, an
    # entity, or a tag run into another tag ("</a></li><li>")
    marks = [m for i, m in enumerate(found)
             if m.group().startswith("&") or "=" in m.group()
             or (i > 0 and not text[found[i - 1].end():m.start()].strip())
             or (i + 1 < len(found) and not text[m.end():found[i + 1].start()].strip())]
    if len(marks) < 2:
        return None
    share = sum(len(m.group()) for m in marks) / max(1, len(text) - text.count(" "))
    return f"HTML markup covers {share:.2f} > filters.max_markup_ratio={max_ratio} ('{marks[0].group()[:40]}' …)" \
        if share > max_ratio else None


def make_filters(cfg: FilterConfig) -> list[tuple[str, Callable[[str], str | None]]]:
    def length(t: str) -> str | None:
        n = len(t)
        if n < cfg.min_chars:
            return f"{n} characters < filters.min_chars={cfg.min_chars}"
        if n > cfg.max_chars:
            return f"{n} characters > filters.max_chars={cfg.max_chars}"
        return None

    def garbled(t: str) -> str | None:
        bad = sum(len(m.group()) for m in GARBLED.finditer(t))
        r = bad / max(1, len(t))
        return f"garbled ratio {r:.2f} > {cfg.max_garbled_ratio}" if r > cfg.max_garbled_ratio else None

    def symbols(t: str) -> str | None:
        r = len(SYMBOLS.findall(t)) / max(1, len(t))
        if r > cfg.max_symbol_ratio:
            return f"symbol ratio {r:.2f} > {cfg.max_symbol_ratio}"
        d = len(DIGITS.findall(t)) / max(1, len(t))
        return f"digit ratio {d:.2f} > {cfg.max_digit_ratio}" if d > cfg.max_digit_ratio else None

    def repetition(t: str) -> str | None:
        t = prose(t)
        r = _dup_line_ratio(t)
        if r > cfg.max_dup_line_ratio:
            return f"repeated lines cover {r:.2f} > {cfg.max_dup_line_ratio}"
        r = _dup_ngram_ratio(t)
        return f"repeated 10-grams cover {r:.2f} > {cfg.max_dup_ngram_ratio}" if r > cfg.max_dup_ngram_ratio else None

    def language(t: str) -> str | None:
        if not cfg.languages:
            return None
        lang = "zh" if han_ratio(t) > 0.3 else detect_language(t)
        if lang not in cfg.languages:
            return f"language '{lang}' not in filters.languages={cfg.languages}"
        if lang == "zh" and han_ratio(t) < cfg.min_zh_ratio:
            return f"Chinese character ratio {han_ratio(t):.2f} < {cfg.min_zh_ratio}"
        return None

    def ads(t: str) -> str | None:
        hits = AD_PATTERNS.findall(t)
        return f"advertising patterns: {', '.join(sorted({h[0] if isinstance(h, tuple) else h for h in hits}))}" \
            if cfg.ads and len(hits) >= 2 else None

    def html(t: str) -> str | None:
        return html_remnant(prose(t), cfg.max_markup_ratio) if cfg.html_remnants else None

    return [("length", length), ("garbled", garbled), ("symbols", symbols), ("repetition", repetition),
            ("html", html), ("ads", ads), ("language", language)]
