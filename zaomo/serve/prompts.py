"""The prompt a running server applies, looked up per request so that `zaomo prompts promote` or `rollback`
takes effect on the next request without a restart or a reload call.

Each lookup costs one aggregate query (`Registry.promoted_prompts_stamp`: count, id sum and newest promotion
time of the promoted rows); only when that fingerprint changes are the promoted rows read again. A pinned
NAME:VERSION is read once (versions are immutable). The cache lives on the Gateway, one per app.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model.prompting import parse_ref
from ..records import PromptVersion, Registry


@dataclass(frozen=True)
class ServedPrompt:
    name: str
    version: int
    model: str | None
    text: str | None
    template: str | None
    promoted_at: Any = None

    @classmethod
    def of(cls, pv: PromptVersion) -> ServedPrompt:
        return cls(pv.name, pv.version, pv.model, pv.text, pv.template, pv.promoted_at)


class PromptCache:
    """`serve.prompt` resolved per request: auto | none | NAME | NAME:VERSION (see config.serve)."""

    def __init__(self, reg: Registry, setting: str):
        self.reg, self.setting = reg, setting.strip()
        self.name: str | None = None
        self.pinned: ServedPrompt | None = None
        self.snapshot: tuple[Any, tuple[ServedPrompt, ...]] = (None, ())  # (stamp, promoted rows), swapped whole
        if self.setting in ("auto", "none"):
            return
        name, version = parse_ref(self.setting)
        known = reg.prompts(name)
        if not known:
            raise ValueError(f"serve.prompt={self.setting!r}: no prompt named {name!r}; add it with `zaomo prompts "
                             "add`, or set serve.prompt=auto or none")
        self.name = name
        if version is not None:
            pv = reg.get_prompt(name, version)
            if pv is None:
                raise ValueError(f"serve.prompt={self.setting!r}: {name} has versions "
                                 f"{', '.join(str(p.version) for p in known)}")
            self.pinned = ServedPrompt.of(pv)

    def promoted(self) -> tuple[ServedPrompt, ...]:
        stamp = self.reg.promoted_prompts_stamp()
        if stamp != self.snapshot[0]:
            rows = tuple(ServedPrompt.of(p) for p in self.reg.prompts(status="promoted"))
            self.snapshot = (stamp, rows)
        return self.snapshot[1]

    def for_model(self, model: str) -> ServedPrompt | None:
        """The prompt a request to `model` runs under, or None."""
        if self.setting == "none":
            return None
        if self.pinned is not None:
            return self.pinned
        rows = self.promoted()
        if self.name is not None:
            return next((p for p in rows if p.name == self.name), None)
        for pool in ([p for p in rows if p.model == model], [p for p in rows if p.model is None]):
            if pool:
                return max(pool, key=lambda p: (p.promoted_at is not None, p.promoted_at or 0, p.name))
        return None
