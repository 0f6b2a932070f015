"""Multiple-choice sets: zaomo JSONL, or the CSV layouts of C-Eval (id,question,A,B,C,D,answer[,explanation]),
CMMLU (,Question,A,B,C,D,Answer) and MMLU (no header: question,A,B,C,D,answer) — one file, or a folder of
them with the subject taken from each file name (`computer_network_val.csv` → computer_network). Files named
`*_dev.csv` hold few-shot examples, never scored."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from ..utils.io import InputError
from .choice_template import LETTERS, answer_index

SPLIT_SUFFIX = re.compile(r"_(dev|val|test)$")


def _subject(path: Path) -> str:
    return SPLIT_SUFFIX.sub("", path.stem)


def read_csv_items(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return []
    head = [h.strip().lower() for h in rows[0]]
    if "question" in head and "answer" in head:  # C-Eval / CMMLU
        q, a = head.index("question"), head.index("answer")
        opts = [head.index(x) for x in ("a", "b", "c", "d") if x in head]
        body, line0 = rows[1:], 2
    else:  # MMLU: question, options..., answer
        q, a, opts, body, line0 = 0, len(rows[0]) - 1, list(range(1, len(rows[0]) - 1)), rows, 1
    items = []
    for i, r in enumerate(body):
        if not any(x.strip() for x in r):
            continue
        if len(r) <= max(q, a, *opts):
            raise InputError(path, line0 + i, f"row has {len(r)} columns, expected {max(q, a, *opts) + 1}",
                             "each row needs the question, every option and the answer letter")
        idx = answer_index(r[a], len(opts))
        if idx is None:
            raise InputError(path, line0 + i, f"answer {r[a]!r} is not exactly one of the option letters "
                             f"{', '.join(LETTERS[:len(opts)])}", "the answer column holds one letter, e.g. B")
        items.append({"id": f"{path.stem}-{i}", "question": r[q], "choices": [r[j] for j in opts],
                      "answer": LETTERS[idx], "subject": _subject(path)})
    return items


def read_jsonl_items(path: Path) -> list[dict]:
    """zaomo JSONL items ({"id", "question", "choices", "answer", "subject"?}), each checked where it is read:
    a bad line names the file, line and item id, and says how to fix it."""
    items = []
    for line_no, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        try:
            x = json.loads(raw)
        except ValueError as e:
            raise InputError(path, line_no, f"invalid JSON ({e})", "fix or remove that line") from e
        choices = x.get("choices") if isinstance(x, dict) else None
        if not isinstance(choices, list) or len(choices) < 2 or len(choices) > len(LETTERS) or "question" not in x:
            raise InputError(path, line_no, "a multiple-choice item needs a question and 2 to 10 choices",
                             'e.g. {"id": "m1", "question": "…", "choices": ["…", "…"], "answer": "B"}')
        idx = answer_index(x.get("answer"), len(choices))
        if idx is None:
            raise InputError(path, line_no, f"item {x.get('id')!r}: answer {x.get('answer')!r} is not exactly one "
                             f"of the option letters {', '.join(LETTERS[:len(choices)])}",
                             "give one letter (\"B\") or a 0-based index (1); an item has one right answer")
        items.append(dict(x, answer=LETTERS[idx], subject=x.get("subject", "all")))
    return items


def load_choice_sets(path: Path) -> tuple[list[dict], dict[str, list[dict]]]:
    """(items to score, few-shot examples by subject from *_dev files)."""
    files = sorted(path.rglob("*")) if path.is_dir() else [path]
    items: list[dict] = []
    dev: dict[str, list[dict]] = {}
    for f in files:
        if f.suffix == ".csv":
            got = read_csv_items(f)
        elif f.suffix == ".jsonl":
            got = read_jsonl_items(f)
        else:
            continue
        if f.stem.endswith("_dev"):
            for x in got:
                dev.setdefault(x["subject"], []).append(x)
        else:
            items += got
    return items, dev
