"""Rule-based rewards for GRPO: tasks whose answers can be checked need no reward model. Exact and contained
answers are judged on the same normalised units as the QA metrics (a number is not inside a longer number,
"5天" is not "15天"); a format reward is a regular expression; anything else is a user's Python function."""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config.train import RewardSpec
from ..utils.answer_text import answer_units, contains_answer

RewardFn = Callable[[str, dict], float]


def _golds(record: dict) -> list[str]:
    ans = record.get("answer", record.get("answers"))
    if ans is None:
        raise ValueError(f"GRPO record {record.get('id', '')!r} has no 'answer' for an exact/contains reward")
    return [str(a) for a in ans] if isinstance(ans, list) else [str(ans)]


def _exact(completion: str, record: dict) -> float:
    units = answer_units(completion)
    return float(bool(units) and any(units == answer_units(g) for g in _golds(record)))


def _contains(completion: str, record: dict) -> float:
    return float(any(contains_answer(completion, g) for g in _golds(record) if g.strip()))


def load_function(spec: str, root: Path) -> RewardFn:
    """'file.py:name' (relative to the workspace) or 'package.module:name'."""
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name:
        raise ValueError(f"train.grpo.rewards function {spec!r}: expected 'path/to/file.py:name' or 'module:name'")
    if where.endswith(".py"):
        path = Path(where) if Path(where).is_absolute() else root / where
        if not path.exists():
            raise FileNotFoundError(f"reward function file {path} not found (train.grpo.rewards)")
        module_spec = importlib.util.spec_from_file_location(f"zaomo_reward_{path.stem}", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    fn = getattr(module, name, None)
    if not callable(fn):
        raise ValueError(f"reward function {spec!r}: {name!r} is not a function in {where}")
    return fn


def build_reward(specs: list[RewardSpec], root: Path) -> Callable[[list[str], list[dict]], list[float]]:
    """One function scoring a batch of completions (each with its record) as the weighted sum of `specs`."""
    parts: list[tuple[float, RewardFn]] = []
    for s in specs:
        if s.kind == "exact":
            fn: RewardFn = _exact
        elif s.kind == "contains":
            fn = _contains
        elif s.kind == "format":
            if not s.pattern:
                raise ValueError("train.grpo.rewards: a format reward needs `pattern` (a regular expression)")
            rx = re.compile(s.pattern, re.S)
            fn = lambda c, r, rx=rx: float(bool(rx.search(c)))  # noqa: E731
        else:
            if not s.function:
                raise ValueError("train.grpo.rewards: a python reward needs `function` ('file.py:name')")
            fn = load_function(s.function, root)
        parts.append((s.weight, fn))

    def score(completions: list[str], records: list[dict[str, Any]]) -> list[float]:
        return [sum(w * float(fn(c, r)) for w, fn in parts) for c, r in zip(completions, records)]
    return score
