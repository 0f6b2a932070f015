"""Atomic writes and JSONL reading that reports file and line, so no bad line is silently lost."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class InputError(ValueError):
    """Bad input, with where it is and how to fix it."""

    def __init__(self, path: str | Path, line: int | None, problem: str, fix: str = ""):
        self.path, self.line, self.problem, self.fix = str(path), line, problem, fix
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}" + (f" — {fix}" if fix else ""))


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8"):
    """Write to a temp file beside `path`, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    enc = None if "b" in mode else encoding
    try:
        with open(tmp, mode, encoding=enc) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_open(path, "w") as f:
        f.write(text)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=2, default=str))


def write_jsonl(path: str | Path, records: Iterable[dict]) -> int:
    """Write records atomically as UTF-8 JSONL; returns how many."""
    n = 0
    with atomic_open(path, "w") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
            n += 1
    return n


def append_jsonl(path: str | Path, record: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")


@dataclass
class BadLine:
    path: str
    line: int
    raw: str
    reason: str


def iter_jsonl(path: str | Path, on_error: str = "raise") -> Iterator[dict | BadLine]:
    """Yield one dict per line. A bad line raises InputError naming file and line,
    or, with on_error="yield", is yielded as a BadLine for the caller to quarantine."""
    path = Path(path)
    with open(path, encoding="utf-8", errors="replace") as f:
        for i, raw in enumerate(f, 1):
            s = raw.strip()
            if not s:
                continue
            try:
                obj = json.loads(s)
                if not isinstance(obj, dict):
                    raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
            except ValueError as e:
                if on_error == "yield":
                    yield BadLine(str(path), i, raw[:10000], f"invalid JSON: {e}")
                    continue
                raise InputError(path, i, f"invalid JSON line ({e})", "fix or remove that line") from e
            yield obj


def read_jsonl(path: str | Path) -> list[dict]:
    return list(iter_jsonl(path))  # type: ignore[arg-type]
