"""Sensitive-word matching with Aho-Corasick (pyahocorasick) over normalised text.

Words and text are normalised the same way (zaomo.safety.normalize), so "制 造 炸 弹", "製造炸彈",
full-width "ＢＵＹ ＮＯＷ" and "b0mb" with a zero digit all match. Matching is linear in the text length
whatever the size of the list.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ahocorasick

from .normalize import normalize_for_match

BUILTIN = Path(__file__).with_name("wordlists") / "builtin.tsv"


@dataclass
class Finding:
    kind: str  # word | pii | injection
    category: str
    start: int  # span in the original text
    end: int
    match: str


def read_wordlist(path: str | Path) -> list[tuple[str, str]]:
    """Lines of `word<TAB>category` (category defaults to 'custom'); '#' starts a comment."""
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, cat = line.partition("\t")
        if not word.strip():
            raise ValueError(f"{path}:{n}: empty word; expected `word<TAB>category`")
        out.append((word.strip(), cat.strip() or "custom"))
    return out


class SensitiveMatcher:
    def __init__(self, words: list[tuple[str, str]]):
        self.automaton = ahocorasick.Automaton()
        count = 0
        for word, cat in words:
            key, _ = normalize_for_match(word)
            if key:
                self.automaton.add_word(key, (key, cat, word))
                count += 1
        self.size = count
        if count:
            self.automaton.make_automaton()

    @classmethod
    def from_files(cls, paths: list[str | Path], builtin: bool = True) -> SensitiveMatcher:
        words: list[tuple[str, str]] = []
        if builtin:
            words += read_wordlist(BUILTIN)
        for p in paths:
            words += read_wordlist(p)
        return cls(words)

    def find(self, text: str) -> list[Finding]:
        if not self.size or not text:
            return []
        norm, index = normalize_for_match(text)
        found = []
        for end, (key, cat, _word) in self.automaton.iter(norm):
            start = end - len(key) + 1
            s, e = index[start], index[end] + 1
            found.append(Finding("word", cat, s, e, text[s:e]))
        return found
