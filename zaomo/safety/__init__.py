"""One safety policy for both ends: cleaning data (`where="data"`) and guarding a server (input/output).

`Guard.check` applies the sensitive-word list (per-category actions), PII masking and, on input, the
prompt-injection heuristics, and says what to do: allow, mask (text rewritten), or drop/block/refuse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config.safety import SafetyConfig
from .injection import find_injection
from .matcher import Finding, SensitiveMatcher
from .pii import MASKS, find_pii, mask_spans

__all__ = ["Guard", "GuardResult", "Finding", "SensitiveMatcher", "is_chinese"]

SEVERITY = {"allow": 0, "mask": 1, "drop": 2, "block": 2, "refuse": 2}


def is_chinese(text: str) -> bool:
    han = sum(1 for c in text if "\u4e00" <= c <= "\u9fff")
    return han >= max(1, len(text.strip()) // 10)


@dataclass
class GuardResult:
    allowed: bool
    action: str  # allow | mask | drop | block | refuse
    text: str  # the text to use (masked where needed)
    findings: list[Finding] = field(default_factory=list)
    reason: str = ""

    def refusal(self, cfg: SafetyConfig, prompt: str = "") -> str:
        return cfg.refusal_zh if is_chinese(prompt or self.text) else cfg.refusal_en


class Guard:
    """Build once (the automaton), then check many texts cheaply."""

    def __init__(self, cfg: SafetyConfig | None = None, root: str | Path | None = None):
        self.cfg = cfg or SafetyConfig()
        base = Path(root) if root else Path(".")
        paths = [p if Path(p).is_absolute() else base / p for p in self.cfg.wordlists]
        allow = [p if Path(p).is_absolute() else base / p for p in self.cfg.allowlists]
        self.matcher = SensitiveMatcher.from_files(paths, builtin=self.cfg.builtin_wordlist, allow_paths=allow,
                                                   builtin_allow=self.cfg.builtin_allowlist, allow=self.cfg.allow)

    def word_action(self, category: str, where: str) -> str:
        """The action for a word of `category` at `where` (data cleaning drops what serving refuses)."""
        action = self.cfg.actions.get(category, "refuse")
        if where == "data" and action in ("block", "refuse"):
            return "drop"
        if where != "data" and action == "drop":
            return "refuse"
        return action

    def check(self, text: str, where: str = "input") -> GuardResult:
        findings: list[Finding] = []
        action, reasons = "allow", []
        for f in self.matcher.find(text):
            a = self.word_action(f.category, where)
            findings.append(f)
            if SEVERITY[a] > SEVERITY[action]:
                action = a
            reasons.append(f"{f.category}: {f.match}")
        if where == "input" and self.cfg.injection_check:
            inj = find_injection(text)
            if inj:
                findings += inj
                action = "refuse" if SEVERITY["refuse"] > SEVERITY[action] else action
                reasons += [f"injection: {f.category}" for f in inj]
        pii = find_pii(text, self.cfg.pii_types)
        findings += pii
        if SEVERITY[action] >= 2:
            return GuardResult(False, action, text, findings, "; ".join(reasons))
        masked = text
        to_mask = [f for f in findings
                   if f.kind == "pii" or (f.kind == "word" and self.word_action(f.category, where) == "mask")]
        if to_mask:
            masked = mask_spans(text, to_mask, MASKS)
            action = "mask"
            reasons += [f"pii: {f.category}" for f in pii]
        return GuardResult(True, action, masked, findings, "; ".join(reasons))
