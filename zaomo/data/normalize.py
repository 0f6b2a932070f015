"""Normalisers applied to every record before filtering: NFKC, mojibake (ftfy), control and ANSI
characters, whitespace, optional traditional→simplified."""

from __future__ import annotations

import re
import unicodedata

from ..config.data import NormalizeConfig

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028\u2029\ufeff]")
SPACES = re.compile(r"[ \t\u3000\xa0]+")
BLANKS = re.compile(r"\n\s*\n\s*\n+")


def normalize_text(text: str, cfg: NormalizeConfig) -> str:
    if cfg.fix_mojibake:
        import ftfy

        text = ftfy.fix_text(text, normalization="NFC", fix_character_width=False)
    if cfg.strip_control:
        text = CONTROL.sub("", ANSI.sub("", text))
    if cfg.nfkc:
        # NFKC folds full-width ASCII and compatibility forms; Chinese full-width punctuation (，。) is kept.
        text = "".join(c if c in "，。！？；：（）、“”‘’《》【】" else unicodedata.normalize("NFKC", c) for c in text)
    if cfg.traditional_to_simplified:
        from ..safety.normalize import to_simplified

        text = to_simplified(text)
    if cfg.collapse_whitespace:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = "\n".join(SPACES.sub(" ", line).strip() for line in text.split("\n"))
        text = BLANKS.sub("\n\n", text).strip()
    return text
