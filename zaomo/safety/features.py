"""What the safety classifier sees of a text: character 1–4-grams (Chinese needs no segmentation for them),
jieba words and word pairs, and concept classes from a small lexicon (safety/data/concepts.tsv).

Characters and words alone learn the training prompts' exact vocabulary; the concept classes let what one
prompt teaches about "rifle" carry to "pistol", and pairs of concepts (HOWTO + POISON, SELF + KILL) carry
intent rather than topic, which is what separates "how do I kill myself" from "how do I kill a process".
Everything is normalised first as the word-list matcher does (full width, traditional characters, case), so
the evasions the matcher undoes do not move the classifier either.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from importlib import resources

import ahocorasick

from .normalize import to_simplified

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_LATIN = re.compile(r"[a-z0-9]")


def prepare(text: str) -> str:
    """NFKC, simplified characters, lower case, zero-width characters dropped."""
    return to_simplified(unicodedata.normalize("NFKC", text)).lower().translate(_ZERO_WIDTH)


def words(text: str) -> list[str]:
    """jieba's words of a prepared text (Latin words come out whole), blanks and punctuation dropped."""
    import jieba

    return [w for w in jieba.lcut(text) if w.strip() and not unicodedata.category(w[0]).startswith(("P", "Z"))]


def read_concepts(text: str | None = None) -> list[tuple[str, str]]:
    """(term, concept) pairs from concepts.tsv text (the built-in lexicon by default)."""
    if text is None:
        text = resources.files("zaomo.safety").joinpath("data/concepts.tsv").read_text(encoding="utf-8")
    out = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        concept, _, terms = line.partition("\t")
        out += [(t.strip().lower(), concept.strip()) for t in terms.split("|") if t.strip()]
    return out


class ConceptAnalyzer:
    """Text → its concept classes and every pair of them, as tokens for a vectorizer. Pickled as its term
    list (the automaton is rebuilt on load), so a saved classifier carries the lexicon it was trained with."""

    def __init__(self, terms: Iterable[tuple[str, str]]):
        self.terms = list(terms)
        self._build()

    def _build(self) -> None:
        self._auto = ahocorasick.Automaton()
        for term, concept in self.terms:
            prefix = term.endswith("*")
            word = term.rstrip("*")
            self._auto.add_word(word, (len(word), concept, prefix, bool(_LATIN.match(word))))
        self._auto.make_automaton()

    def __getstate__(self) -> dict:
        return {"terms": self.terms}

    def __setstate__(self, state: dict) -> None:
        self.terms = state["terms"]
        self._build()

    def concepts(self, text: str) -> list[str]:
        found = set()
        for end, (n, concept, prefix, latin) in self._auto.iter(text):
            start = end - n + 1
            if latin and ((start > 0 and text[start - 1].isalnum())
                          or (not prefix and end + 1 < len(text) and text[end + 1].isalnum())):
                continue  # a Latin term matches whole words ('ex' not in 'explain'), or word starts with '*'
            found.add(concept)
        return sorted(found)

    def __call__(self, text: str) -> list[str]:
        cs = self.concepts(text)
        return cs + [f"{a}+{b}" for i, a in enumerate(cs) for b in cs[i + 1:]]


def make_vectorizer(concepts: list[tuple[str, str]] | None = None):
    """The classifier's features: TF-IDF of character 1–4-grams, of jieba words and word pairs, and of
    concept classes and their pairs, side by side."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion([
        ("chars", TfidfVectorizer(analyzer="char", ngram_range=(1, 4), sublinear_tf=True, lowercase=False)),
        ("words", TfidfVectorizer(tokenizer=words, token_pattern=None, lowercase=False, ngram_range=(1, 2),
                                  sublinear_tf=True)),
        ("concepts", TfidfVectorizer(analyzer=ConceptAnalyzer(read_concepts() if concepts is None else concepts),
                                     lowercase=False)),
    ])
