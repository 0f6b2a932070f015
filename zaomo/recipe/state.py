"""What `zaomo run` remembers between runs (runs/recipe/state.json): per stage, the fingerprint of its last
success — the config keys that decide its result and the content hashes of what it read — the hashes of what
it wrote, its summary for the report and its time. A stage whose fingerprint and outputs are unchanged is up
to date.

Content hashes are cached by (size, mtime) per file, as git's index does, so an unchanged multi-GB model or
corpus is not read again on every run; a file whose size or mtime changed is hashed anew.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..utils.hashing import file_hash
from ..utils.io import atomic_write_json

STATE_FILE = Path("runs") / "recipe" / "state.json"
LOCK_FILE = Path("runs") / "recipe" / "lock"
MISSING = "missing"


class WorkspaceBusy(ValueError):
    """Another `zaomo run` holds the workspace."""


def config_hash(config: dict[str, Any]) -> str:
    return hashlib.blake2b(json.dumps(config, sort_keys=True, default=str).encode(), digest_size=12).hexdigest()


@dataclass
class State:
    path: Path
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, list] = field(default_factory=dict)  # path → [size, mtime_ns, hash]

    @classmethod
    def load(cls, root: Path) -> State:
        path = root / STATE_FILE
        if not path.exists():
            return cls(path)
        d = json.loads(path.read_text(encoding="utf-8"))
        return cls(path, d.get("stages", {}), d.get("files", {}))

    def save(self) -> None:
        self.files = {k: v for k, v in self.files.items() if Path(k).exists()}  # forget deleted files
        atomic_write_json(self.path, {"version": 1, "stages": self.stages, "files": self.files})

    def file_digest(self, p: Path) -> str:
        st = p.stat()
        key = str(p.resolve())
        cached = self.files.get(key)
        if cached and cached[0] == st.st_size and cached[1] == st.st_mtime_ns:
            return cached[2]
        h = file_hash(p)
        self.files[key] = [st.st_size, st.st_mtime_ns, h]
        return h

    def digest(self, p: Path) -> str:
        """Content hash of a file or a folder (every file's relative name and content), or 'missing'."""
        if p.is_file():
            return self.file_digest(p)
        if not p.is_dir():
            return MISSING
        h = hashlib.blake2b(digest_size=16)
        for q in sorted(x for x in p.rglob("*") if x.is_file() and not x.name.startswith(".")):
            h.update(str(q.relative_to(p)).encode())
            h.update(self.file_digest(q).encode())
        return h.hexdigest()


@contextmanager
def workspace_lock(root: Path) -> Iterator[None]:
    """One `zaomo run` at a time in a workspace: a lock file holding the owner's pid. A lock left by a process
    that no longer exists (killed) is taken over, which is how an interrupted run resumes."""
    path = root / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                pid = int(path.read_text(encoding="utf-8").strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and _alive(pid):
                raise WorkspaceBusy(f"another `zaomo run` (pid {pid}) is running in {root}; wait for it, or remove "
                                   f"{path} if that process is not zaomo") from None
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        break
    else:
        raise WorkspaceBusy(f"could not take the lock {path}")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
