"""Text normalisation for matching: what evasion tricks change, we undo before looking.

Full-width forms (NFKC), traditional characters (OpenCC t2s), case, common homoglyphs (Cyrillic/Greek
letters that look Latin, digits and "@"/"$" used as letters), and separators inserted between characters
(spaces, punctuation, zero-width characters) are all folded. Sentence-level punctuation is kept as one
character — BREAK for the end of a sentence (。！？…, a Latin ".!?" followed by a space, a line break), CLAUSE
between clauses (，、；：, a Latin ",;:" followed by a space) — so a term cannot match across two sentences
or clauses; a break next to a run of single characters ("教我制，造，炸，弹", one letter per line)
is spacing, not sentence structure, and is dropped like any other separator. We keep a map from each
normalised character back to its position in the original, so a match can be masked in the original text.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

HOMOGLYPHS = str.maketrans({
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s",
    "в": "b", "к": "k", "м": "m", "н": "h", "т": "t", "ԁ": "d", "ո": "n", "ս": "u",
    "А": "a", "В": "b", "Е": "e", "К": "k", "М": "m", "Н": "h", "О": "o", "Р": "p", "С": "c", "Т": "t",
    "Х": "x", "α": "a", "ο": "o", "ρ": "p", "ν": "v", "τ": "t", "ι": "i", "κ": "k",
    "0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s",
})
ZERO_WIDTH = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"}
AS_LETTERS = "@$"  # folded to "a"/"s" by HOMOGLYPHS, so they are letters, never separators
BREAK = "\n"  # the end of a sentence in normalised text; never part of a normalised term
CLAUSE = "\x1f"  # a break between clauses of one sentence; never part of a normalised term
BREAKS = {**dict.fromkeys("。｡！？…\n\r\u2028\u2029", BREAK), **dict.fromkeys("，、；：", CLAUSE)}  # wherever they are
LATIN_BREAKS = {**dict.fromkeys(".!?．", BREAK), **dict.fromkeys(",;:", CLAUSE)}  # before a space or the end
_BREAK_CODEPOINTS = tuple(sorted(ord(c) for c in (*BREAKS, *LATIN_BREAKS)))


@lru_cache(maxsize=1)
def _t2s():
    try:
        from opencc import OpenCC
    except ImportError:
        return None
    try:
        return OpenCC("t2s")
    except Exception:  # the binary package wants 't2s.json'
        return OpenCC("t2s.json")


@lru_cache(maxsize=1)
def _t2s_table() -> dict[int, str]:
    """Traditional → simplified per character, built once from OpenCC over the CJK blocks: matching needs
    characters, not phrases, and str.translate is ~100x faster than converting every text with OpenCC."""
    cc = _t2s()
    if cc is None:
        return {}
    table: dict[int, str] = {}
    for lo, hi in ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF)):
        chars = [chr(c) for c in range(lo, hi + 1)]
        for start in range(0, len(chars), 2000):
            part = chars[start:start + 2000]
            conv = cc.convert("\n".join(part)).split("\n")
            if len(conv) != len(part):  # a phrase rule joined lines: fall back to one character at a time
                conv = [cc.convert(c) for c in part]
            for a, b in zip(part, conv):
                if a != b and len(b) == 1:
                    table[ord(a)] = b
    return table


def to_simplified(text: str) -> str:
    return text.translate(_t2s_table())


def _is_separator(ch: str) -> bool:
    if ch in ZERO_WIDTH or ch.isspace():
        return True
    if ch in AS_LETTERS:
        return False
    return unicodedata.category(ch)[0] in "PS"


def _break(text: str, i: int) -> str:
    """BREAK, CLAUSE or '' for the separator text[i] (sentences are written with a space after ". , ;")."""
    ch = text[i]
    if ch in BREAKS:
        return BREAKS[ch]
    if ch in LATIN_BREAKS and (i + 1 == len(text) or text[i + 1].isspace()):
        return LATIN_BREAKS[ch]
    return ""


@lru_cache(maxsize=65536)
def _norm_char(ch: str, homoglyphs: bool) -> str:
    """One character's matching form (NFKC, lower case, homoglyphs folded; '' for a separator). Cached:
    text uses few distinct characters, so the per-character Unicode work is done once per character."""
    out = []
    for c in unicodedata.normalize("NFKC", ch).lower():
        if not _is_separator(c):
            out.append(c.translate(HOMOGLYPHS) if homoglyphs else c)
    return "".join(out)


def normalize_for_match(text: str, homoglyphs: bool = True, breaks: bool = True) -> tuple[str, list[int]]:
    """Return (normalised text, index map into the original). Separators are dropped; with `breaks`,
    sentence and clause breaks become BREAK and CLAUSE (terms are normalised without them, so no match spans
    one)."""
    import numpy as np

    simplified = to_simplified(text)
    if len(simplified) != len(text):  # OpenCC is per-character for t2s; guard against phrase changes
        simplified = text
    # per distinct character, not per character: each one's matching form once, then numpy for the layout
    cps = np.frombuffer(simplified.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    uniq, inv = np.unique(cps, return_inverse=True)
    forms = [_norm_char(chr(c), homoglyphs) for c in uniq.tolist()]
    lens = np.fromiter(map(len, forms), np.int64, len(forms))[inv]
    norm = simplified.translate({c: f for c, f in zip(uniq.tolist(), forms) if f != chr(c)})
    index: list[int] = np.repeat(np.arange(len(cps)), lens).tolist()
    before = np.cumsum(lens) - lens  # position in the output of each original character
    sep = np.flatnonzero(lens == 0)
    at = before[sep]
    gaps: list[int] = at[np.r_[True, at[1:] != at[:-1]]].tolist() if len(at) else []  # output positions after one
    cuts: dict[int, tuple[int, str]] = {}  # position in the output → (original index, kind) of the break before it
    if breaks:  # only punctuation can break; spaces (most separators) need no look
        cand = sep[np.isin(cps[sep], _BREAK_CODEPOINTS)]
        for i, pos in zip(cand.tolist(), before[cand].tolist()):
            kind = _break(simplified, i)
            if kind and (pos not in cuts or kind == BREAK and cuts[pos][1] != BREAK):
                cuts[pos] = (i, kind)
    if not cuts:
        return norm, index
    bounds = [0, *gaps, len(index)]
    sizes = [b - a for a, b in zip(bounds, bounds[1:])]  # piece k lies between separators k-1 and k

    def spaced(k: int) -> bool:  # one character of a run of single characters ("制，造，炸")
        return sizes[k] == 1 and ((k > 0 and sizes[k - 1] == 1) or (k + 1 < len(sizes) and sizes[k + 1] == 1))

    keep = [pos for k, pos in enumerate(gaps)
            if pos in cuts and 0 < pos < len(index) and not spaced(k) and not spaced(k + 1)]
    parts, idx, last = [], [], 0
    for pos in keep:
        parts += [norm[last:pos], cuts[pos][1]]
        idx += index[last:pos] + [cuts[pos][0]]
        last = pos
    parts.append(norm[last:])
    idx += index[last:]
    return "".join(parts), idx
