"""Normalisers applied to every record before filtering: NFKC, mojibake (ftfy, where it is needed), control
and ANSI characters, whitespace, optional traditional→simplified.

NFKC folds what only looks different (full-width ASCII, ligatures, compatibility squares like ㎏) but not what
means something else when folded: superscripts, subscripts and vulgar fractions (x² is not x2, H₂O not H2O,
½ not 1⁄2), circled enumerators (①), and Chinese full-width punctuation. Whitespace is collapsed inside lines
but a line's leading indentation is kept: it is the structure of code, nested lists and quotes."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from ..config.data import NormalizeConfig

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028\u2029\ufeff]")
SPACES = re.compile(r"[ \t\u3000\xa0]+")
BLANKS = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")
INDENT = re.compile(r"^[ \t\u3000\xa0]*")
KEEP_CHARS = frozenset("，。！？；：（）、“”‘’《》【】")
KEEP_TAGS = ("<super>", "<sub>", "<fraction>", "<circle>")  # compatibility forms whose folding changes meaning


@lru_cache(maxsize=65536)
def _nfkc_char(c: str) -> str:
    if c in KEEP_CHARS or unicodedata.decomposition(c).startswith(KEEP_TAGS):
        return c
    return unicodedata.normalize("NFKC", c)


def _collapse_line(line: str) -> str:
    indent = INDENT.match(line).group()
    return indent + SPACES.sub(" ", line[len(indent):]).rstrip()


def fix_mojibake(text: str) -> str:
    """ftfy's repair (mojibake, HTML entities, terminal escapes, lossy sequences), run only on text that needs
    it: ftfy works line by line in Python and cost ~2 ms on a typical document — most of the cleaning time —
    while its own `is_bad` test (mojibake signatures) plus an entity check find the few texts it would change.
    Curly quotes stay curly (Chinese typesetting uses “”); every text gets Unicode NFC."""
    import ftfy
    from ftfy.badness import is_bad

    if is_bad(text) or "&" in text or "\x1b" in text or "\ufffd" in text:
        return ftfy.fix_text(text, normalization="NFC", fix_character_width=False, uncurl_quotes=False)
    return unicodedata.normalize("NFC", text)


def normalize_text(text: str, cfg: NormalizeConfig) -> str:
    if cfg.fix_mojibake:
        text = fix_mojibake(text)
    if cfg.strip_control:
        text = CONTROL.sub("", ANSI.sub("", text))
    if cfg.nfkc:
        text = "".join(map(_nfkc_char, text))
    if cfg.traditional_to_simplified:
        from ..safety.normalize import to_simplified

        text = to_simplified(text)
    if cfg.collapse_whitespace:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = "\n".join(_collapse_line(line) for line in text.split("\n"))
        text = BLANKS.sub("\n\n", text).strip("\n")
        text = text if text.strip() else ""
    return text
