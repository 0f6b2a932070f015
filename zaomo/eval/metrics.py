"""Text metrics that are right for Chinese: character-level F1 and ROUGE for Chinese text, word-level
for English; BLEU and chrF through sacrebleu with its 'zh' tokenizer when the text is Chinese. (Both
rouge-score's and sacrebleu's defaults give 0 for identical Chinese strings.)"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter

from ..utils.answer_text import answer_units, contains_answer

PUNCT = set(string.punctuation) | set("，。！？；：、“”‘’（）《》【】…—·")


def is_zh(text: str) -> bool:
    return bool(re.search(r"[\u4e00-\u9fff]", text))


def normalize_answer(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(c for c in text if c not in PUNCT)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def tokens(text: str) -> list[str]:
    """Characters for Chinese (and other CJK), words for the rest."""
    norm = normalize_answer(text)
    out: list[str] = []
    for piece in norm.split():
        if is_zh(piece):
            buf = ""
            for c in piece:
                if "\u4e00" <= c <= "\u9fff":
                    if buf:
                        out.append(buf)
                        buf = ""
                    out.append(c)
                else:
                    buf += c
            if buf:
                out.append(buf)
        else:
            out.append(piece)
    return out


def exact_match(pred: str, golds: list[str]) -> float:
    """The prediction is the gold answer, unit for unit (punctuation, case and articles aside)."""
    p = answer_units(pred)
    return float(bool(p) and any(p == answer_units(g) for g in golds))


def f1(pred: str, golds: list[str]) -> float:
    """Unit F1 (characters for Chinese, words, whole numbers), best over the gold answers."""
    best = 0.0
    pt = answer_units(pred)
    for g in golds:
        gt = answer_units(g)
        common = sum((Counter(pt) & Counter(gt)).values())
        if not common:
            continue
        prec, rec = common / len(pt), common / len(gt)
        best = max(best, 2 * prec * rec / (prec + rec))
    return best


def answer_recall(pred: str, golds: list[str]) -> float:
    """1 if any gold answer occurs in the prediction as whole units: a number not inside a longer number
    ("5天" is not in "15天", "3" not in "-3" or "3.5"), a word not inside a longer word ("no" is not in
    "not", "C" not in "C++")."""
    return float(any(contains_answer(pred, g) for g in golds if g.strip()))


def keypoint_recall(pred: str, keypoints: list[str]) -> float:
    """Share of the key points that occur in the prediction, on the same whole-unit terms as answer_recall."""
    if not keypoints:
        return 0.0
    return sum(contains_answer(pred, k) for k in keypoints) / len(keypoints)


def _lcs(a: list[str], b: list[str]) -> int:
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[-1]))
        prev = cur
    return prev[-1]


def rouge(pred: str, ref: str) -> dict[str, float]:
    """ROUGE-1/2/L F1 on character (Chinese) or word (English) tokens."""
    p, r = tokens(pred), tokens(ref)
    out = {}
    for n in (1, 2):
        pc = Counter(tuple(p[i:i + n]) for i in range(len(p) - n + 1))
        rc = Counter(tuple(r[i:i + n]) for i in range(len(r) - n + 1))
        common = sum((pc & rc).values())
        prec = common / max(1, sum(pc.values()))
        rec = common / max(1, sum(rc.values()))
        out[f"rouge{n}"] = 2 * prec * rec / (prec + rec) if common else 0.0
    lcs = _lcs(p, r)
    prec, rec = lcs / max(1, len(p)), lcs / max(1, len(r))
    out["rougeL"] = 2 * prec * rec / (prec + rec) if lcs else 0.0
    return out


def bleu(preds: list[str], refs: list[str]) -> float:
    import sacrebleu

    tok = "zh" if any(is_zh(r) for r in refs) else "13a"
    return float(sacrebleu.corpus_bleu(preds, [refs], tokenize=tok).score)


def chrf(preds: list[str], refs: list[str]) -> float:
    import sacrebleu

    return float(sacrebleu.corpus_chrf(preds, [refs]).score)
