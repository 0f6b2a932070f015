"""The built-in safety set: labelled zh/en prompts that the policy is measured and the classifier trained on.

It lives with the policy, not with the demo: the guard trains on it, eval scores models and the system on it,
and the demo draws refusal examples from it. Two files under safety/data: `adversarial.jsonl` (harmful requests
per category, many phrased without any listed word) and `benign.jsonl` (ordinary requests, and near misses
that share a harmful category's vocabulary: killing a process, kitchen knives, a bomb shelter, spotting a
phishing mail). Every item carries a fixed `split` — the classifier trains on `train` only, so what eval and
the benchmark report on `test` are prompts it never saw.

Item: {"id", "prompt", "category", "lang": "zh"|"en", "expected": "refuse"|"answer", "split": "train"|"test"};
a benign item's category is the harmful category it resembles, or "general".
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from ..utils.io import InputError

CATEGORIES = ("violence", "illegal", "porn", "self_harm", "privacy", "hate", "politics", "injection")
CATEGORY_DESCRIPTIONS = {
    "violence": "violence and weapons: hurting or killing people or animals, explosives, firearms, arson, "
                "kidnapping, terror attacks",
    "illegal": "illegal acts: drugs, fraud and scams, hacking and malware, theft, counterfeiting, money "
               "laundering, tax evasion, smuggling",
    "porn": "sexual content: explicit sexual material, sexual services, voyeurism, any sexual content "
            "involving minors",
    "self_harm": "suicide and self-harm: methods, encouragement, eating-disorder promotion",
    "privacy": "privacy violations: doxxing, stalking, tracking, spying on devices, obtaining others' "
               "identity numbers or records",
    "hate": "hate and harassment: demeaning people for who they are, slurs, organised abuse",
    "politics": "political disinformation and incitement: fabricated news or official notices, election "
                "manipulation, calls to riot, extremist propaganda",
    "injection": "prompt injection and jailbreaks: overriding the assistant's rules, extracting its hidden "
                 "instructions",
}
SAFE = "safe"
EXPECTED = ("refuse", "answer")
SPLITS = ("train", "test")


def _builtin(name: str) -> list[dict]:
    text = resources.files("zaomo.safety").joinpath(f"data/{name}.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def load_policy_set(split: str | None = None, expected: str | None = None) -> list[dict]:
    """The built-in items (adversarial first, then benign), optionally only one split and/or one expectation."""
    if split not in (None, *SPLITS):
        raise ValueError(f"split must be one of {SPLITS} or None; got {split!r}")
    items = _builtin("adversarial") + _builtin("benign")
    return [it for it in items if (split is None or it["split"] == split)
            and (expected is None or it["expected"] == expected)]


def label_of(item: dict) -> str:
    """What the classifier learns for an item: its category when it should be refused, else 'safe'."""
    return item["category"] if item["expected"] == "refuse" else SAFE


def detect_lang(text: str) -> str:
    """zh when a tenth of the characters are Han (as the refusal's language is picked), else en."""
    from . import is_chinese

    return "zh" if is_chinese(text) else "en"


def read_labelled(path: str | Path, require_category: bool = True) -> list[dict]:
    """A user's labelled prompts, checked line by line: {prompt, expected: refuse|answer, category (needed when
    refused, unless not `require_category`: then 'unknown'), lang?, split?, id?}. Missing lang is detected;
    missing split is 'train'."""
    out = []
    for i, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as e:
            raise InputError(path, i, f"invalid JSON ({e.msg})", "fix or remove that line") from None
        if not isinstance(row, dict):
            raise InputError(path, i, "not a JSON object", "one object per line")
        prompt = row.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise InputError(path, i, "no 'prompt' string", "each line needs the prompt text")
        exp = row.get("expected")
        if exp not in EXPECTED:
            raise InputError(path, i, f"'expected' is {exp!r}", "use 'refuse' (harmful) or 'answer' (benign)")
        cat = row.get("category") or ("general" if exp == "answer" else None if require_category else "unknown")
        if not isinstance(cat, str) or cat == SAFE:
            raise InputError(path, i, "a prompt to refuse needs a 'category'",
                             f"one of {', '.join(CATEGORIES)} or your own category name")
        split = row.get("split", "train")
        if split not in SPLITS:
            raise InputError(path, i, f"'split' is {split!r}", "use 'train' or 'test' (or leave it out)")
        out.append({"id": str(row.get("id", f"{Path(path).stem}-{i}")), "prompt": prompt, "category": cat,
                    "lang": row.get("lang") or detect_lang(prompt), "expected": exp, "split": split})
    return out
